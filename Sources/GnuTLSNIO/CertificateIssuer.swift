// SPDX-License-Identifier: Apache-2.0

internal import CGnuTLS

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// A CA that issues server certificates at run time: a recording proxy presents to its client a
/// certificate for the upstream server's name, signed by a CA the client is made to trust.
///
/// The CA is kept as its PEM text and parsed again for each certificate, so that the value holds
/// no GnuTLS object and can be shared freely.
public struct CertificateIssuer: Sendable {
    /// The CA's certificate, followed by any chain that came with it.
    private let certificate: TLSConfiguration.PEMText
    /// The CA's private key.
    private let key: TLSConfiguration.PEMText
    /// The CA's distinguished name in RFC 4514 form, for messages ("CN=Parley Test CA,O=Parley").
    public let subject: String
    /// The start of the CA's validity.
    private let notBefore: Date
    /// The end of the CA's validity, which no issued certificate outlives.
    private let notAfter: Date

    /// A CA from its certificate and private key.
    ///
    /// When `certificate` holds several certificates, the first is the CA that signs and the
    /// others are its chain, which issued credentials carry after it.
    ///
    /// - Parameters:
    ///   - certificate: The CA's certificate in PEM (the name says what it is, for messages).
    ///   - key: The CA's private key in PEM (PKCS#8 or the algorithm's own form, unencrypted).
    /// - Throws: ``GnuTLSError`` of kind `.configuration`, naming the text at fault, when either
    ///   text does not parse, the key does not belong to the certificate, or the certificate is
    ///   not a CA (no basicConstraints CA:TRUE, or a keyUsage without keyCertSign).
    public init(certificate: TLSConfiguration.PEMText, key: TLSConfiguration.PEMText) throws {
        let authority = try Authority(certificate: certificate, key: key)
        let info = X509Certificate(borrowing: authority.certificate).info()
        self.certificate = certificate
        self.key = key
        self.subject = info.subject
        self.notBefore = info.notBefore
        self.notAfter = info.notAfter
    }

