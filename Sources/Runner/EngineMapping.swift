// SPDX-License-Identifier: Apache-2.0
public import GnuTLSNIO
internal import NetworkStream
internal import Scenario

// The one place where the engine's types become the runner's plain values.

extension ConnectionEvent {
    /// The engine's event as a run's value; `accepted` for a connection a scripted server took.
    init(_ event: ProcessEvent, accepted: Bool = false) {
        switch event {
        case .connected(let local, let remote):
            self = accepted ? .accepted(local: local, remote: remote) : .connected(local: local, remote: remote)
        case .sent(let bytes, let tls): self = .sent(bytes, tls: tls)
        case .received(let bytes, let tls): self = .received(bytes, tls: tls)
        case .handshakeStarted(let serverName): self = .handshakeStarted(serverName: serverName)
        case .tlsEstablished(let session): self = .tlsEstablished(TLSFacts(session))
        case .discarded(let bytes): self = .discarded(bytes)
        case .closed(let byPeer): self = .closed(byPeer: byPeer)
        }
    }
}

extension TLSFacts {
    /// The facts of a GnuTLS session.
    public init(_ session: TLSSessionInfo) {
        self.init(
            version: session.protocolVersion,
            cipher: session.cipherSuite,
            group: session.keyExchangeGroup,
            alpn: session.alpn,
            serverName: session.serverName,
            peerCertificates: session.peerCertificates.map(CertificateFacts.init),
            verified: session.verified,
            verificationProblems: session.verificationProblems,
            clientCertificateRequested: session.clientCertificateRequested,
            clientCertificateSent: session.clientCertificateSent,
            resumed: session.resumed
        )
        serverSide = session.isServer
        clientOffered = session.clientHello.map {
            OfferedTLS(versions: $0.offeredVersions, alpn: $0.alpn, cipherSuiteCount: $0.cipherSuites.count)
        }
    }
}

extension CertificateFacts {
    /// The facts of a parsed certificate.
    public init(_ certificate: CertificateInfo) {
        self.init(
            subject: certificate.subject,
            issuer: certificate.issuer,
            subjectAlternativeNames: certificate.subjectAlternativeNames,
            notBefore: certificate.notBefore,
            notAfter: certificate.notAfter,
            sha256Fingerprint: certificate.sha256Fingerprint,
            serialNumber: certificate.serialNumber,
            der: certificate.der,
            publicKeyAlgorithm: certificate.publicKeyAlgorithm,
            publicKeyBits: certificate.publicKeyBits,
            signatureAlgorithm: certificate.signatureAlgorithm
        )
    }
}

extension WaitKind {
    /// The engine's wait.
    init(_ wait: Wait) {
        switch wait {
        case .connect: self = .connect
        case .greeting: self = .greeting
        case .capabilities: self = .capabilities
        case .starttlsReply: self = .starttlsReply
        case .handshake: self = .handshake
        case .expect: self = .expect
        case .silence: self = .silence
        case .peerClose: self = .peerClose
        }
    }
}

extension StreamParameters.ConnectionType {
    /// The engine's connection type for an `open` step's.
    init(_ type: Step.Open.ConnectionType) {
        switch type {
        case .plain: self = .plain
        case .tls: self = .tls
        case .ssl: self = .ssl
        case .network, .nil: self = .network
        case .starttls: self = .starttls
        case .shell: self = .shell
        }
    }
}

extension Failure {
    /// The deadline as reports print it (`5s`, `0.25s`), as the engine's messages do.
    public var deadlineText: String? { deadline?.secondsText }
}
