// SPDX-License-Identifier: Apache-2.0

internal import CGnuTLS
internal import NIOConcurrencyHelpers

/// Loaded credentials and a parsed priority string, built once and shared by many connections.
///
/// GnuTLS documents certificate credentials and priority caches as safe to share between
/// sessions on any thread once they are set up; nothing mutates them after `init`, which is what
/// makes this class `Sendable`.
public final class GnuTLSContext: Sendable {
    /// The configuration these credentials were loaded from.
    public let configuration: TLSConfiguration

    /// `gnutls_certificate_credentials_t`: trust roots plus our own certificate and key.
    nonisolated(unsafe) let credentials: OpaquePointer
    /// `gnutls_priority_t`: the parsed priority string.
    nonisolated(unsafe) let priorityCache: OpaquePointer
    /// The session-ticket encryption key of a server context (``TLSConfiguration/sessionTickets``),
    /// generated once; GnuTLS only reads it afterwards.
    nonisolated(unsafe) let ticketKey: UnsafeMutablePointer<gnutls_datum_t>?

    /// Loads the trust roots, the certificate chain and key, and parses the priority string.
    ///
    /// - Parameter configuration: What to load.
    /// - Throws: ``GnuTLSError`` of kind `.configuration` when a file is missing or unreadable,
    ///   holds no usable PEM, the key does not match, or the priority string is invalid (the
    ///   message gives the offset GnuTLS stopped at).
    public init(configuration: TLSConfiguration) throws {
        self.configuration = configuration

        var credentials: OpaquePointer?
        var rc = gnutls_certificate_allocate_credentials(&credentials)
        guard rc == GNUTLS_E_SUCCESS, let credentials else {
            throw GnuTLSError.gnutls(.configuration, code: rc, context: "allocating credentials")
        }
        // From here on a throw must free what was allocated.
        var ownsCredentials = true
        defer { if ownsCredentials { gnutls_certificate_free_credentials(credentials) } }

        switch configuration.trustRoots {
        case .system:
            // Returns the number of certificates loaded. An empty store is not an error here: a
            // peer then simply fails verification with "signer not found".
            rc = gnutls_certificate_set_x509_system_trust(credentials)
            if rc < 0 {
                throw GnuTLSError.gnutls(.configuration, code: rc, context: "loading the system trust store")
            }
        case .file(let path):
            rc = gnutls_certificate_set_x509_trust_file(credentials, path, GNUTLS_X509_FMT_PEM)
            if rc < 0 {
                throw GnuTLSError.gnutls(.configuration, code: rc, context: "loading trust file \(path)")
            }
            if rc == 0 {
                throw GnuTLSError(kind: .configuration, message: "no certificates found in trust file \(path)")
            }
        case .pem(let pem):
            rc = Self.withDatum(pem.text) { gnutls_certificate_set_x509_trust_mem(credentials, $0, GNUTLS_X509_FMT_PEM) }
            if rc < 0 {
                throw GnuTLSError.gnutls(.configuration, code: rc, context: "loading trust roots from \(pem.name)")
            }
            if rc == 0 {
                throw GnuTLSError(kind: .configuration, message: "no certificates found in \(pem.name)")
            }
        }

        switch (configuration.certificateChainFile, configuration.privateKeyFile) {
        case (let chain?, let key?):
            rc = gnutls_certificate_set_x509_key_file(credentials, chain, key, GNUTLS_X509_FMT_PEM)
            if rc < 0 {
                throw GnuTLSError.gnutls(
                    .configuration,
                    code: rc,
                    context: "loading certificate \(chain) with key \(key)"
                )
            }
        case (nil, nil) where configuration.credential != nil:
            let credential = configuration.credential!
            rc = Self.withDatum(credential.chain.text) { chain in
                Self.withDatum(credential.key.text) { key in
                    gnutls_certificate_set_x509_key_mem(credentials, chain, key, GNUTLS_X509_FMT_PEM)
                }
            }
            if rc < 0 {
                throw GnuTLSError.gnutls(
                    .configuration,
                    code: rc,
                    context: "loading certificate \(credential.chain.name) with key \(credential.key.name)"
                )
            }
        case (nil, nil):
            if configuration.role == .server {
                throw GnuTLSError(kind: .configuration, message: "a server needs a certificate chain and a private key")
            }
        case (_?, nil), (nil, _?):
            throw GnuTLSError(
                kind: .configuration,
                message: "certificateChainFile and privateKeyFile must be given together"
            )
        }

        self.priorityCache = try Self.parsePriority(configuration.priority)
        if configuration.role == .server && configuration.sessionTickets {
            let key = UnsafeMutablePointer<gnutls_datum_t>.allocate(capacity: 1)
            key.initialize(to: gnutls_datum_t(data: nil, size: 0))
            rc = gnutls_session_ticket_key_generate(key)
            guard rc == GNUTLS_E_SUCCESS else {
                key.deallocate()
                gnutls_priority_deinit(self.priorityCache)
                throw GnuTLSError.gnutls(.configuration, code: rc, context: "generating the session ticket key")
            }
            self.ticketKey = key
        } else {
            self.ticketKey = nil
        }
        self.credentials = credentials
        ownsCredentials = false
    }

