// SPDX-License-Identifier: Apache-2.0
#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// What happened on a scenario's connection, in order, as plain values: what reporters read
/// (the engine's own event and TLS types stay below the runner; ``ConnectionEvent/init(_:)`` in
/// `EngineMapping.swift` is the one place they are translated).
public enum ConnectionEvent: Sendable, Equatable {
    /// The TCP connection is up.
    case connected(local: String, remote: String)
    /// A scripted server took a client's connection (`accept`, `parley serve --script`,
    /// `parley test-client`): Parley is the server here, the peer the client.
    case accepted(local: String, remote: String)
    /// Bytes were written (inside TLS when `tls`).
    case sent([UInt8], tls: Bool)
    /// Bytes arrived (inside TLS when `tls`).
    case received([UInt8], tls: Bool)
    /// The TLS handshake began.
    case handshakeStarted(serverName: String?)
    /// The TLS handshake finished.
    case tlsEstablished(TLSFacts)
    /// Plaintext that arrived after the STARTTLS go-ahead and was thrown away unread.
    case discarded([UInt8])
    /// The connection closed.
    case closed(byPeer: Bool)
}

/// The facts of a TLS session: what was negotiated and what the peer presented.
public struct TLSFacts: Sendable, Equatable {
    /// "TLS1.3", "TLS1.2", ...
    public var version: String
    /// The IANA-style suite name ("TLS_AES_256_GCM_SHA384"), or the library's description.
    public var cipher: String
    /// The key-exchange group ("X25519"), if any.
    public var group: String?
    /// The negotiated ALPN protocol, if any.
    public var alpn: String?
    /// The SNI name sent.
    public var serverName: String?
    /// The peer's certificate chain as sent, leaf first.
    public var peerCertificates: [CertificateFacts]
    /// Whether the chain verified against the trust roots and the host name.
    public var verified: Bool
    /// One short phrase per problem ("signer not found", "host name mismatch", ...).
    public var verificationProblems: [String]
    /// Whether the server asked for a client certificate.
    public var clientCertificateRequested: Bool
    /// Whether a client certificate was sent.
    public var clientCertificateSent: Bool
    /// Whether the session was resumed.
    public var resumed: Bool
    /// Whether Parley was the server in this session (a scripted server): then the peer is the
    /// client, and its certificate is checked only when one was asked for.
    public var serverSide = false
    /// Playing the server: what the client's ClientHello offered.
    public var clientOffered: OfferedTLS?

    /// What a client offered in its ClientHello.
    public struct OfferedTLS: Sendable, Equatable {
        /// The versions, newest first as the client listed them (`TLS1.3`, `TLS1.2`, ...).
        public var versions: [String]
        /// The ALPN protocols, in order.
        public var alpn: [String]
        /// How many cipher suites it offered.
        public var cipherSuiteCount: Int

        /// Creates offered facts.
        public init(versions: [String], alpn: [String], cipherSuiteCount: Int) {
            self.versions = versions
            self.alpn = alpn
            self.cipherSuiteCount = cipherSuiteCount
        }
    }

    /// Creates session facts.
    public init(
        version: String,
        cipher: String,
        group: String? = nil,
        alpn: String? = nil,
        serverName: String? = nil,
        peerCertificates: [CertificateFacts] = [],
        verified: Bool = false,
        verificationProblems: [String] = [],
        clientCertificateRequested: Bool = false,
        clientCertificateSent: Bool = false,
        resumed: Bool = false
    ) {
        self.version = version
        self.cipher = cipher
        self.group = group
        self.alpn = alpn
        self.serverName = serverName
        self.peerCertificates = peerCertificates
        self.verified = verified
        self.verificationProblems = verificationProblems
        self.clientCertificateRequested = clientCertificateRequested
        self.clientCertificateSent = clientCertificateSent
        self.resumed = resumed
    }
}

/// The facts of one X.509 certificate that a report or an assertion needs.
public struct CertificateFacts: Sendable, Equatable {
    /// The subject DN in RFC 4514 form.
    public var subject: String
    /// The issuer DN in RFC 4514 form.
    public var issuer: String
    /// Subject alternative names: "DNS:localhost", "IP:127.0.0.1", ...
    public var subjectAlternativeNames: [String]
    /// Start of the validity period.
    public var notBefore: Date
    /// End of the validity period.
    public var notAfter: Date
    /// SHA-256 of the DER encoding, lowercase hex.
    public var sha256Fingerprint: String
    /// The serial number, lowercase hex.
    public var serialNumber: String
    /// The DER encoding as presented (what DANE matches).
    public var der: [UInt8]
    /// The public key's algorithm: "RSA", "ECDSA", "EdDSA (Ed25519)", ...
    public var publicKeyAlgorithm: String
    /// The public key's size in bits.
    public var publicKeyBits: Int
    /// The issuer's signature algorithm: "ECDSA-SHA256", "RSA-SHA256", ...
    public var signatureAlgorithm: String

    /// Creates certificate facts.
    public init(
        subject: String,
        issuer: String,
        subjectAlternativeNames: [String] = [],
        notBefore: Date,
        notAfter: Date,
        sha256Fingerprint: String = "",
        serialNumber: String = "",
        der: [UInt8] = [],
        publicKeyAlgorithm: String = "",
        publicKeyBits: Int = 0,
        signatureAlgorithm: String = ""
    ) {
        self.der = der
        self.publicKeyAlgorithm = publicKeyAlgorithm
        self.publicKeyBits = publicKeyBits
        self.signatureAlgorithm = signatureAlgorithm
        self.subject = subject
        self.issuer = issuer
        self.subjectAlternativeNames = subjectAlternativeNames
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.sha256Fingerprint = sha256Fingerprint
        self.serialNumber = serialNumber
    }

    /// The last day of validity as `YYYY-MM-DD` (UTC), as transcripts and snapshot files show it.
    public var validUntil: String {
        notAfter.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day())
    }
}

/// Which wait a deadline belonged to, named as transcripts and reports name it.
public enum WaitKind: String, Sendable, Hashable {
    case connect
    case greeting
    case capabilities
    case starttlsReply = "starttls-reply"
    case handshake
    case expect
    case silence
    case peerClose = "peer-close"
}