    /// A fresh server certificate and key for `names`, signed by this CA.
    ///
    /// The certificate is X.509 v3 with an ECDSA P-256 key generated here, the first name as its
    /// CN and every name in its subjectAltName (an IPv4 or IPv6 literal as an IP address, any
    /// other name as a DNS name); keyUsage digitalSignature, extendedKeyUsage serverAuth,
    /// basicConstraints CA:FALSE, a subject key identifier, the CA's key identifier as authority
    /// key identifier, a random positive 16-byte serial number, and an ECDSA or RSA signature
    /// with SHA-256 (after the CA's key). It is valid from an hour before `now` (not before the
    /// CA is) for `validity`, and never past the CA's own end.
    ///
    /// - Parameters:
    ///   - names: DNS names and IP address literals, the first also the subject's CN.
    ///   - validity: How long the certificate is valid from `now`.
    ///   - now: The time the validity counts from.
    /// - Returns: The chain (the new certificate, then the CA's certificate and any chain given
    ///   with it) and the new certificate's private key in PKCS#8 PEM.
    /// - Throws: ``GnuTLSError`` of kind `.configuration` when `names` is empty, a name is empty
    ///   or has a byte outside printable ASCII, `validity` is not positive, the CA is not valid at
    ///   `now`, or GnuTLS fails to make the certificate.
    public func issue(
        names: [String],
        validity: Duration = .seconds(7 * 24 * 3600),
        now: Date = Date()
    ) throws -> TLSConfiguration.PEMCredential {
        let names = try Self.checked(names)
        guard validity > .zero else {
            throw Self.error("a certificate's validity must be positive, not \(validity)")
        }
        guard self.notBefore <= now, now < self.notAfter else {
            throw Self.error(
                "the CA \(self.subject) (\(self.certificate.name)) is not valid at \(now): "
                    + "it is valid from \(self.notBefore) until \(self.notAfter)"
            )
        }
        let components = validity.components
        let seconds = TimeInterval(components.seconds) + TimeInterval(components.attoseconds) / 1e18
        let start = max(now.addingTimeInterval(-3600), self.notBefore)
        let end = min(now.addingTimeInterval(seconds), self.notAfter)

        let authority = try Authority(certificate: self.certificate, key: self.key)
        let leafKey = try PrivateKey.generateP256()
        let leaf = try Self.newCertificate()
        defer { gnutls_x509_crt_deinit(leaf) }

        let what = "issuing a certificate for \(names[0])"
        func check(_ rc: Int32, _ step: String) throws {
            if rc < 0 { throw GnuTLSError.gnutls(.configuration, code: rc, context: "\(what): \(step)") }
        }
        try check(gnutls_x509_crt_set_version(leaf, 3), "setting the version")
        var serial = [UInt8](repeating: 0, count: 16)
        try check(gnutls_rnd(GNUTLS_RND_NONCE, &serial, serial.count), "drawing the serial number")
        // Positive (top bit clear) and exactly 16 bytes in DER (second bit set, no leading zero).
        serial[0] = (serial[0] & 0x7f) | 0x40
        try check(gnutls_x509_crt_set_serial(leaf, serial, serial.count), "setting the serial number")
        try check(gnutls_x509_crt_set_activation_time(leaf, .init(start.timeIntervalSince1970.rounded(.down))), "setting notBefore")
        try check(gnutls_x509_crt_set_expiration_time(leaf, .init(end.timeIntervalSince1970.rounded(.down))), "setting notAfter")
        let commonName = Array(names[0].utf8)
        try check(
            gnutls_x509_crt_set_dn_by_oid(leaf, GNUTLS_OID_X520_COMMON_NAME, 0, commonName, UInt32(commonName.count)),
            "setting the subject"
        )
        for name in names {
            let (type, value) = Self.alternativeName(name)
            try check(
                gnutls_x509_crt_set_subject_alt_name(leaf, type, value, UInt32(value.count), UInt32(GNUTLS_FSAN_APPEND)),
                "adding the name \(name)"
            )
        }
        try check(gnutls_x509_crt_set_key(leaf, leafKey.raw), "setting the public key")
        try check(gnutls_x509_crt_set_key_usage(leaf, UInt32(GNUTLS_KEY_DIGITAL_SIGNATURE)), "setting keyUsage")
        try check(gnutls_x509_crt_set_key_purpose_oid(leaf, GNUTLS_KP_TLS_WWW_SERVER, 0), "setting extendedKeyUsage")
        try check(gnutls_x509_crt_set_basic_constraints(leaf, 0, -1), "setting basicConstraints")
        let subjectKeyID = try leafKey.keyID()
        try check(gnutls_x509_crt_set_subject_key_id(leaf, subjectKeyID, subjectKeyID.count), "setting the subject key id")
        let authorityKeyID = try authority.keyID()
        try check(
            gnutls_x509_crt_set_authority_key_id(leaf, authorityKeyID, authorityKeyID.count),
            "setting the authority key id"
        )
        try check(
            gnutls_x509_crt_sign2(leaf, authority.certificate, authority.key.raw, GNUTLS_DIG_SHA256, 0),
            "signing with the key of \(self.subject)"
        )

        var chain = try Self.pem(of: leaf, what)
        for certificate in authority.chain {
            chain += try Self.pem(of: certificate, what)
        }
        return TLSConfiguration.PEMCredential(
            chain: .init(chain, name: "the certificate issued for \(names[0])"),
            key: .init(try leafKey.pkcs8PEM(what), name: "the key issued for \(names[0])")
        )
    }
}

// MARK: - Pieces

extension CertificateIssuer {
    /// The names, checked: at least one, none empty, every byte printable ASCII other than space.
    private static func checked(_ names: [String]) throws -> [String] {
        guard !names.isEmpty else {
            throw Self.error("a certificate needs at least one name (a DNS name or an IP address), and none was given")
        }
        for name in names {
            guard !name.isEmpty else {
                throw Self.error("a certificate's names must not be empty (names: \(names))")
            }
            guard name.utf8.allSatisfy({ (0x21...0x7e).contains($0) }) else {
                throw Self.error(
                    "the name \(name.debugDescription) has a byte outside printable ASCII (or a space); "
                        + "a certificate name must be a DNS name in ASCII (A-labels) or an IP address"
                )
            }
        }
        return names
    }

