// SPDX-License-Identifier: Apache-2.0

internal import CGnuTLS
internal import NIOCore

#if canImport(FoundationEssentials)
    internal import FoundationEssentials
#else
    internal import Foundation
#endif

// MARK: - Session facts

extension GnuTLSSession {
    /// Reads the negotiated parameters, the peer's chain and its verification result.
    ///
    /// When GnuTLS verified the peer inside the handshake, its result stands (a finished
    /// handshake means it passed); otherwise verification is run here
    /// (`gnutls_certificate_verify_peers3`), so that a session accepted with verification off
    /// still reports what is wrong with the peer's certificate.
    func sessionInfo() -> TLSSessionInfo {
        let session = self.rawSession
        let isClient = self.context.configuration.role == .client

        let version = gnutls_protocol_get_name(gnutls_protocol_get_version(session)).map { String(cString: $0) }
        let suite: String
        if let name = gnutls_ciphersuite_get(session) {
            suite = String(cString: name)
        } else if let description = gnutls_session_get_desc(session) {
            suite = String(cString: description)
            cgnutls_free(description)
        } else {
            suite = "unknown"
        }
        let group = gnutls_group_get(session)
        let groupName = group.rawValue == 0 ? nil : gnutls_group_get_name(group).map { String(cString: $0) }

        var alpnDatum = gnutls_datum_t()
        var alpn: String?
        if gnutls_alpn_get_selected_protocol(session, &alpnDatum) == GNUTLS_E_SUCCESS {
            alpn = Self.string(alpnDatum)
        }

        let certificates = self.peerCertificates()
        let (verified, problems) = self.verifyPeer(hasCertificates: !certificates.isEmpty)

        let requested: Bool
        let sent: Bool
        if isClient {
            requested = gnutls_certificate_client_get_request_status(session) != 0
            sent = gnutls_certificate_get_ours(session) != nil
        } else {
            requested = self.context.configuration.clientCertificateMode != .none
            sent = !certificates.isEmpty
        }

        var info = TLSSessionInfo(
            protocolVersion: version ?? "unknown",
            cipherSuite: suite,
            keyExchangeGroup: groupName,
            alpn: alpn,
            serverName: isClient ? self.sniHostname : self.receivedServerName(),
            peerCertificates: certificates,
            verified: verified,
            verificationProblems: problems,
            clientCertificateRequested: requested,
            clientCertificateSent: sent,
            resumed: gnutls_session_is_resumed(session) != 0
        )
        info.isServer = !isClient
        if !isClient { info.clientHello = clientHelloBody.flatMap(ClientHello.parse) }
        return info
    }

    /// The SNI name a client sent to this server, if any.
    private func receivedServerName() -> String? {
        var buffer = [UInt8](repeating: 0, count: 256)
        var size = buffer.count
        var type: UInt32 = 0
        let rc = gnutls_server_name_get(self.rawSession, &buffer, &size, &type, 0)
        guard rc == GNUTLS_E_SUCCESS, type == GNUTLS_NAME_DNS.rawValue else { return nil }
        // `size` excludes the terminating NUL GnuTLS writes.
        return String(decoding: buffer.prefix(size), as: UTF8.self)
    }

    /// Verifies the peer's chain (and, for a client, the host name).
    ///
    /// - Parameter hasCertificates: Whether the peer sent any certificate.
    /// - Returns: Whether it verified, and the problems found.
    private func verifyPeer(hasCertificates: Bool) -> (Bool, [String]) {
        guard hasCertificates else {
            // A server whose client sent nothing has nothing to complain about unless it asked.
            if self.context.configuration.role == .server {
                return (false, self.context.configuration.clientCertificateMode == .none ? [] : ["no certificate"])
            }
            return (false, ["no certificate"])
        }
        if self.verifiesInHandshake, gnutls_session_get_verify_cert_status(self.rawSession) == 0 {
            // Verified with the same trust list and host name during the handshake; running the
            // chain check again would cost as much as the handshake's own signature checks.
            return (true, [])
        }
        var status: UInt32 = 0
        let rc: Int32
        if let hostname = self.serverHostname {
            rc = hostname.withCString { gnutls_certificate_verify_peers3(self.rawSession, $0, &status) }
        } else {
            rc = gnutls_certificate_verify_peers3(self.rawSession, nil, &status)
        }
        if rc < 0 {
            return (false, [GnuTLSError.errorText(rc)])
        }
        return (status == 0, self.problems(forStatus: status))
    }

