// SPDX-License-Identifier: Apache-2.0
internal import NIOCore

/// Everything needed to build a ``GnuTLSContext``: the role, what to trust, which certificate to
/// present, and how to negotiate.
///
/// A configuration is a plain value; ``GnuTLSContext/init(configuration:)`` validates it and loads
/// the files it names, once, so that many connections can share the result.
public struct TLSConfiguration: Sendable {
    /// Which side of the handshake this endpoint plays.
    public enum Role: Sendable, Equatable {
        /// Sends the ClientHello; verifies the server's certificate.
        case client
        /// Answers the ClientHello; presents a certificate and may ask for the client's.
        case server
    }

    /// Where the certificates that anchor verification come from.
    public enum TrustRoots: Sendable, Equatable {
        /// The operating system's store (`gnutls_certificate_set_x509_system_trust`).
        case system
        /// A PEM bundle of one or more CA certificates at this path.
        case file(String)
        /// A PEM bundle held in memory (built into the program), named for messages.
        case pem(PEMText)
    }

    /// PEM text held in memory, with a name for messages ("the test PKI's ca.pem").
    public struct PEMText: Sendable, Equatable {
        /// The PEM text.
        public var text: String
        /// What it is, for messages.
        public var name: String

        /// PEM text named `name`.
        public init(_ text: String, name: String) {
            self.text = text
            self.name = name
        }
    }

    /// A certificate chain and its key held in memory, instead of files.
    public struct PEMCredential: Sendable, Equatable {
        /// The chain, leaf first.
        public var chain: PEMText
        /// The leaf's private key.
        public var key: PEMText

        /// A chain and its key.
        public init(chain: PEMText, key: PEMText) {
            self.chain = chain
            self.key = key
        }
    }

    /// Whether a server asks the client for a certificate.
    public enum ClientCertificateMode: Sendable, Equatable {
        /// No CertificateRequest is sent.
        case none
        /// A certificate is asked for, but the handshake goes on without one.
        case request
        /// The handshake fails when the client sends no certificate.
        case require
    }

    /// Which side of the handshake this endpoint plays.
    public var role: Role
    /// Trust anchors for verifying the peer. Default `.system`.
    public var trustRoots: TrustRoots
    /// Whether a peer certificate that does not verify fails the handshake.
    ///
    /// When `false` the handshake completes anyway and ``TLSSessionInfo`` still reports
    /// `verified == false` with the problems found, so a report can show them.
    public var verifyPeer: Bool
    /// PEM file with the certificate chain to present, leaf first (the server's certificate, or
    /// the client's for client authentication).
    public var certificateChainFile: String?
    /// PEM file with the private key of the leaf in ``certificateChainFile``.
    public var privateKeyFile: String?
    /// A chain and key held in memory; used when no files are given.
    public var credential: PEMCredential?
    /// A GnuTLS priority string, for example `"NORMAL"` or `"NORMAL:-VERS-ALL:+VERS-TLS1.2"`.
    public var priority: String
    /// ALPN protocol names: offered by a client, supported by a server (in preference order).
    public var alpn: [String]
    /// Fail the handshake when no ALPN protocol is agreed (GNUTLS_ALPN_MANDATORY): a server then
    /// refuses a ClientHello whose ALPN list lacks every one of ``alpn`` with a
    /// `no_application_protocol` alert (RFC 7301 §3.2; the ALPACA defence, RFC 9325 §3.8).
    public var alpnMandatory: Bool = false
    /// Whether a server asks for a client certificate. Ignored by clients.
    public var clientCertificateMode: ClientCertificateMode
    /// Servers: issue session tickets (TLS 1.3 NewSessionTicket, RFC 8446 §4.6.1; TLS 1.2 RFC
    /// 5077), so that clients that keep them (OpenSSL's, Python's) can resume. GnuTLS sends its
    /// TLS 1.3 tickets with its own handshake flight, so they do not answer the client's Finished
    /// (``QuickAckHandler`` is what keeps a Nagle client from waiting there). Ignored by clients.
    public var sessionTickets: Bool = true
    /// The smallest Diffie-Hellman prime a client accepts in a DHE key exchange, in bits
    /// (`gnutls_dh_set_prime_bits`); nil keeps GnuTLS's default. Ignored by servers.
    public var minimumDHPrimeBits: Int? = nil

    /// Creates a configuration with every field spelled out.
    public init(
        role: Role,
        trustRoots: TrustRoots = .system,
        verifyPeer: Bool = true,
        certificateChainFile: String? = nil,
        privateKeyFile: String? = nil,
        priority: String = "NORMAL",
        alpn: [String] = [],
        clientCertificateMode: ClientCertificateMode = .none
    ) {
        self.role = role
        self.trustRoots = trustRoots
        self.verifyPeer = verifyPeer
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.priority = priority
        self.alpn = alpn
        self.clientCertificateMode = clientCertificateMode
    }

    /// A client configuration: verify the server against `trustRoots` unless `verifyPeer` is off.
    ///
    /// - Parameters:
    ///   - trustRoots: Where the CA certificates come from.
    ///   - verifyPeer: Whether a certificate that does not verify fails the handshake.
    /// - Returns: A client configuration with the NORMAL priority, no ALPN and no client certificate.
    public static func client(trustRoots: TrustRoots = .system, verifyPeer: Bool = true) -> TLSConfiguration {
        TLSConfiguration(role: .client, trustRoots: trustRoots, verifyPeer: verifyPeer)
    }

    /// A server configuration presenting the given certificate chain and key.
    ///
    /// The server asks for no client certificate; set ``clientCertificateMode`` (and
    /// ``trustRoots`` for verifying what clients send) to change that.
    ///
    /// - Parameters:
    ///   - certificateChainFile: PEM certificate chain, leaf first.
    ///   - privateKeyFile: PEM private key of the leaf.
    /// - Returns: A server configuration with the NORMAL priority.
    public static func server(certificateChainFile: String, privateKeyFile: String) -> TLSConfiguration {
        TLSConfiguration(role: .server, certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile)
    }

    /// A server configuration presenting a chain and key held in memory.
    ///
    /// - Parameter credential: the chain and key.
    /// - Returns: A server configuration with the NORMAL priority.
    public static func server(credential: PEMCredential) -> TLSConfiguration {
        var configuration = TLSConfiguration(role: .server)
        configuration.credential = credential
        return configuration
    }
}

extension TLSConfiguration {
    /// Whether `host` is an IPv4 or IPv6 literal: it is then checked against the certificate's IP
    /// entries and never sent as SNI (RFC 6066 §3 forbids literals there).
    public static func isIPLiteral(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}
