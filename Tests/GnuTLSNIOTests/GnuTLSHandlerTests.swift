// SPDX-License-Identifier: Apache-2.0

import Foundation
import GnuTLSNIO
import NIOCore
import NIOEmbedded
import NIOTLS
import ParleyTestSupport
import Testing

@Suite("GnuTLSHandler in memory")
struct GnuTLSHandlerTests {
    @Test("a client and a server handshake TLS 1.3 and report the session facts")
    func handshakeReportsSessionFacts() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(), serverContext: try FixtureCertificates.serverContext())
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()

        let client = try #require(pair.clientRecorder.sessionInfo)
        let server = try #require(pair.serverRecorder.sessionInfo)
        #expect(pair.clientRecorder.errors.isEmpty)
        #expect(pair.serverRecorder.errors.isEmpty)

        #expect(client.protocolVersion == "TLS1.3")
        #expect(server.protocolVersion == "TLS1.3")
        #expect(client.cipherSuite.hasPrefix("TLS_AES_") || client.cipherSuite.hasPrefix("TLS_CHACHA20_"))
        #expect(client.cipherSuite == server.cipherSuite)
        #expect(client.keyExchangeGroup != nil)
        #expect(client.keyExchangeGroup == server.keyExchangeGroup)
        #expect(client.serverName == "localhost")
        #expect(server.serverName == "localhost")
        #expect(client.alpn == nil)
        #expect(client.verified)
        #expect(client.verificationProblems == [])
        #expect(!client.resumed)
        #expect(!client.clientCertificateRequested)
        #expect(!client.clientCertificateSent)

        let leaf = try #require(client.peerCertificates.first)
        #expect(leaf.subject.contains("CN=localhost"))
        #expect(leaf.issuer.contains("CN=Parley Test CA"))
        #expect(leaf.subjectAlternativeNames == ["DNS:localhost", "DNS:mail.test", "IP:127.0.0.1", "IP:::1"])
        #expect(leaf.serialNumber == "02")
        #expect(leaf.sha256Fingerprint.count == 64)
        #expect(leaf.sha256Fingerprint.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(leaf.notBefore == Date(timeIntervalSince1970: 1_767_225_600))  // 2026-01-01T00:00:00Z
        #expect(leaf.notAfter == Date(timeIntervalSince1970: 2_398_377_600))  // 2046-01-01T00:00:00Z

        // The server got no client certificate and asked for none.
        #expect(server.peerCertificates.isEmpty)
        #expect(!server.clientCertificateSent)
        #expect(server.verificationProblems == [])
    }

    @Test("NIOTLS's handshakeCompleted event follows GnuTLSEvent.handshakeCompleted")
    func firesNIOTLSEvent() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(), serverContext: try FixtureCertificates.serverContext())
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()
        #expect(pair.clientRecorder.nioEvents == [.handshakeCompleted(negotiatedProtocol: nil)])
        #expect(pair.serverRecorder.nioEvents == [.handshakeCompleted(negotiatedProtocol: nil)])
    }

    @Test("application data flows both ways, including a 100 KB payload spanning many records")
    func dataBothWays() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(), serverContext: try FixtureCertificates.serverContext())
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()

        pair.send(Array("EHLO parley\r\n".utf8), from: pair.client)
        try pair.interact()
        #expect(pair.serverRecorder.received == Array("EHLO parley\r\n".utf8))

        let big = payload(100 * 1024)
        pair.send(big, from: pair.server)
        // One flush must produce exactly one ciphertext write, however many records it spans.
        let ciphertext = try #require(try pair.server.readOutbound(as: ByteBuffer.self))
        #expect(try pair.server.readOutbound(as: ByteBuffer.self) == nil)
        #expect(ciphertext.readableBytes > big.count)
        try pair.client.writeInbound(ciphertext)
        try pair.interact()
        #expect(pair.clientRecorder.received == big)
        // Plaintext of one read burst is delivered as one channelRead.
        #expect(pair.clientRecorder.readCount == 1)
    }

    @Test("writes issued before the handshake completes are sent after it, in order")
    func writesAreBufferedDuringHandshake() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(), serverContext: try FixtureCertificates.serverContext())
        defer { pair.finish() }
        try pair.connect()
        let promise = pair.client.eventLoop.makePromise(of: Void.self)
        pair.client.write(ByteBuffer(bytes: Array("one ".utf8)), promise: nil)
        pair.client.writeAndFlush(ByteBuffer(bytes: Array("two".utf8)), promise: promise)
        try pair.interact()
        #expect(pair.serverRecorder.received == Array("one two".utf8))
        #expect(throws: Never.self) { try promise.futureResult.wait() }
    }

    @Test("closing the client sends close_notify; the server reports it and closes cleanly")
    func closeNotify() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(), serverContext: try FixtureCertificates.serverContext())
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()

        pair.send(Array("QUIT\r\n".utf8), from: pair.client)
        let closed = pair.client.close()
        try pair.interact()
        #expect(throws: Never.self) { try closed.wait() }
        #expect(pair.serverRecorder.received == Array("QUIT\r\n".utf8))
        #expect(pair.serverRecorder.sawCloseNotify)
        #expect(!pair.server.isActive)
        #expect(pair.serverRecorder.errors.isEmpty)
        #expect(pair.clientRecorder.errors.isEmpty)
    }

    @Test("a TCP EOF without close_notify after the handshake is an unclean shutdown")
    func uncleanShutdown() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(), serverContext: try FixtureCertificates.serverContext())
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()

        pair.client.pipeline.fireChannelInactive()
        #expect(pair.clientRecorder.tlsErrors.map(\.kind) == [.uncleanShutdown])
        #expect(pair.clientRecorder.inactive)
    }

    @Test("a half-closed input without close_notify is an unclean shutdown too")
    func inputClosedIsUnclean() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(), serverContext: try FixtureCertificates.serverContext())
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()

        pair.server.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(pair.serverRecorder.tlsErrors.map(\.kind) == [.uncleanShutdown])
    }

    @Test("corrupt ciphertext after the handshake is a record error and closes the channel")
    func corruptRecord() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(), serverContext: try FixtureCertificates.serverContext())
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()

        pair.send(Array("secret".utf8), from: pair.client)
        var record = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        // Flip a bit in the last byte: the AEAD tag no longer matches.
        let last = record.writerIndex - 1
        record.setInteger(record.getInteger(at: last, as: UInt8.self)! ^ 0x01, at: last)
        try pair.server.writeInbound(record)

        let error = try #require(pair.serverRecorder.tlsErrors.first)
        #expect(error.kind == .recordError)
        #expect(error.code != 0)
        #expect(pair.serverRecorder.received.isEmpty)
        #expect(!pair.server.isActive)
    }

    @Test("closing during the handshake fails buffered writes and reports no TLS error")
    func closeDuringHandshake() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(), serverContext: try FixtureCertificates.serverContext())
        defer { pair.finish() }
        try pair.connect()
        let write = pair.client.eventLoop.makePromise(of: Void.self)
        pair.client.writeAndFlush(ByteBuffer(bytes: Array("early".utf8)), promise: write)
        try pair.client.close().wait()
        #expect(throws: ChannelError.ioOnClosedChannel) { try write.futureResult.wait() }
        #expect(pair.clientRecorder.errors.isEmpty)
    }

    @Test("the presented leaf equals the certificate loaded from its PEM file")
    func leafMatchesFile() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(), serverContext: try FixtureCertificates.serverContext())
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()
        let leaf = try #require(pair.clientRecorder.sessionInfo?.peerCertificates.first)
        let onDisk = try CertificateInfo.load(pemFile: FixtureCertificates.path("server.pem"))
        #expect(onDisk == [leaf])
        let ca = try #require(try CertificateInfo.load(pemFile: FixtureCertificates.path("ca.pem")).first)
        #expect(ca.subject == ca.issuer)
        #expect(leaf.issuer == ca.subject)
    }

    @Test(
        "the SHA-256 fingerprint agrees with certtool's",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/certtool"))
    )
    func fingerprintMatchesCerttool() throws {
        let certtool = try ExternalProcess.run(
            executable: "/usr/bin/certtool",
            arguments: ["--fingerprint", "--hash=sha256", "--infile", FixtureCertificates.path("server.pem")],
            mergingStandardError: false
        )
        let expected = certtool.output
            .filter { !$0.isWhitespace && $0 != ":" }
            .lowercased()
        let info = try #require(try CertificateInfo.load(pemFile: FixtureCertificates.path("server.pem")).first)
        #expect(expected.count == 64)
        #expect(info.sha256Fingerprint == expected)
    }

    /// One verification failure case: which certificate the server presents, with which trust and name.
    struct VerificationCase: Sendable, CustomTestStringConvertible {
        var server: String
        var trust: TLSConfiguration.TrustRoots
        var hostname: String
        var problems: [String]
        var testDescription: String { "\(server) as \(hostname)" }
    }

    @Test(
        "a certificate that does not verify fails the handshake with the problem named",
        arguments: [
            VerificationCase(
                server: "wrong-host",
                trust: .file(FixtureCertificates.path("ca.pem")),
                hostname: "localhost",
                problems: ["host name mismatch"]
            ),
            VerificationCase(
                server: "expired", trust: .file(FixtureCertificates.path("ca.pem")), hostname: "localhost", problems: ["expired"]),
            VerificationCase(
                server: "self-signed",
                trust: .file(FixtureCertificates.path("ca.pem")),
                hostname: "localhost",
                problems: ["signer not found", "self-signed"]
            ),
            // Our CA is not in the system store.
            VerificationCase(server: "server", trust: .system, hostname: "localhost", problems: ["signer not found"]),
            VerificationCase(
                server: "server",
                trust: .file(FixtureCertificates.path("ca.pem")),
                hostname: "other.test",
                problems: ["host name mismatch"]
            ),
        ]
    )
    func verificationFailures(_ example: VerificationCase) throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(trustRoots: example.trust),
            serverContext: try FixtureCertificates.serverContext(example.server),
            serverHostname: example.hostname
        )
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()

        let error = try #require(pair.clientRecorder.tlsErrors.first)
        #expect(error.kind == .verificationFailed)
        #expect(error.verificationProblems == example.problems)
        #expect(error.code != 0)
        #expect(pair.clientRecorder.sessionInfo == nil)
        #expect(!pair.client.isActive)
        // The server hears about it as an alert.
        let serverError = try #require(pair.serverRecorder.tlsErrors.first)
        #expect(serverError.kind == .alertReceived)
        #expect(pair.serverRecorder.sessionInfo == nil)
    }

    @Test("with verifyPeer off the handshake completes and still reports the problems")
    func verifyPeerOffReportsProblems() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(verifyPeer: false),
            serverContext: try FixtureCertificates.serverContext("expired")
        )
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()

        #expect(pair.clientRecorder.errors.isEmpty)
        let info = try #require(pair.clientRecorder.sessionInfo)
        #expect(!info.verified)
        #expect(info.verificationProblems == ["expired"])
        let leaf = try #require(info.peerCertificates.first)
        #expect(leaf.notAfter == Date(timeIntervalSince1970: 1_609_459_200))  // 2021-01-01T00:00:00Z

        pair.send(Array("still talking".utf8), from: pair.client)
        try pair.interact()
        #expect(pair.serverRecorder.received == Array("still talking".utf8))
    }

    @Test("with verifyPeer off a wrong host name is reported, not fatal")
    func verifyPeerOffWrongHost() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(verifyPeer: false),
            serverContext: try FixtureCertificates.serverContext("wrong-host")
        )
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()
        let info = try #require(pair.clientRecorder.sessionInfo)
        #expect(!info.verified)
        #expect(info.verificationProblems == ["host name mismatch"])
        #expect(info.peerCertificates.first?.subjectAlternativeNames == ["DNS:wrong.example"])
    }

    @Test("an IP literal is checked against IP SANs and is not sent as SNI", arguments: ["127.0.0.1", "::1"])
    func ipLiteralHostname(_ address: String) throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(),
            serverContext: try FixtureCertificates.serverContext(),
            serverHostname: address
        )
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()
        let client = try #require(pair.clientRecorder.sessionInfo)
        let server = try #require(pair.serverRecorder.sessionInfo)
        #expect(client.verified)
        #expect(client.serverName == nil)
        #expect(server.serverName == nil)
    }

    @Test("no server hostname: no SNI, chain still verified")
    func noHostname() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(),
            serverContext: try FixtureCertificates.serverContext("wrong-host"),
            serverHostname: nil
        )
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()
        let client = try #require(pair.clientRecorder.sessionInfo)
        #expect(client.verified)
        #expect(client.serverName == nil)
    }

    @Test("a server requiring a client certificate rejects a client without one")
    func clientCertificateRequiredMissing() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(),
            serverContext: try FixtureCertificates.serverContext(clientCertificateMode: .require)
        )
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()

        #expect(pair.serverRecorder.sessionInfo == nil)
        let serverError = try #require(pair.serverRecorder.tlsErrors.first)
        #expect(serverError.kind == .handshakeFailed)
        #expect(!pair.server.isActive)
        let clientError = try #require(pair.clientRecorder.tlsErrors.first)
        #expect(clientError.kind == .alertReceived)
    }

    @Test("a server requiring a client certificate accepts and reports the client's")
    func clientCertificateRequiredPresent() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(withClientCertificate: true),
            serverContext: try FixtureCertificates.serverContext(clientCertificateMode: .require)
        )
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()

        let client = try #require(pair.clientRecorder.sessionInfo)
        let server = try #require(pair.serverRecorder.sessionInfo)
        #expect(client.clientCertificateRequested)
        #expect(client.clientCertificateSent)
        #expect(server.clientCertificateRequested)
        #expect(server.clientCertificateSent)
        #expect(server.verified)
        #expect(server.verificationProblems == [])
        let leaf = try #require(server.peerCertificates.first)
        #expect(leaf.subject.contains("CN=parley-client"))
        #expect(leaf.serialNumber == "03")
    }

    @Test("a server requesting a client certificate goes on without one")
    func clientCertificateRequestedMissing() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(),
            serverContext: try FixtureCertificates.serverContext(clientCertificateMode: .request)
        )
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()
        #expect(pair.serverRecorder.errors.isEmpty)
        #expect(pair.clientRecorder.errors.isEmpty)

        let client = try #require(pair.clientRecorder.sessionInfo)
        let server = try #require(pair.serverRecorder.sessionInfo)
        #expect(client.clientCertificateRequested)
        #expect(!client.clientCertificateSent)
        #expect(!server.clientCertificateSent)
        #expect(server.peerCertificates.isEmpty)
        #expect(!server.verified)
        #expect(server.verificationProblems == ["no certificate"])
    }

    @Test("a server requesting a client certificate verifies one that is sent")
    func clientCertificateRequestedPresent() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(withClientCertificate: true),
            serverContext: try FixtureCertificates.serverContext(clientCertificateMode: .request)
        )
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()
        let server = try #require(pair.serverRecorder.sessionInfo)
        #expect(server.clientCertificateSent)
        #expect(server.verified)
        #expect(server.peerCertificates.first?.subject.contains("CN=parley-client") == true)
    }

    @Test("ALPN picks the server's protocol among the client's offers")
    func alpn() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(alpn: ["imap", "smtp"]),
            serverContext: try FixtureCertificates.serverContext(alpn: ["smtp"])
        )
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()
        #expect(pair.clientRecorder.sessionInfo?.alpn == "smtp")
        #expect(pair.serverRecorder.sessionInfo?.alpn == "smtp")
        #expect(pair.clientRecorder.nioEvents == [.handshakeCompleted(negotiatedProtocol: "smtp")])
    }

    @Test("a priority string limited to TLS 1.2 negotiates TLS 1.2 with an IANA suite name")
    func tls12() throws {
        let pair = try BackToBack(
            clientContext: try FixtureCertificates.clientContext(priority: "NORMAL:-VERS-ALL:+VERS-TLS1.2"),
            serverContext: try FixtureCertificates.serverContext()
        )
        defer { pair.finish() }
        try pair.connect()
        try pair.interact()
        let info = try #require(pair.clientRecorder.sessionInfo)
        #expect(info.protocolVersion == "TLS1.2")
        #expect(info.cipherSuite.hasPrefix("TLS_ECDHE_ECDSA_WITH_"))
        #expect(info.verified)

        pair.send(payload(40_000), from: pair.client)
        try pair.interact()
        #expect(pair.serverRecorder.received == payload(40_000))
    }

    @Test("STARTTLS: the handlers added to active channels after plaintext start the handshake at once")
    func startTLSInsertion() throws {
        let clientContext = try FixtureCertificates.clientContext()
        let serverContext = try FixtureCertificates.serverContext()
        let pair = try BackToBack(clientContext: clientContext, serverContext: serverContext, addTLS: false)
        defer { pair.finish() }
        try pair.connect()

        pair.send(Array("STARTTLS\r\n".utf8), from: pair.client)
        try pair.interact()
        #expect(pair.serverRecorder.received == Array("STARTTLS\r\n".utf8))
        pair.send(Array("220 go ahead\r\n".utf8), from: pair.server)
        try pair.interact()
        #expect(pair.clientRecorder.received == Array("220 go ahead\r\n".utf8))

        try pair.server.pipeline.syncOperations.addHandler(GnuTLSHandler(context: serverContext), position: .first)
        try pair.client.pipeline.syncOperations.addHandler(
            GnuTLSHandler(context: clientContext, serverHostname: "mail.test"),
            position: .first
        )
        // The ClientHello went out from handlerAdded, with no further prompting.
        let hello = try #require(try pair.client.readOutbound(as: ByteBuffer.self))
        #expect(hello.getInteger(at: hello.readerIndex, as: UInt8.self) == 0x16)  // TLS handshake record
        try pair.server.writeInbound(hello)
        try pair.interact()

        let info = try #require(pair.clientRecorder.sessionInfo)
        #expect(info.verified)
        #expect(info.serverName == "mail.test")
        pair.send(Array("EHLO again\r\n".utf8), from: pair.client)
        try pair.interact()
        #expect(pair.serverRecorder.received == Array("STARTTLS\r\nEHLO again\r\n".utf8))
    }
}

