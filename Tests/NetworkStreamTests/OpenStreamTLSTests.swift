// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailServers
import NIOCore
import NIOPosix
import NetworkStream
import ParleyTestSupport
import Testing

/// open-network-stream's STARTTLS, TLS and shell paths (spec §9 items 3, 45–63).
@Suite("open-network-stream: STARTTLS, TLS, shell")
struct OpenStreamTLSTests {
    let base = OpenStreamTests()

    @Test("§9.45 type network without STARTTLS offered: plain, open, no STARTTLS sent")
    func networkNotOffered() async throws {
        let peer = try await base.smtpPeer(starttls: false)
        defer { Task { await peer.stop() } }
        let result = try await base.open(peer.port, base.smtp(.network))
        #expect(result.type == .plain)
        #expect(await result.process?.status() == .open)
        #expect(!peer.received(0).contains("STARTTLS"))
        await result.process?.delete()
    }

    @Test("§9.46 type network, STARTTLS answered 454: the same socket stays plain and capabilities are not queried again")
    func networkRefused() async throws {
        let peer = try await base.smtpPeer()
        defer { Task { await peer.stop() } }
        var p = base.smtp(.network)
        p.endOfCapability = #"^250 [^\r\n]*\r\n"#
        let result = try await base.open(peer.port, p)
        #expect(result.type == .plain)
        #expect(result.error == nil)
        #expect(peer.connectionCount == 1)
        #expect(peer.received(0) == "EHLO client.test\r\nSTARTTLS\r\n")
        #expect(await result.process?.status() == .open)
        await result.process?.delete()
    }

    @Test(
        "§9.47 §9.48 type network, handshake fails: a new plain connection gets the capability command but not STARTTLS; its greeting stays out of the capabilities"
    )
    func networkFallback() async throws {
        let peer = try await base.smtpPeer(answer: { index in
            index == 0 ? .failTLS(goAhead: "220 go\r\n") : .send("454 no\r\n")
        })
        defer { Task { await peer.stop() } }
        var p = base.smtp(.network)
        p.endOfCapability = #"^250 [^\r\n]*\r\n"#
        let table = ProcessTable()
        let result = try await base.open(peer.port, p, name: "fb", table: table)
        #expect(result.type == .plain)
        #expect(result.error == nil)
        #expect(peer.connectionCount == 2)
        #expect(peer.received(1) == "EHLO client.test\r\n")
        #expect(text(result.greeting) == "220 hi\r\n")
        #expect(text(result.capabilities) == "250-x\r\n250-STARTTLS\r\n250 SIZE 10\r\n", "Emacs puts the second greeting here")
        #expect(result.process?.name == "fb", "the old process was deleted first, so the name comes back")
        await result.process?.delete()
    }

    @Test("§9.49 type starttls, handshake fails: Unable to negotiate a TLS connection with 127.0.0.1/PORT")
    func starttlsHandshakeFails() async throws {
        let peer = try await base.smtpPeer(answer: { _ in .failTLS(goAhead: "220 go\r\n") })
        defer { Task { await peer.stop() } }
        let result = try await base.open(peer.port, base.smtp(.starttls))
        #expect(result.process == nil)
        #expect(result.error?.hasPrefix("Unable to negotiate a TLS connection with 127.0.0.1/\(peer.port)") == true)
    }

    @Test("§9.50 type starttls, STARTTLS not offered or refused: no process and Server does not support TLS (Emacs crashes)")
    func starttlsUnavailable() async throws {
        for offered in [false, true] {
            let peer = try await base.smtpPeer(starttls: offered)
            let table = ProcessTable()
            let result = try await base.open(peer.port, base.smtp(.starttls), table: table)
            #expect(result.process == nil)
            #expect(result.error == "Server does not support TLS")
            #expect(result.type == .plain)
            #expect(table.names.isEmpty)
            #expect(await eventually { peer.closed(0) })
            await peer.stop()
        }
    }