    /// Turns `GNUTLS_CERT_*` status bits into short phrases.
    ///
    /// Adds "self-signed" when the issuer was not found and the leaf names itself as its issuer,
    /// which GnuTLS reports only as "signer not found".
    func problems(forStatus status: UInt32) -> [String] {
        let table: [(gnutls_certificate_status_t, String)] = [
            (GNUTLS_CERT_REVOKED, "revoked"),
            (GNUTLS_CERT_SIGNER_NOT_FOUND, "signer not found"),
            (GNUTLS_CERT_SIGNER_NOT_CA, "signer not a CA"),
            (GNUTLS_CERT_INSECURE_ALGORITHM, "insecure algorithm"),
            (GNUTLS_CERT_NOT_ACTIVATED, "not activated"),
            (GNUTLS_CERT_EXPIRED, "expired"),
            (GNUTLS_CERT_SIGNATURE_FAILURE, "signature failure"),
            (GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED, "revocation data superseded"),
            (GNUTLS_CERT_UNEXPECTED_OWNER, "host name mismatch"),
            (GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE, "revocation data issued in the future"),
            (GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE, "signer constraints failure"),
            (GNUTLS_CERT_MISMATCH, "certificate mismatch"),
            (GNUTLS_CERT_PURPOSE_MISMATCH, "purpose mismatch"),
            (GNUTLS_CERT_MISSING_OCSP_STATUS, "missing OCSP status"),
            (GNUTLS_CERT_INVALID_OCSP_STATUS, "invalid OCSP status"),
            (GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS, "unknown critical extensions"),
        ]
        var problems = table.filter { status & $0.0.rawValue != 0 }.map(\.1)
        if status & GNUTLS_CERT_SIGNER_NOT_FOUND.rawValue != 0, self.leafIsSelfIssued() {
            problems.append("self-signed")
        }
        if problems.isEmpty, status != 0 {
            problems.append("invalid")
        }
        return problems
    }

    /// GnuTLS's own sentence for a verification status, if it can print one.
    static func statusText(_ status: UInt32, type: gnutls_certificate_type_t) -> String? {
        var output = gnutls_datum_t()
        guard gnutls_certificate_verification_status_print(status, type, &output, 0) == GNUTLS_E_SUCCESS else {
            return nil
        }
        defer { cgnutls_free(output.data) }
        return Self.string(output)
    }

    /// Whether the peer's leaf certificate is its own issuer.
    private func leafIsSelfIssued() -> Bool {
        var count: UInt32 = 0
        guard let list = gnutls_certificate_get_peers(self.rawSession, &count), count > 0 else { return false }
        return X509Certificate(der: list[0]).map { gnutls_x509_crt_check_issuer($0.raw, $0.raw) != 0 } ?? false
    }

    /// The peer's certificates as sent, leaf first.
    private func peerCertificates() -> [CertificateInfo] {
        var count: UInt32 = 0
        guard let list = gnutls_certificate_get_peers(self.rawSession, &count) else { return [] }
        return (0..<Int(count)).compactMap { index in
            let datum = list[index]
            guard let data = datum.data else { return nil }
            let der = Array(UnsafeBufferPointer(start: data, count: Int(datum.size)))
            return self.context.certificateInfo(der: der) { X509Certificate(der: datum)?.info() }
        }
    }

    /// A Swift string from a GnuTLS datum (not necessarily NUL-terminated).
    static func string(_ datum: gnutls_datum_t) -> String {
        guard let data = datum.data else { return "" }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(datum.size)), as: UTF8.self)
    }
}

// MARK: - X.509 certificate facts

