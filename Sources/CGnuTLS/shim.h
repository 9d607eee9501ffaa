// SPDX-License-Identifier: Apache-2.0
#ifndef CGNUTLS_SHIM_H
#define CGNUTLS_SHIM_H

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
// Public keys (SubjectPublicKeyInfo export) and one-shot digests, for DANE (MailDomain).
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>

/// `gnutls_free` is a global function-pointer variable behind a macro; Swift 6 rejects global C
/// variables as not concurrency-safe, so it is wrapped once here.
static inline void cgnutls_free(void *ptr) {
    gnutls_free(ptr);
}

/// The platform's `EAGAIN`, which a custom pull function reports (through
/// `gnutls_transport_set_errno`) when no ciphertext is buffered yet. Wrapped here so the Swift
/// module needs no Glibc/Darwin import just for one errno constant.
static inline int cgnutls_eagain(void) {
    return EAGAIN;
}

#endif
