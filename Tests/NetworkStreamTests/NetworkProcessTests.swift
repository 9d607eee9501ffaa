// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailServers
import NIOCore
import NIOPosix
import NetworkStream
import ParleyTestSupport
import Patterns
import Testing

@Suite("Connection engine against the fake SMTP server")
struct NetworkProcessTests {
    @Test("connect, expect the greeting, send EHLO, expect the last reply line")
    func plainDialog() async throws {
        try await withFakeSMTPServer(try smtpConfiguration()) { server in
            let log = EventLog()
            let process = try await NetworkProcess.connect(name: "t", host: server.host, port: server.port) { log.add($0) }
            let greeting = try await process.expect(try pattern(#"^220 .*\r\n"#), timeout: .seconds(30))
            #expect(greeting.matched.starts(with: Array("220 mail.test".utf8)))
            #expect(greeting.skippedCount == 0)
            try await process.send(Array("EHLO client.test\r\n".utf8))
            let last = try await process.expect(try pattern(#"^250 [^\r\n]*\r\n"#), timeout: .seconds(30))
            #expect(last.skippedCount > 0, "the 250- lines before the last are passed over")
            let text = String(decoding: log.received, as: UTF8.self)
            #expect(text.contains("250-STARTTLS\r\n"))
            let snapshot = await process.snapshot()
            #expect(snapshot.status == .open)
            #expect(snapshot.tls == nil)
            await process.close()
            #expect(await process.snapshot().status == .closed)
        }
    }

    @Test("STARTTLS upgrades in place, verifies the certificate and host name, and STARTTLS is gone after")
    func starttlsVerified() async throws {
        try await withFakeSMTPServer(try smtpConfiguration()) { server in
            let log = EventLog()
            let process = try await NetworkProcess.connect(name: "t", host: server.host, port: server.port) { log.add($0) }
            _ = try await process.expect(try pattern(#"^220 .*\r\n"#), timeout: .seconds(30))
            try await process.send(Array("EHLO client.test\r\n".utf8))
            _ = try await process.expect(try pattern(#"^250 [^\r\n]*\r\n"#), timeout: .seconds(30))
            let result = try await smtpStartTLS(process, serverHostname: "localhost", timeout: .seconds(30))
            #expect(result.reply.starts(with: Array("220 ".utf8)))
            #expect(result.session.verified)
            #expect(result.session.verificationProblems.isEmpty)
            #expect(result.session.protocolVersion == "TLS1.3")
            #expect(result.session.peerCertificates.first?.subjectAlternativeNames.contains("DNS:mail.test") == true)
            #expect(result.discardedBytes == 0)
            try await process.send(Array("EHLO client.test\r\n".utf8))
            let reply = try await process.expect(try pattern(#"^250 [^\r\n]*\r\n"#), timeout: .seconds(30))
            #expect(reply.skippedCount > 0)
            let afterTLS = log.all.flatMap { event -> [UInt8] in
                if case .received(let bytes, tls: true) = event { return bytes }
                return []
            }
            #expect(!String(decoding: afterTLS, as: UTF8.self).contains("STARTTLS"))
            #expect(String(decoding: afterTLS, as: UTF8.self).contains("250-mail.test"))
            let snapshot = await process.snapshot()
            #expect(snapshot.tls?.verified == true)
            await process.close()
        }
    }

    @Test("a certificate for another name fails the handshake with a host-name problem")
    func starttlsWrongName() async throws {
        try await withFakeSMTPServer(try smtpConfiguration()) { server in
            let process = try await NetworkProcess.connect(name: "t", host: server.host, port: server.port)
            _ = try await process.expect(try pattern(#"^220 .*\r\n"#), timeout: .seconds(30))
            let error = try #require(
                await networkError {
                    _ = try await smtpStartTLS(process, serverHostname: "wrong.example", timeout: .seconds(30))
                },
                "the handshake should have failed"
            )
            #expect(error.kind == .tls)
            #expect(error.wait == .handshake)
            #expect(error.tlsError?.kind == .verificationFailed)
            await process.close()
        }
    }

    @Test("a refused STARTTLS fails with the server's reply")
    func starttlsRefused() async throws {
        try await withFakeSMTPServer(try smtpConfiguration(starttls: false)) { server in
            let process = try await NetworkProcess.connect(name: "t", host: server.host, port: server.port)
            _ = try await process.expect(try pattern(#"^220 .*\r\n"#), timeout: .seconds(30))
            let error = try #require(
                await networkError {
                    _ = try await smtpStartTLS(process, serverHostname: "localhost", timeout: .seconds(30))
                },
                "STARTTLS should have been refused"
            )
            #expect(error.kind == .starttlsRefused)
            #expect(error.tail.starts(with: Array("454 ".utf8)))
            #expect(await process.snapshot().status == .open)
            await process.close()
        }
    }

    @Test("an expect that never matches times out, names the wait, and carries what was received")
    func expectTimeout() async throws {
        try await withFakeSMTPServer(try smtpConfiguration()) { server in
            let process = try await NetworkProcess.connect(name: "t", host: server.host, port: server.port)
            // Wait for the greeting's first bytes, so the tail below does not depend on timing.
            _ = try await process.expect(try pattern("^220 "), timeout: .seconds(30))
            let error = try #require(
                await networkError {
                    _ = try await process.expect(try pattern("^599 never"), timeout: .milliseconds(300))
                },
                "the expect should have timed out"
            )
            #expect(error.kind == .timeout)
            #expect(error.wait == .expect)
            #expect(error.deadline == .milliseconds(300))
            #expect(String(decoding: error.tail, as: UTF8.self).hasPrefix("mail.test ESMTP"))
            await process.close()
        }
    }
}

@Suite("Connection engine against scripted peers")
struct ScriptedPeerTests {
    @Test("plaintext after the STARTTLS go-ahead is discarded and reported, and TLS still comes up")
    func responseInjection() async throws {
        let serverContext = try FixtureCertificates.serverContext()
        let peer = try await ScriptedPeer.start(
            onConnect: { context, _ in context.send("220 scripted ESMTP\r\n") },
            onRead: { context, buffer in
                guard let buffer, buffer.readableBytesView.starts(with: Array("STARTTLS".utf8)) else {
                    context.fireChannelRead(NIOAny(buffer!))
                    return
                }
                // Go-ahead and injected plaintext in ONE write, then TLS.
                context.send("220 go ahead\r\n250-INJECTED\r\n")
                try! context.pipeline.syncOperations.addHandler(
                    GnuTLSHandler(context: serverContext),
                    position: .first
                )
            }
        )
        defer { Task { await peer.stop() } }
        let log = EventLog()
        let process = try await NetworkProcess.connect(name: "t", host: "127.0.0.1", port: peer.port) { log.add($0) }
        _ = try await process.expect(try pattern(#"^220 .*\r\n"#), timeout: .seconds(30))
        let result = try await smtpStartTLS(process, serverHostname: "localhost", timeout: .seconds(30))
        #expect(result.discardedBytes == 14)
        #expect(log.discarded == Array("250-INJECTED\r\n".utf8))
        #expect(result.session.verified)
        #expect(await process.snapshot().discardedBytes == 14)
        await process.close()
        await peer.stop()
    }

    @Test("a peer that closes before the pattern arrives fails the expect as closed, with the tail")
    func closedBeforeMatch() async throws {
        let peer = try await ScriptedPeer.start(onConnect: { context, _ in
            context.send("220 bye now\r\n")
            context.close(promise: nil)
        })
        let process = try await NetworkProcess.connect(name: "t", host: "127.0.0.1", port: peer.port)
        let error = try #require(
            await networkError {
                _ = try await process.expect(try pattern("^250 "), timeout: .seconds(30))
            },
            "the expect should have failed"
        )
        #expect(error.kind == .closedByPeer)
        #expect(error.wait == .expect)
        #expect(error.tail == Array("220 bye now\r\n".utf8))
        #expect(await process.snapshot().status == .closed)
        await peer.stop()
    }

    @Test("a server that accepts and never speaks: the greeting wait runs out on its deadline")
    func silentServer() async throws {
        let peer = try await ScriptedPeer.start()
        let process = try await NetworkProcess.connect(name: "t", host: "127.0.0.1", port: peer.port)
        let error = try #require(
            await networkError {
                _ = try await process.expect(try pattern("^220 "), timeout: .milliseconds(200), wait: .greeting)
            },
            "the wait should have timed out"
        )
        #expect(error.kind == .timeout)
        #expect(error.wait == .greeting)
        #expect(error.message.contains("the server's greeting"))
        #expect(error.tail.isEmpty)
        await process.close()
        await peer.stop()
    }

    @Test("a refused connection fails with connectFailed")
    func refused() async throws {
        let (socket, port) = try refusingPort()
        defer { close(socket) }
        let error = try #require(
            await networkError {
                _ = try await NetworkProcess.connect(name: "t", host: "127.0.0.1", port: port)
            },
            "the connect should have failed"
        )
        #expect(error.kind == .connectFailed)
        #expect(error.wait == .connect)
        #expect(error.message.contains("127.0.0.1:\(port)"))
    }
}