extension CertificateInfo {
    /// Reads every certificate in a PEM file, in file order.
    ///
    /// Useful for comparing what a peer presented with a certificate on disk (fingerprints) and
    /// for showing a configured certificate in a report.
    ///
    /// - Parameter pemFile: Path of a file with one or more PEM certificates.
    /// - Returns: The facts of each certificate.
    /// - Throws: ``GnuTLSError`` of kind `.configuration` when the file cannot be read or parsed.
    public static func load(pemFile: String) throws -> [CertificateInfo] {
        var contents = gnutls_datum_t()
        var rc = gnutls_load_file(pemFile, &contents)
        guard rc == GNUTLS_E_SUCCESS else {
            throw GnuTLSError.gnutls(.configuration, code: rc, context: "reading \(pemFile)")
        }
        defer { cgnutls_free(contents.data) }
        var list: UnsafeMutablePointer<OpaquePointer?>?
        var count: UInt32 = 0
        rc = gnutls_x509_crt_list_import2(&list, &count, &contents, GNUTLS_X509_FMT_PEM, 0)
        guard rc == GNUTLS_E_SUCCESS, let list else {
            throw GnuTLSError.gnutls(.configuration, code: rc, context: "parsing certificates in \(pemFile)")
        }
        defer {
            for index in 0..<Int(count) { list[index].map { gnutls_x509_crt_deinit($0) } }
            cgnutls_free(list)
        }
        return (0..<Int(count)).compactMap { index in
            list[index].map { X509Certificate(borrowing: $0).info() }
        }
    }
}

/// A parsed `gnutls_x509_crt_t`, freed on deinit.
final class X509Certificate {
    /// `gnutls_x509_crt_t`.
    let raw: OpaquePointer
    /// Whether `deinit` frees ``raw`` (false when someone else owns it).
    private let owned: Bool

    /// Wraps a certificate owned elsewhere; it must outlive this object.
    init(borrowing certificate: OpaquePointer) {
        self.raw = certificate
        self.owned = false
    }

    /// Parses a DER certificate; `nil` if GnuTLS rejects it.
    init?(der: gnutls_datum_t) {
        var certificate: OpaquePointer?
        guard gnutls_x509_crt_init(&certificate) == GNUTLS_E_SUCCESS, let certificate else { return nil }
        var der = der
        guard gnutls_x509_crt_import(certificate, &der, GNUTLS_X509_FMT_DER) == GNUTLS_E_SUCCESS else {
            gnutls_x509_crt_deinit(certificate)
            return nil
        }
        self.raw = certificate
        self.owned = true
    }

    deinit {
        if self.owned {
            gnutls_x509_crt_deinit(self.raw)
        }
    }

    /// Extracts subject, issuer, SANs, validity, fingerprint and serial.
    func info() -> CertificateInfo {
        CertificateInfo(
            subject: self.distinguishedName(issuer: false),
            issuer: self.distinguishedName(issuer: true),
            subjectAlternativeNames: self.subjectAlternativeNames(),
            notBefore: Date(timeIntervalSince1970: TimeInterval(gnutls_x509_crt_get_activation_time(self.raw))),
            notAfter: Date(timeIntervalSince1970: TimeInterval(gnutls_x509_crt_get_expiration_time(self.raw))),
            sha256Fingerprint: Self.hex(
                self.bytes { gnutls_x509_crt_get_fingerprint(self.raw, GNUTLS_DIG_SHA256, $0, $1) }
            ),
            serialNumber: Self.hex(self.bytes { gnutls_x509_crt_get_serial(self.raw, $0, $1) }),
            der: self.der(),
            publicKeyAlgorithm: self.publicKey().algorithm,
            publicKeyBits: self.publicKey().bits,
            signatureAlgorithm: self.signatureAlgorithm()
        )
    }

    /// The DER encoding (`gnutls_x509_crt_export2`).
    private func der() -> [UInt8] {
        var datum = gnutls_datum_t()
        guard gnutls_x509_crt_export2(self.raw, GNUTLS_X509_FMT_DER, &datum) == GNUTLS_E_SUCCESS else { return [] }
        defer { cgnutls_free(datum.data) }
        return Array(UnsafeBufferPointer(start: datum.data, count: Int(datum.size)))
    }