    /// The facts of peer certificates seen by this context's sessions, by DER bytes (a load run
    /// meets the same server certificate thousands of times); at most 64 are kept.
    private let certificateInfos = NIOLockedValueBox([DER: CertificateInfo]())

    /// A certificate's DER bytes as a dictionary key, hashed in one go (an array of bytes hashes
    /// byte by byte).
    private struct DER: Hashable {
        let bytes: [UInt8]

        func hash(into hasher: inout Hasher) {
            bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    /// The facts of a certificate, parsed once per context.
    func certificateInfo(der: [UInt8], parse: () -> CertificateInfo?) -> CertificateInfo? {
        let key = DER(bytes: der)
        if let known = certificateInfos.withLockedValue({ $0[key] }) { return known }
        guard let info = parse() else { return nil }
        certificateInfos.withLockedValue { infos in
            if infos.count >= 64 { infos.removeAll() }
            infos[key] = info
        }
        return info
    }

    deinit {
        if let ticketKey {
            gnutls_memset(ticketKey.pointee.data, 0, Int(ticketKey.pointee.size))
            cgnutls_free(ticketKey.pointee.data)
            ticketKey.deallocate()
        }
        gnutls_priority_deinit(self.priorityCache)
        gnutls_certificate_free_credentials(self.credentials)
    }

    /// Calls `body` with a `gnutls_datum_t` over the UTF-8 bytes of `text` (valid only inside).
    static func withDatum<R>(_ text: String, _ body: (UnsafePointer<gnutls_datum_t>) -> R) -> R {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { buffer in
            var datum = gnutls_datum_t(data: buffer.baseAddress, size: UInt32(buffer.count))
            return body(&datum)
        }
    }

    /// Parses a priority string into a cache that every session of this context uses.
    ///
    /// Parsing here rather than per session (`gnutls_priority_set_direct`) reports a bad string
    /// when the configuration is loaded, not on the first connection.
    ///
    /// - Parameter priority: The GnuTLS priority string.
    /// - Returns: The `gnutls_priority_t`.
    /// - Throws: ``GnuTLSError`` of kind `.configuration`, naming the offset and the text GnuTLS
    ///   could not parse.
    private static func parsePriority(_ priority: String) throws -> OpaquePointer {
        try priority.withCString { base throws -> OpaquePointer in
            var cache: OpaquePointer?
            var errorPosition: UnsafePointer<CChar>?
            let rc = gnutls_priority_init(&cache, base, &errorPosition)
            guard rc == GNUTLS_E_SUCCESS, let cache else {
                var context = "priority string \"\(priority)\""
                if let errorPosition {
                    let offset = base.distance(to: errorPosition)
                    context += " is invalid at offset \(offset) (\"\(String(cString: errorPosition))\")"
                }
                throw GnuTLSError.gnutls(.configuration, code: rc, context: context)
            }
            return cache
        }
    }
}