    @Test("§9.51 a successful STARTTLS sends the capability command again over TLS; type tls, verified facts")
    func starttlsSuccess() async throws {
        try await withFakeSMTPServer(try smtpConfiguration()) { server in
            var p = base.smtp(.starttls)
            p.endOfCapability = #"^250 [^\r\n]*\r\n"#
            let result = try await base.open(server.port, p)
            #expect(result.type == .tls)
            #expect(result.error == nil)
            #expect(result.tls?.verified == true)
            #expect(result.tlsProvider == .builtin)
            #expect(result.discardedBytes == 0)
            #expect(text(result.capabilities)?.hasPrefix("250-mail.test") == true)
            #expect(text(result.capabilities)?.contains("STARTTLS") == false, "queried again, over TLS")
            #expect(await result.process?.snapshot().tls != nil)
            await result.process?.delete()
        }
    }

    @Test("STARTTLS response injection: bytes after the go-ahead are discarded and counted in the result")
    func injection() async throws {
        let serverContext = try FixtureCertificates.serverContext()
        let peer = try await base.smtpPeer(answer: { _ in
            .startTLS(goAhead: "220 go\r\n250-INJECTED\r\n", context: serverContext)
        })
        defer { Task { await peer.stop() } }
        var p = base.smtp(.starttls)
        p.capabilityCommand = .bytes(bytes("EHLO client.test\r\n"))
        // The scripted peer never answers the capability command sent again under TLS: this wait
        // runs out by design; it must still be long enough for the steps before it on a busy machine.
        p.timeouts.capabilities = .seconds(10)
        let result = try await base.open(peer.port, p)
        #expect(result.discardedBytes == 14)
        #expect(result.tls?.verified == true)
        #expect(result.type == .tls || result.error != nil)
        await result.process?.delete()
    }

    @Test("§9.52 §9.53 §9.56 a self-signed certificate fails verification by default: no process, the reasons in the error")
    func selfSignedRejected() async throws {
        var configuration = try smtpConfiguration()
        configuration.tls = try FixtureCertificates.serverContext("self-signed")
        try await withFakeSMTPServer(configuration) { server in
            let table = ProcessTable()
            let result = try await base.open(server.port, base.smtp(.starttls), table: table)
            #expect(result.process == nil)
            #expect(result.failure?.kind == .tls)
            #expect(result.failure?.tlsError?.verificationProblems.isEmpty == false)
            #expect(table.names.isEmpty)
        }
    }

    @Test("§9.54 with verification off the connection opens and the problems are still reported")
    func selfSignedInsecure() async throws {
        var configuration = try smtpConfiguration()
        configuration.tls = try FixtureCertificates.serverContext("self-signed")
        try await withFakeSMTPServer(configuration) { server in
            var p = base.smtp(.starttls)
            p.tls.verify = false
            let result = try await base.open(server.port, p)
            #expect(result.type == .tls)
            #expect(result.tls?.verified == false)
            #expect(result.tls?.verificationProblems.isEmpty == false)
            await result.process?.delete()
        }
    }

    /// A TLS-first peer that greets after the handshake.
    func tlsPeer() async throws -> ScriptedPeer {
        let serverContext = try FixtureCertificates.serverContext()
        return try await ScriptedPeer.start(
            onConnect: { context, _ in
                try! context.pipeline.syncOperations.addHandler(GnuTLSHandler(context: serverContext), position: .first)
                context.send("220 tls hi\r\n")
            },
            onRead: { context, _ in context.send("250 ok\r\n") }
        )
    }

    @Test("§9.55 type tls nowait returns at once: status connect, no greeting, type tls")
    func tlsNowait() async throws {
        let (server, port, filler) = try await saturatedServer()
        var p = base.smtp(.tls)
        p.nowait = true
        let result = try await base.open(port, p)
        #expect(result.type == .tls)
        #expect(result.greeting == nil)
        #expect(await result.process?.status() == .connect)
        await result.process?.delete()
        await server.delete()
        try? await filler.close()
    }

    @Test("§9.57 on the TLS path the capability function gets the greeting (Emacs gives nil)")
    func tlsCapabilityFunction() async throws {
        let peer = try await tlsPeer()
        defer { Task { await peer.stop() } }
        let counter = Collector<[UInt8]>()
        var p = base.smtp(.tls)
        p.capabilityCommand = .computed { greeting in
            counter.add(greeting ?? [])
            return Array("EHLO x\r\n".utf8)
        }
        let result = try await base.open(peer.port, p)
        #expect(counter.all == [bytes("220 tls hi\r\n")])
        #expect(text(result.capabilities) == "250 ok\r\n")
        #expect(result.type == .tls)
        #expect(result.tls?.verified == true)
        await result.process?.delete()
    }

