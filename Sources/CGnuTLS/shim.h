// SPDX-License-Identifier: Apache-2.0
#ifndef CGNUTLS_SHIM_H
#define CGNUTLS_SHIM_H

// inet_pton, for the IP-address entries CertificateIssuer writes into a certificate.
#include <arpa/inet.h>
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

/// The network-order bytes of an IPv4 or IPv6 address literal (`inet_pton`), as an
/// X.509 IP-address name holds them: returns 4 or 16, the number of bytes written to `out`, or 0
/// when `text` is neither kind of literal.
static inline int cgnutls_ip_address(const char *text, unsigned char out[16]) {
    if (inet_pton(AF_INET, text, out) == 1) {
        return 4;
    }
    if (inet_pton(AF_INET6, text, out) == 1) {
        return 16;
    }
    return 0;
}

/// `GNUTLS_CURVE_TO_BITS`, a function-like macro Swift does not import: the `bits` argument of
/// `gnutls_x509_privkey_generate2` that asks for a key on one named curve.
static inline unsigned int cgnutls_curve_to_bits(gnutls_ecc_curve_t curve) {
    return GNUTLS_CURVE_TO_BITS(curve);
}

#endif
