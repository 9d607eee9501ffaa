// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailServers
import NIOCore
import NIOPosix
import NetworkStream
import ParleyTestSupport
import Testing

/// open-network-stream (spec §9 items 3 and 33–63).
@Suite("open-network-stream")
struct OpenStreamTests {
    /// SMTP-like parameters with short deadlines.
    func smtp(_ type: StreamParameters.ConnectionType) -> StreamParameters {
        var p = StreamParameters()
        p.type = type
        p.returnList = true
        p.capabilityCommand = .bytes(bytes("EHLO client.test\r\n"))
        p.endOfCommand = #"^[0-9]{3} [^\r\n]*\r?\n"#
        p.starttlsFunction = .whenMatches(pattern: "^250[- ]STARTTLS", command: bytes("STARTTLS\r\n"))
        p.success = "^220 "
        p.tls.trustRoots = .file(FixtureCertificates.path("ca.pem"))
        p.tls.serverName = "localhost"
        p.timeouts = .init(all: .seconds(20))
        return p
    }

    func open(
        _ port: Int,
        _ parameters: StreamParameters,
        name: String = "s",
        table: ProcessTable = ProcessTable()
    ) async throws -> OpenStreamResult {
        try await NetworkProcess.openStream(
            name: name,
            host: "127.0.0.1",
            service: .port(port),
            parameters: parameters,
            table: table
        )
    }

    /// An SMTP-ish peer: greeting, EHLO with or without STARTTLS, and `starttls` for STARTTLS.
    func smtpPeer(
        starttls: Bool = true,
        answer: @escaping @Sendable (Int) -> LinePeer.Action = { _ in .send("454 no\r\n") }
    ) async throws -> LinePeer {
        try await LinePeer.start(greeting: "220 hi\r\n") { index, line in
            if line.hasPrefix("EHLO") {
                return [.send("250-x\r\n" + (starttls ? "250-STARTTLS\r\n" : "") + "250 SIZE 10\r\n")]
            }
            if line.hasPrefix("STARTTLS") { return [answer(index)] }
            return []
        }
    }

    @Test("§9.33 type plain without return-list sends and reads nothing, even with always-query-capabilities")
    func plainShortcut() async throws {
        let peer = try await smtpPeer()
        defer { Task { await peer.stop() } }
        var p = smtp(.plain)
        p.returnList = false
        p.alwaysQueryCapabilities = true
        let result = try await open(peer.port, p)
        let process = try #require(result.process)
        #expect(result.greeting == nil)
        #expect(await eventually { await process.snapshot().bufferedBytes == 8 }, "the greeting waits unread")
        await process.delete()
        #expect(await eventually { peer.closed(0) })
        #expect(peer.received(0) == "", "nothing was sent")
    }

    @Test("§9.34 type network without return-list and without success sends nothing")
    func networkShortcut() async throws {
        let peer = try await smtpPeer()
        defer { Task { await peer.stop() } }
        var p = smtp(.network)
        p.returnList = false
        p.success = nil
        let result = try await open(peer.port, p)
        let process = try #require(result.process)
        await process.delete()
        #expect(await eventually { peer.closed(0) })
        #expect(peer.received(0) == "")
    }

    @Test("§9.35 plain return-list greeting")
    func plainGreeting() async throws {
        let peer = try await smtpPeer()
        defer { Task { await peer.stop() } }
        var p = StreamParameters()
        p.type = .plain
        p.returnList = true
        p.endOfCommand = "\r\n"
        let result = try await open(peer.port, p)
        #expect(text(result.greeting) == "220 hi\r\n")
        #expect(result.capabilities == nil)
        #expect(result.type == .plain)
        #expect(result.error == nil)
        #expect(await result.process?.status() == .open)
        await result.process?.delete()
    }

    @Test("§9.36 without end-of-command the greeting is nil and nothing waits")
    func noEndOfCommand() async throws {
        let peer = try await LinePeer.start(greeting: nil)
        defer { Task { await peer.stop() } }
        var p = StreamParameters()
        p.type = .plain
        p.returnList = true
        let result = try await open(peer.port, p)
        #expect(result.greeting == nil)
        #expect(result.error == nil)
        await result.process?.delete()
    }

    @Test("§9.37 plain with always-query-capabilities returns the capabilities and stays plain with STARTTLS offered")
    func plainAlwaysQuery() async throws {
        try await withFakeSMTPServer(try smtpConfiguration()) { server in
            var p = smtp(.plain)
            p.alwaysQueryCapabilities = true
            let result = try await open(server.port, p)
            #expect(result.type == .plain)
            #expect(text(result.capabilities)?.contains("250-STARTTLS\r\n") == true)
            #expect(text(result.capabilities)?.hasSuffix("250 SMTPUTF8\r\n") == true)
            #expect(result.tls == nil)
            await result.process?.delete()
        }
    }