    @Test("§9.58 plain nowait with return-list: no greeting, status connect")
    func plainNowait() async throws {
        let (server, port, filler) = try await saturatedServer()
        defer {
            Task {
                await server.delete()
                try? await filler.close()
            }
        }
        var p = base.smtp(.plain)
        p.nowait = true
        let result = try await base.open(port, p)
        #expect(result.greeting == nil)
        #expect(await result.process?.status() == .connect)
        await result.process?.delete()
    }

    @Test("§9.59 nowait is ignored for type network with success and a capability command")
    func networkIgnoresNowait() async throws {
        let peer = try await base.smtpPeer(starttls: false)
        defer { Task { await peer.stop() } }
        var p = base.smtp(.network)
        p.nowait = true
        let result = try await base.open(peer.port, p)
        #expect(text(result.greeting) == "220 hi\r\n")
        #expect(await result.process?.status() == .open)
        await result.process?.delete()
    }

    @Test("§9.3 §9.61 type shell runs the command with %s and %p over pipes: type real, status run, plain")
    func shell() async throws {
        var p = StreamParameters()
        p.type = .shell
        p.returnList = true
        p.shellCommand = #"printf '220 %s %p 100%%%%\r\n'; read line; printf '250 got %%s\r\n' "$line""#
        p.endOfCommand = "\r\n"
        p.capabilityCommand = .bytes(bytes("CAPA\n"))
        p.timeouts = .init(all: .seconds(20))
        let result = try await NetworkProcess.openStream(
            name: "sh",
            host: "127.0.0.1",
            service: .port(2525),
            parameters: p,
            table: ProcessTable()
        )
        #expect(text(result.greeting) == "220 127.0.0.1 2525 100%\r\n")
        #expect(text(result.capabilities) == "250 got CAPA\r\n")
        #expect(result.type == .plain)
        let process = try #require(result.process)
        #expect(process.type == .real)
        #expect(
            process.command == ["/bin/sh", "-c", #"printf '220 127.0.0.1 2525 100%%\r\n'; read line; printf '250 got %s\r\n' "$line""#])
        let status = await process.status()
        #expect(status == .run || status == .closed, "run while the child lives")
        await process.delete()
    }

    @Test("§9.62 §9.63 shell without a command, an unknown format character, an unknown type are errors")
    func argumentErrors() async throws {
        var p = StreamParameters()
        p.type = .shell
        p.returnList = true
        var error = await networkError { _ = try await base.open(1, p) }
        #expect(error?.kind == .invalidArgument)
        p.shellCommand = "nc %x"
        error = await networkError { _ = try await base.open(1, p) }
        #expect(error?.message == "Invalid format character: ‘%x’")
        error = await networkError { _ = try StreamParameters.ConnectionType(parsing: "foo") }
        #expect(error?.message == "Invalid connection type foo")
        #expect(try StreamParameters.ConnectionType(parsing: "nil") == .network)
    }

    @Test("client certificates are found in an authinfo file by host and port, and sent")
    func authinfoCertificate() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parley-auth-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let serverContext = try FixtureCertificates.serverContext(clientCertificateMode: .require)
        let peer = try await base.smtpPeer(answer: { _ in .startTLS(goAhead: "220 go\r\n", context: serverContext) })
        defer { Task { await peer.stop() } }
        let file = folder.appendingPathComponent("authinfo").path
        let key = FixtureCertificates.path("client-key.pem")
        let cert = FixtureCertificates.path("client.pem")
        try """
        # comment
        machine other.test port 25 key /nonexistent cert /nonexistent
        machine 127.0.0.1 port \(peer.port) key "\(key)" cert \(cert)
        """.write(toFile: file, atomically: true, encoding: .utf8)
        var p = base.smtp(.starttls)
        p.clientCertificate = .lookUp(authinfo: file)
        // Long enough for the steps before it on a busy machine (this wait runs out by design).
        p.timeouts.capabilities = .seconds(10)
        let result = try await base.open(peer.port, p)
        #expect(result.tls?.clientCertificateSent == true, "\(String(describing: result.error))")
        await result.process?.delete()
    }
}
