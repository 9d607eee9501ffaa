// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailServers
import NIOCore
import NIOPosix
import ParleyTestSupport
import Testing

/// The fake servers against clients that misbehave: they must stay bounded and responsive, and
/// stopping them must never wait for a client that went away.
@Suite("Fake servers against hostile clients")
struct HostileClientTests {
    /// Runs `body` in a task and reports whether it finished within `seconds`. A body that hangs
    /// is left behind, so the test fails instead of hanging with it.
    func finishes(within seconds: Double, _ body: @escaping @Sendable () async throws -> Void) async throws -> Bool {
        let done = Locked(false)
        Task {
            try? await body()
            done.withLock { $0 = true }
        }
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if done.withLock({ $0 }) { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return done.withLock { $0 }
    }

    @Test("stop() returns when a tarpitted connection's client goes away while its close waits for the queue")
    func tarpitStopAfterClientLeaves() async throws {
        let server = try await FakeMailServer.start(
            FakeMailServer.Configuration(protocol: .smtp, faults: [try MailServerFault(parsing: "tarpit=0.2")])
        )
        let client = try await WireClient.connect(port: server.port)
        // One byte arrived: the rest of the greeting is queued in the tarpit.
        #expect(try await client.wait { !$0.all.isEmpty })
        let stopping = Task { try await server.stop() }
        // Let the server's close start waiting for the queue, then leave.
        try await Task.sleep(for: .milliseconds(50))
        await client.close()
        #expect(try await finishes(within: 10) { try await stopping.value }, "stop() waits for a queue nobody will read")
    }

    @Test("a 1.5 KB line is refused once, and the session goes on")
    func overlongLine() async throws {
        try await withFakeMailServer(FakeMailServer.Configuration(protocol: .smtp)) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes("\r\n"))
            try await client.send([UInt8](repeating: UInt8(ascii: "A"), count: 1500) + bytes("\r\nNOOP\r\n"))
            let reply = try #require(try await client.read(through: bytes("250 2.0.0 OK\r\n"), seconds: 30))
            #expect(text(reply) == "500 5.5.0 Line too long\r\n250 2.0.0 OK\r\n")
        }
    }

    @Test("a 10 MB line is answered with 500 and the connection closes before the line ends", arguments: MailProtocol.allCases)
    func endlessLine(_ mailProtocol: MailProtocol) async throws {
        try await withFakeMailServer(FakeMailServer.Configuration(protocol: mailProtocol)) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes("\r\n"))
            // The writes may fail once the server has closed; what matters is what came back.
            try? await client.send([UInt8](repeating: UInt8(ascii: "A"), count: 10_000_000) + bytes("\r\n"))
            let closed = await eventually(.seconds(30)) { client.snapshot.closed }
            #expect(closed, "the server closes a line that goes on past its bound")
            let answer = text(client.snapshot.all)
            switch mailProtocol {
            case .smtp: #expect(answer.contains("500 5.5.0 Line too long\r\n"))
            case .imap: #expect(answer.contains(" BAD "))
            case .pop3: #expect(answer.contains("-ERR line too long\r\n"))
            }
        }
    }

    @Test("NUL bytes and invalid UTF-8 in commands get an error reply, and the session goes on", arguments: MailProtocol.allCases)
    func binaryCommands(_ mailProtocol: MailProtocol) async throws {
        try await withFakeMailServer(FakeMailServer.Configuration(protocol: mailProtocol)) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes("\r\n"))
            let noop: String
            let ok: String
            switch mailProtocol {
            case .smtp: (noop, ok) = ("NOOP\r\n", "250 2.0.0 OK\r\n")
            case .imap: (noop, ok) = ("a2 NOOP\r\n", "a2 OK NOOP completed\r\n")
            case .pop3: (noop, ok) = ("CAPA\r\n", "\r\n.\r\n")
            }
            let hostile: [UInt8] = [0x00, 0xFF, 0xFE, 0x20, 0xC3, 0x28, 0x00, 0x0D, 0x0A, 0x61, 0x31, 0x20, 0xED, 0xA0, 0x80, 0x0D, 0x0A]
            try await client.send(hostile + bytes(noop))
            let reply = try #require(try await client.read(through: bytes(ok)))
            #expect(text(reply).hasSuffix(ok))
            #expect(client.snapshot.closed == false)
        }
    }
}

@Suite("Mail servers bound what a client can hold: connections and silence")
struct ServerLimitTests {
    @Test("one connection over the limit is told so in the protocol's words and closed; the others go on", arguments: MailProtocol.allCases)
    func connectionLimit(_ mailProtocol: MailProtocol) async throws {
        var configuration = FakeMailServer.Configuration(protocol: mailProtocol)
        configuration.maxConnections = 2
        try await withFakeMailServer(configuration) { server in
            let first = try await WireClient.connect(port: server.port)
            let second = try await WireClient.connect(port: server.port)
            _ = try await first.read(through: bytes("\r\n"))
            _ = try await second.read(through: bytes("\r\n"))
            let third = try await WireClient.connect(port: server.port)
            let refusal = text(try await third.read(through: bytes("\r\n")))
            switch mailProtocol {
            case .smtp: #expect(refusal == "421 4.7.0 mail.test Too many connections, try again later\r\n")
            case .imap: #expect(refusal == "* BYE Too many connections, try again later\r\n")
            case .pop3: #expect(refusal == "-ERR [SYS/TEMP] Too many connections, try again later\r\n")
            }
            #expect(await eventually(.seconds(10)) { third.snapshot.closed })
            #expect(first.snapshot.closed == false && second.snapshot.closed == false)
            // A place frees up when a connection closes.
            await first.close()
            #expect(
                await eventually(.seconds(10)) {
                    guard let fourth = try? await WireClient.connect(port: server.port) else { return false }
                    defer { Task { await fourth.close() } }
                    let greeting = (try? await fourth.read(through: bytes("\r\n"))).map(text) ?? ""
                    return !greeting.contains("Too many")
                })
            await second.close()
        }
    }

    @Test("a silent client is said goodbye to when the idle timeout passes, and the connection closes", arguments: MailProtocol.allCases)
    func idleTimeout(_ mailProtocol: MailProtocol) async throws {
        var configuration = FakeMailServer.Configuration(protocol: mailProtocol)
        configuration.idleTimeout = 0.3
        try await withFakeMailServer(configuration) { server in
            let client = try await WireClient.connect(port: server.port)
            _ = try await client.read(through: bytes("\r\n"))
            #expect(await eventually(.seconds(10)) { client.snapshot.closed })
            let goodbye = text(client.snapshot.all)
            switch mailProtocol {
            case .smtp: #expect(goodbye.hasSuffix("421 4.4.2 mail.test Error: timeout exceeded\r\n"))
            case .imap: #expect(goodbye.hasSuffix("* BYE Autologout; idle for too long\r\n"))
            case .pop3: #expect(goodbye.hasSuffix("-ERR [SYS/TEMP] idle for too long, closing\r\n"))
            }
        }
    }
}