    /// The public key's algorithm name and size in bits.
    private func publicKey() -> (algorithm: String, bits: Int) {
        var bits: UInt32 = 0
        let algorithm = gnutls_x509_crt_get_pk_algorithm(self.raw, &bits)
        guard algorithm >= 0 else { return ("unknown", 0) }
        let name = gnutls_pk_algorithm_get_name(gnutls_pk_algorithm_t(UInt32(algorithm))).map { String(cString: $0) } ?? "unknown"
        return (name, Int(bits))
    }

    /// The signature algorithm's name ("ECDSA-SHA256").
    private func signatureAlgorithm() -> String {
        let algorithm = gnutls_x509_crt_get_signature_algorithm(self.raw)
        guard algorithm >= 0 else { return "unknown" }
        return gnutls_sign_get_name(gnutls_sign_algorithm_t(UInt32(algorithm))).map { String(cString: $0) } ?? "unknown"
    }

    /// The subject or issuer DN in RFC 4514 form (`gnutls_x509_crt_get_dn3`).
    private func distinguishedName(issuer: Bool) -> String {
        var datum = gnutls_datum_t()
        let rc =
            issuer
            ? gnutls_x509_crt_get_issuer_dn3(self.raw, &datum, 0)
            : gnutls_x509_crt_get_dn3(self.raw, &datum, 0)
        guard rc == GNUTLS_E_SUCCESS else { return "" }
        defer { cgnutls_free(datum.data) }
        return GnuTLSSession.string(datum)
    }

    /// SANs as "DNS:", "IP:", "email:", "URI:" strings, in certificate order; other kinds skipped.
    private func subjectAlternativeNames() -> [String] {
        var names: [String] = []
        var index: UInt32 = 0
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            var size = buffer.count
            let rc = gnutls_x509_crt_get_subject_alt_name(self.raw, index, &buffer, &size, nil)
            if rc == GNUTLS_E_SHORT_MEMORY_BUFFER {
                buffer = [UInt8](repeating: 0, count: size + 1)
                continue
            }
            if rc < 0 { break }  // GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE: no more names
            let value = Array(buffer.prefix(size))
            switch UInt32(rc) {
            case GNUTLS_SAN_DNSNAME.rawValue:
                names.append("DNS:" + String(decoding: value, as: UTF8.self))
            case GNUTLS_SAN_RFC822NAME.rawValue:
                names.append("email:" + String(decoding: value, as: UTF8.self))
            case GNUTLS_SAN_URI.rawValue:
                names.append("URI:" + String(decoding: value, as: UTF8.self))
            case GNUTLS_SAN_IPADDRESS.rawValue:
                // Raw network-order bytes: 4 for IPv4, 16 for IPv6.
                var packed = ByteBufferAllocator().buffer(capacity: value.count)
                packed.writeBytes(value)
                if let address = try? SocketAddress(packedIPAddress: packed, port: 0), let text = address.ipAddress {
                    names.append("IP:" + text)
                }
            default:
                break
            }
            index += 1
        }
        return names
    }

    /// Calls a GnuTLS "fill this buffer" getter, growing the buffer once if it is too small.
    private func bytes(_ getter: (UnsafeMutableRawPointer, UnsafeMutablePointer<Int>) -> Int32) -> [UInt8] {
        Self.read(getter) ?? []
    }

    /// What a GnuTLS getter of the `(buffer, size)` kind writes (a fingerprint, a key id),
    /// with a larger buffer when it says the first was short; nil when it fails.
    static func read(_ getter: (UnsafeMutableRawPointer, UnsafeMutablePointer<Int>) -> Int32) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 64)
        var size = buffer.count
        var rc = buffer.withUnsafeMutableBytes { getter($0.baseAddress!, &size) }
        if rc == GNUTLS_E_SHORT_MEMORY_BUFFER {
            buffer = [UInt8](repeating: 0, count: size)
            rc = buffer.withUnsafeMutableBytes { getter($0.baseAddress!, &size) }
        }
        guard rc == GNUTLS_E_SUCCESS else { return nil }
        return Array(buffer.prefix(size))
    }

    /// Lowercase hex without separators.
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