@Suite("Session facts across sessions of one context")
struct SessionFactsCacheTests {
    @Test("a second session of the same contexts reports the same verified facts (parsed once, kept by the context)")
    func secondSessionSameFacts() throws {
        let clientContext = try FixtureCertificates.clientContext()
        let serverContext = try FixtureCertificates.serverContext()
        var infos: [TLSSessionInfo] = []
        for _ in 0..<2 {
            let pair = try BackToBack(clientContext: clientContext, serverContext: serverContext)
            defer { pair.finish() }
            try pair.connect()
            try pair.interact()
            infos.append(try #require(pair.clientRecorder.sessionInfo))
        }
        #expect(infos[0].verified && infos[1].verified)
        #expect(infos[1].verificationProblems == [])
        #expect(infos[0].peerCertificates == infos[1].peerCertificates)
        #expect(infos[1].peerCertificates.first?.subjectAlternativeNames == ["DNS:localhost", "DNS:mail.test", "IP:127.0.0.1", "IP:::1"])
    }

    @Test("verification off: the problems are still found after the handshake, session after session")
    func verificationOffStillReports() throws {
        let clientContext = try FixtureCertificates.clientContext(verifyPeer: false)
        let serverContext = try FixtureCertificates.serverContext("expired")
        for _ in 0..<2 {
            let pair = try BackToBack(clientContext: clientContext, serverContext: serverContext)
            defer { pair.finish() }
            try pair.connect()
            try pair.interact()
            let info = try #require(pair.clientRecorder.sessionInfo)
            #expect(!info.verified)
            #expect(info.verificationProblems == ["expired"])
        }
    }
}
