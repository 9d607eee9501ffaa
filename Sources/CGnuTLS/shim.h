// SPDX-License-Identifier: Apache-2.0
#ifndef CGNUTLS_SHIM_H
#define CGNUTLS_SHIM_H

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/// `gnutls_free` is a global function-pointer variable behind a macro; Swift 6 rejects global C
/// variables as not concurrency-safe, so it is wrapped once here.
static inline void cgnutls_free(void *ptr) {
    gnutls_free(ptr);
}

#endif
