// SPDX-License-Identifier: Apache-2.0
public import Foundation
public import Runner

/// The facts of a TLS session as JSON, built from the runner's ``TLSFacts``: the JSON report's
/// `tls` object and `parley probe --json`'s `tls` are this one type, so they have the same field
/// names and shapes for the same facts.
///
/// Dates are `Date`s, written by ``JSONOutput`` as ISO 8601 (`2026-11-25T10:00:00Z`). Two things
/// depend on the writer: `provider` is written only when it is set (the probe knows which TLS
/// implementation made the session; the runner's facts do not say, so the report has no such
/// field), and `peer` is the whole chain (the report) or the leaf alone (the probe, as it has
/// always printed it; see ``Peer``).
public struct TLSFactsJSON: Codable, Sendable, Equatable {
    /// The certificates the peer sent, as one of the two shapes in use.
    public enum Peer: Codable, Sendable, Equatable {
        /// The chain as sent, leaf first: a JSON array (the report's `peer`).
        case chain([CertificateJSON])
        /// The leaf, or null when the peer sent none: a JSON object (the probe's `peer`).
        case leaf(CertificateJSON?)

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .chain(let certificates): try container.encode(certificates)
            case .leaf(let certificate?): try container.encode(certificate)
            case .leaf(nil): try container.encodeNil()
            }
        }

        /// An array is a chain; an object or null is a leaf.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .leaf(nil)
            } else if let chain = try? container.decode([CertificateJSON].self) {
                self = .chain(chain)
            } else {
                self = .leaf(try container.decode(CertificateJSON.self))
            }
        }
    }

    /// Which TLS implementation made the session (`builtin`, `external`); nil leaves it out.
    public var provider: String?
    /// The protocol version, e.g. `TLS1.3`.
    public var version: String
    /// The cipher suite.
    public var cipher: String
    /// The key-exchange group, if any.
    @NullWhenAbsent public var group: String?
    /// The negotiated ALPN protocol, if any.
    @NullWhenAbsent public var alpn: String?
    /// The server name (SNI) sent.
    @NullWhenAbsent public var serverName: String?
    /// Whether the peer's chain verified.
    public var verified: Bool
    /// The verification problems, one short phrase each.
    public var verification: [String]
    /// Whether the server asked for a client certificate.
    public var clientCertificateRequested: Bool
    /// Whether the client sent one.
    public var clientCertificateSent: Bool
    /// Whether the session was resumed.
    public var resumed: Bool
    /// The peer's certificates.
    public var peer: Peer
    /// Playing the server: `server_side: true`, and what the client's ClientHello offered;
    /// both left out otherwise.
    public var serverSide: Bool?
    public var clientOffered: OfferedJSON?

    /// A client's offer: versions, ALPN protocols, the number of cipher suites.
    public struct OfferedJSON: Codable, Sendable, Equatable {
        public var versions: [String]
        public var alpn: [String]
        public var cipherSuites: Int

        enum CodingKeys: String, CodingKey {
            case versions, alpn
            case cipherSuites = "cipher_suites"
        }
    }

    /// The JSON of `facts`.
    ///
    /// - Parameters:
    ///   - facts: the session's facts.
    ///   - provider: the TLS implementation's name, or nil to leave the field out.
    ///   - leafOnly: write `peer` as the leaf certificate (or null) instead of the chain.
    public init(_ facts: TLSFacts, provider: String? = nil, leafOnly: Bool = false) {
        self.provider = provider
        version = facts.version
        cipher = facts.cipher
        group = facts.group
        alpn = facts.alpn
        serverName = facts.serverName
        verified = facts.verified
        verification = facts.verificationProblems
        clientCertificateRequested = facts.clientCertificateRequested
        clientCertificateSent = facts.clientCertificateSent
        resumed = facts.resumed
        serverSide = facts.serverSide ? true : nil
        clientOffered = facts.clientOffered.map { OfferedJSON(versions: $0.versions, alpn: $0.alpn, cipherSuites: $0.cipherSuiteCount) }
        let certificates = facts.peerCertificates.map(CertificateJSON.init)
        peer = leafOnly ? .leaf(certificates.first) : .chain(certificates)
    }

    enum CodingKeys: String, CodingKey {
        case provider, version, cipher, group, alpn
        case serverName = "server_name"
        case verified, verification
        case clientCertificateRequested = "client_certificate_requested"
        case clientCertificateSent = "client_certificate_sent"
        case resumed, peer
        case serverSide = "server_side"
        case clientOffered = "client_offered"
    }
}

/// One certificate's facts as JSON: the certificate object of the report's and the probe's `peer`.
public struct CertificateJSON: Codable, Sendable, Equatable {
    /// The subject DN (RFC 4514).
    public var subject: String
    /// The issuer DN (RFC 4514).
    public var issuer: String
    /// The subject alternative names (`DNS:…`, `IP:…`).
    public var san: [String]
    /// Start of validity.
    public var notBefore: Date
    /// End of validity.
    public var notAfter: Date
    /// SHA-256 of the DER, lowercase hex.
    public var sha256: String
    /// The serial number, lowercase hex.
    public var serial: String
    /// The public key: algorithm and size ("ECDSA", 256).
    public var key: KeyJSON?
    /// The issuer's signature algorithm ("ECDSA-SHA256").
    public var signature: String?

    /// A public key's algorithm and size.
    public struct KeyJSON: Codable, Sendable, Equatable {
        /// "RSA", "ECDSA", "EdDSA (Ed25519)".
        public var algorithm: String
        /// The size in bits.
        public var bits: Int
    }

    /// The JSON of `certificate`.
    public init(_ certificate: CertificateFacts) {
        subject = certificate.subject
        issuer = certificate.issuer
        san = certificate.subjectAlternativeNames
        notBefore = certificate.notBefore
        notAfter = certificate.notAfter
        sha256 = certificate.sha256Fingerprint
        serial = certificate.serialNumber
        key =
            certificate.publicKeyAlgorithm.isEmpty
            ? nil : KeyJSON(algorithm: certificate.publicKeyAlgorithm, bits: certificate.publicKeyBits)
        signature = certificate.signatureAlgorithm.isEmpty ? nil : certificate.signatureAlgorithm
    }

    enum CodingKeys: String, CodingKey {
        case subject, issuer, san
        case notBefore = "not_before"
        case notAfter = "not_after"
        case sha256, serial, key, signature
    }
}