    @Test("§9.38 a capability command function gets the greeting and its result is sent verbatim")
    func capabilityFunction() async throws {
        let peer = try await smtpPeer()
        defer { Task { await peer.stop() } }
        var p = smtp(.network)
        p.endOfCommand = "\r\n"
        p.success = nil
        p.capabilityCommand = .computed { greeting in Array("EHLO \(greeting?.count ?? -1)\r\n".utf8) }
        let result = try await open(peer.port, p)
        #expect(peer.received(0) == "EHLO 8\r\n")
        await result.process?.delete()
    }

    @Test("§9.39 with end-of-command \\r\\n and no end-of-capability only the first reply line is returned")
    func firstLineOnly() async throws {
        let peer = try await smtpPeer()
        defer { Task { await peer.stop() } }
        var p = smtp(.network)
        p.endOfCommand = "\r\n"
        p.success = nil
        let result = try await open(peer.port, p)
        #expect(text(result.capabilities) == "250-x\r\n")
        await result.process?.delete()
    }

    @Test("§9.40 nogreeting sends the capability command at once and the greeting lands in the capabilities")
    func noGreeting() async throws {
        let peer = try await smtpPeer(starttls: false)
        defer { Task { await peer.stop() } }
        var p = smtp(.network)
        p.noGreeting = true
        p.endOfCapability = #"^250 [^\r\n]*\r\n"#
        let result = try await open(peer.port, p)
        #expect(result.greeting == nil)
        #expect(text(result.capabilities) == "220 hi\r\n250-x\r\n250 SIZE 10\r\n")
        await result.process?.delete()
    }

    @Test("§9.41 matching is case-sensitive by default; caseFold gives Emacs's search, cut at the match end")
    func caseFolding() async throws {
        let peer = try await smtpPeer()
        defer { Task { await peer.stop() } }
        var p = StreamParameters()
        p.type = .plain
        p.returnList = true
        p.endOfCommand = "^220 HI"
        p.timeouts = .init(all: .milliseconds(300))
        // Only the greeting wait is meant to run out; the connect must succeed on a busy machine.
        p.timeouts.connect = .seconds(30)
        let strict = try await open(peer.port, p)
        #expect(strict.process == nil)
        #expect(strict.failure?.wait == .greeting)
        p.caseFold = true
        // This one must succeed: a generous deadline, so a busy machine cannot fail it.
        p.timeouts = .init(all: .seconds(10))
        let folded = try await open(peer.port, p)
        #expect(text(folded.greeting) == "220 hi")
        await folded.process?.delete()
    }

    @Test("§9.42 a greeting followed by a close is returned (Emacs returns nil)")
    func greetingThenClose() async throws {
        let peer = try await LinePeer.start(greeting: "220 hi\r\n", closeAfterGreeting: true)
        defer { Task { await peer.stop() } }
        var p = StreamParameters()
        p.type = .plain
        p.returnList = true
        p.endOfCommand = "\r\n"
        let result = try await open(peer.port, p)
        #expect(text(result.greeting) == "220 hi\r\n")
        await result.process?.delete()
    }

    @Test("§9.43 a server that never sends the greeting: the greeting wait runs out and the error names it")
    func silentServer() async throws {
        let peer = try await LinePeer.start(greeting: nil)
        defer { Task { await peer.stop() } }
        var p = smtp(.network)
        p.timeouts.greeting = .milliseconds(300)
        let table = ProcessTable()
        let result = try await open(peer.port, p, table: table)
        #expect(result.process == nil)
        #expect(result.failure?.kind == .timeout)
        #expect(result.failure?.wait == .greeting)
        #expect(result.error?.contains("waiting for the server's greeting") == true)
        #expect(table.names.isEmpty)
    }

    @Test("§9.44 the STARTTLS function is called once, with the capability response")
    func starttlsFunctionOnce() async throws {
        let peer = try await smtpPeer()
        defer { Task { await peer.stop() } }
        let counter = Collector<[UInt8]>()
        var p = smtp(.network)
        p.endOfCapability = #"^250 [^\r\n]*\r\n"#
        p.starttlsFunction = .computed { capabilities in
            counter.add(capabilities)
            return nil
        }
        let result = try await open(peer.port, p)
        #expect(counter.all == [bytes("250-x\r\n250-STARTTLS\r\n250 SIZE 10\r\n")])
        p.success = nil
        let again = try await open(peer.port, p)
        #expect(counter.all.count == 1, "not called without :success")
        await result.process?.delete()
        await again.process?.delete()
    }
}