    /// The subjectAltName entry for a name: an IP address (its network-order bytes) for an IPv4 or
    /// IPv6 literal, otherwise a DNS name.
    private static func alternativeName(_ name: String) -> (gnutls_x509_subject_alt_name_t, [UInt8]) {
        var address = [UInt8](repeating: 0, count: 16)
        let count = name.withCString { cgnutls_ip_address($0, &address) }
        if count > 0 {
            return (GNUTLS_SAN_IPADDRESS, Array(address.prefix(Int(count))))
        }
        return (GNUTLS_SAN_DNSNAME, Array(name.utf8))
    }

    /// An empty `gnutls_x509_crt_t`; the caller frees it.
    private static func newCertificate() throws -> OpaquePointer {
        var certificate: OpaquePointer?
        let rc = gnutls_x509_crt_init(&certificate)
        guard rc == GNUTLS_E_SUCCESS, let certificate else {
            throw GnuTLSError.gnutls(.configuration, code: rc, context: "allocating a certificate")
        }
        return certificate
    }

    /// A certificate in PEM.
    private static func pem(of certificate: OpaquePointer, _ what: String) throws -> String {
        var datum = gnutls_datum_t()
        let rc = gnutls_x509_crt_export2(certificate, GNUTLS_X509_FMT_PEM, &datum)
        guard rc == GNUTLS_E_SUCCESS else {
            throw GnuTLSError.gnutls(.configuration, code: rc, context: "\(what): exporting a certificate")
        }
        defer { cgnutls_free(datum.data) }
        return GnuTLSSession.string(datum)
    }

    /// A configuration error with no GnuTLS code.
    private static func error(_ message: String) -> GnuTLSError {
        GnuTLSError(kind: .configuration, message: message)
    }
}

/// A `gnutls_x509_privkey_t`, freed on deinit.
private final class PrivateKey {
    /// `gnutls_x509_privkey_t`.
    let raw: OpaquePointer

    private init(_ raw: OpaquePointer) {
        self.raw = raw
    }

    deinit {
        gnutls_x509_privkey_deinit(self.raw)
    }

    /// An empty key.
    private static func allocate() throws -> PrivateKey {
        var key: OpaquePointer?
        let rc = gnutls_x509_privkey_init(&key)
        guard rc == GNUTLS_E_SUCCESS, let key else {
            throw GnuTLSError.gnutls(.configuration, code: rc, context: "allocating a private key")
        }
        return PrivateKey(key)
    }

    /// A new ECDSA key on P-256.
    static func generateP256() throws -> PrivateKey {
        let key = try allocate()
        let bits = cgnutls_curve_to_bits(GNUTLS_ECC_CURVE_SECP256R1)
        let rc = gnutls_x509_privkey_generate2(key.raw, GNUTLS_PK_ECDSA, bits, 0, nil, 0)
        guard rc == GNUTLS_E_SUCCESS else {
            throw GnuTLSError.gnutls(.configuration, code: rc, context: "generating an ECDSA P-256 key")
        }
        return key
    }

    /// A key parsed from unencrypted PEM.
    static func parse(_ pem: TLSConfiguration.PEMText) throws -> PrivateKey {
        let key = try allocate()
        let rc = GnuTLSContext.withDatum(pem.text) {
            gnutls_x509_privkey_import2(key.raw, $0, GNUTLS_X509_FMT_PEM, nil, 0)
        }
        guard rc == GNUTLS_E_SUCCESS else {
            throw GnuTLSError.gnutls(.configuration, code: rc, context: "\(pem.name) is not an unencrypted PEM private key")
        }
        return key
    }

    /// The key identifier of the public half.
    func keyID() throws -> [UInt8] {
        guard
            let id = X509Certificate.read({
                gnutls_x509_privkey_get_key_id(self.raw, GNUTLS_KEYID_USE_SHA1.rawValue, $0.assumingMemoryBound(to: UInt8.self), $1)
            })
        else {
            throw GnuTLSError(kind: .configuration, message: "computing a key identifier failed")
        }
        return id
    }

    /// The key in unencrypted PKCS#8 PEM.
    func pkcs8PEM(_ what: String) throws -> String {
        var datum = gnutls_datum_t()
        let rc = gnutls_x509_privkey_export2_pkcs8(self.raw, GNUTLS_X509_FMT_PEM, nil, GNUTLS_PKCS_PLAIN.rawValue, &datum)
        guard rc == GNUTLS_E_SUCCESS else {
            throw GnuTLSError.gnutls(.configuration, code: rc, context: "\(what): exporting the key")
        }
        defer {
            gnutls_memset(datum.data, 0, Int(datum.size))
            cgnutls_free(datum.data)
        }
        return GnuTLSSession.string(datum)
    }
}

