// SPDX-License-Identifier: Apache-2.0

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// Events the handler fires with `fireUserInboundEventTriggered`.
///
/// The handler also fires NIOTLS's `TLSUserEvent.handshakeCompleted(negotiatedProtocol:)` right
/// after ``handshakeCompleted(_:)``, so standard NIO handlers (ALPN dispatch) work unchanged.
public enum GnuTLSEvent: Sendable {
    /// The handshake finished; the facts of the session.
    case handshakeCompleted(TLSSessionInfo)
    /// The peer sent close_notify (a clean TLS end). The handler answers with its own and then
    /// closes the channel.
    case closeNotifyReceived
}

/// What was negotiated and what the peer presented, read once when the handshake completes.
public struct TLSSessionInfo: Sendable, Equatable {
    /// `gnutls_protocol_get_name`: "TLS1.3", "TLS1.2", ...
    public var protocolVersion: String
    /// The IANA-style suite name ("TLS_AES_256_GCM_SHA384") when GnuTLS knows it, else GnuTLS's
    /// session description.
    public var cipherSuite: String
    /// The key-exchange group ("X25519", "SECP256R1"), if any.
    public var keyExchangeGroup: String?
    /// The negotiated ALPN protocol, if any.
    public var alpn: String?
    /// SNI: the name a client sent, or the name a server received.
    public var serverName: String?
    /// The peer's certificate chain as it was sent, leaf first; empty if it sent none.
    public var peerCertificates: [CertificateInfo]
    /// Whether the peer's chain verified against the trust roots and (client) the host name.
    public var verified: Bool
    /// One short phrase per problem found: "signer not found", "expired", "not activated",
    /// "host name mismatch", "self-signed", "no certificate", ...
    public var verificationProblems: [String]
    /// Whether the server asked for a client certificate.
    public var clientCertificateRequested: Bool
    /// Whether the client sent a certificate.
    public var clientCertificateSent: Bool
    /// Whether the session was resumed from an earlier one.
    public var resumed: Bool
    /// Whether this side of the session is the server (a scripted server's `starttls`).
    public var isServer = false
    /// As a server: what the client's ClientHello offered (nil when it could not be read).
    public var clientHello: ClientHello?

    /// Creates session facts; the handler fills them in from GnuTLS.
    public init(
        protocolVersion: String,
        cipherSuite: String,
        keyExchangeGroup: String? = nil,
        alpn: String? = nil,
        serverName: String? = nil,
        peerCertificates: [CertificateInfo] = [],
        verified: Bool = false,
        verificationProblems: [String] = [],
        clientCertificateRequested: Bool = false,
        clientCertificateSent: Bool = false,
        resumed: Bool = false
    ) {
        self.protocolVersion = protocolVersion
        self.cipherSuite = cipherSuite
        self.keyExchangeGroup = keyExchangeGroup
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
public struct CertificateInfo: Sendable, Equatable {
    /// The subject DN in RFC 4514 form, for example "CN=localhost,O=Parley".
    public var subject: String
    /// The issuer DN in RFC 4514 form.
    public var issuer: String
    /// Subject alternative names: "DNS:localhost", "IP:127.0.0.1", "IP:::1", "email:...", "URI:...".
    public var subjectAlternativeNames: [String]
    /// Start of the validity period.
    public var notBefore: Date
    /// End of the validity period.
    public var notAfter: Date
    /// SHA-256 of the DER encoding, lowercase hex without separators.
    public var sha256Fingerprint: String
    /// The serial number, lowercase hex.
    public var serialNumber: String
    /// The certificate's DER encoding, as presented (DANE matches it, or its public key).
    public var der: [UInt8]
    /// The public key's algorithm, as GnuTLS names it: "RSA", "ECDSA", "EdDSA (Ed25519)", ...
    public var publicKeyAlgorithm: String
    /// The public key's size in bits (the modulus for RSA, the curve's size for ECDSA).
    public var publicKeyBits: Int
    /// The signature algorithm the issuer signed with: "ECDSA-SHA256", "RSA-SHA256", ...
    public var signatureAlgorithm: String

    /// Creates certificate facts.
    public init(
        subject: String,
        issuer: String,
        subjectAlternativeNames: [String],
        notBefore: Date,
        notAfter: Date,
        sha256Fingerprint: String,
        serialNumber: String,
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
}