/// The CA parsed and checked: its certificate (and chain) and key, freed on deinit.
private final class Authority {
    /// The certificates as given, the CA first; owned.
    let chain: [OpaquePointer]
    /// The CA's key.
    let key: PrivateKey
    /// The CA's certificate.
    var certificate: OpaquePointer { self.chain[0] }

    init(certificate pem: TLSConfiguration.PEMText, key keyPEM: TLSConfiguration.PEMText) throws {
        var list: UnsafeMutablePointer<OpaquePointer?>?
        var count: UInt32 = 0
        let rc = GnuTLSContext.withDatum(pem.text) {
            gnutls_x509_crt_list_import2(&list, &count, $0, GNUTLS_X509_FMT_PEM, 0)
        }
        guard rc == GNUTLS_E_SUCCESS, let list else {
            throw GnuTLSError.gnutls(.configuration, code: rc, context: "\(pem.name) is not a PEM certificate")
        }
        let chain = (0..<Int(count)).compactMap { list[$0] }
        cgnutls_free(list)
        // Every certificate is freed by deinit from here on, or below when init throws before it
        // is complete (deinit does not run then).
        guard !chain.isEmpty else {
            throw GnuTLSError(kind: .configuration, message: "\(pem.name) holds no certificate")
        }
        do {
            self.key = try PrivateKey.parse(keyPEM)
            try Self.checkIsCA(chain[0], pem)
            try Self.checkKey(self.key, belongsTo: chain[0], pem, keyPEM)
        } catch {
            for certificate in chain { gnutls_x509_crt_deinit(certificate) }
            throw error
        }
        self.chain = chain
    }

    deinit {
        for certificate in self.chain { gnutls_x509_crt_deinit(certificate) }
    }

    /// The CA's key identifier: its subject key identifier, or else its public key's identifier.
    func keyID() throws -> [UInt8] {
        if let id = X509Certificate.read({ gnutls_x509_crt_get_subject_key_id(self.certificate, $0, $1, nil) }) {
            return id
        }
        return try self.key.keyID()
    }

    /// Throws unless the certificate says it is a CA that may sign certificates.
    private static func checkIsCA(_ certificate: OpaquePointer, _ pem: TLSConfiguration.PEMText) throws {
        var critical: UInt32 = 0
        var isCA: UInt32 = 0
        var pathLength: Int32 = 0
        let rc = gnutls_x509_crt_get_basic_constraints(certificate, &critical, &isCA, &pathLength)
        guard rc >= 0, isCA != 0 else {
            throw GnuTLSError(
                kind: .configuration,
                message: "\(pem.name) is not a CA certificate (it has no basicConstraints CA:TRUE), so it cannot issue certificates"
            )
        }
        var usage: UInt32 = 0
        if gnutls_x509_crt_get_key_usage(certificate, &usage, &critical) >= 0,
            usage & UInt32(GNUTLS_KEY_KEY_CERT_SIGN) == 0
        {
            throw GnuTLSError(
                kind: .configuration,
                message: "\(pem.name) may not sign certificates (its keyUsage lacks keyCertSign)"
            )
        }
    }

    /// Throws unless `key` is the private half of the certificate's public key.
    private static func checkKey(
        _ key: PrivateKey,
        belongsTo certificate: OpaquePointer,
        _ pem: TLSConfiguration.PEMText,
        _ keyPEM: TLSConfiguration.PEMText
    ) throws {
        let flags = GNUTLS_KEYID_USE_SHA256.rawValue
        let certificateID = X509Certificate.read {
            gnutls_x509_crt_get_key_id(certificate, flags, $0.assumingMemoryBound(to: UInt8.self), $1)
        }
        let keyID = X509Certificate.read {
            gnutls_x509_privkey_get_key_id(key.raw, flags, $0.assumingMemoryBound(to: UInt8.self), $1)
        }
        guard let certificateID, let keyID, certificateID == keyID else {
            throw GnuTLSError(
                kind: .configuration,
                message: "the key \(keyPEM.name) does not belong to the certificate \(pem.name)"
            )
        }
    }
}
