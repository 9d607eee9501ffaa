// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailServers
import NIOCore
import NIOPosix
import NetworkStream
import ParleyTestSupport
import Testing

/// make-network-process clients, the process object, stop and continue (spec §9 items 1–15, 68).
@Suite("Emacs process model: clients")
struct ProcessModelClientTests {
    /// A spec for a client of `port` in a private table.
    func client(_ name: String, _ port: Int) -> NetworkProcess.Spec {
        var spec = NetworkProcess.Spec(name: name, host: "127.0.0.1", service: .port(port))
        spec.timeout = .seconds(30)
        return spec
    }

    @Test("§9.1 names x, x<1>, x<2>, and x again after delete")
    func uniqueNames() async throws {
        let peer = try await LinePeer.start(greeting: nil)
        defer { Task { await peer.stop() } }
        let table = ProcessTable()
        let a = try await NetworkProcess.make(client("x", peer.port), in: table)
        let b = try await NetworkProcess.make(client("x", peer.port), in: table)
        let c = try await NetworkProcess.make(client("x", peer.port), in: table)
        #expect([a.name, b.name, c.name] == ["x", "x<1>", "x<2>"])
        await a.delete()
        let d = try await NetworkProcess.make(client("x", peer.port), in: table)
        #expect(d.name == "x")
        for process in [b, c, d] { await process.delete() }
        #expect(table.names.isEmpty)
    }

    @Test("§9.2 process-type is network for a client, a server, a datagram socket and an accepted connection")
    func networkType() async throws {
        let table = ProcessTable()
        let recorder = Recorder()
        var serverSpec = NetworkProcess.Spec(name: "srv", service: .any)
        serverSpec.server = true
        serverSpec.sentinel = recorder.sentinel
        let server = try await NetworkProcess.make(serverSpec, in: table)
        let port = Int(try #require(await server.snapshot().contact.service))!
        let clientProcess = try await NetworkProcess.make(client("c", port), in: table)
        var datagramSpec = NetworkProcess.Spec(name: "d", service: .port(port))
        datagramSpec.datagram = true
        let datagram = try await NetworkProcess.make(datagramSpec, in: table)
        #expect(await eventually { table.names.contains { $0.hasPrefix("srv <") } })
        #expect(server.type == .network)
        #expect(clientProcess.type == .network)
        #expect(datagram.type == .network)
        // The accepted connection is only reachable through its sentinel; its type is network
        // because only the shell role makes `real` processes.
        // The name is registered before the sentinel runs: wait for the sentinel itself.
        #expect(
            await eventually {
                recorder.lines.contains { $0.hasPrefix("sentinel srv <127.0.0.1:") && $0.hasSuffix("open from 127.0.0.1\n") }
            })
        for process in [clientProcess, datagram, server] { await process.delete() }
    }

    @Test("§9.4 a blocking connect calls no sentinel and is open at once")
    func blockingConnect() async throws {
        let peer = try await LinePeer.start(greeting: nil)
        defer { Task { await peer.stop() } }
        let recorder = Recorder()
        var spec = client("b", peer.port)
        spec.sentinel = recorder.sentinel
        let process = try await NetworkProcess.make(spec, in: ProcessTable())
        #expect(await process.status() == .open)
        #expect(recorder.events.isEmpty)
        await process.delete()
        #expect(recorder.events == ["deleted\n"])
    }

    @Test("§9.5 §9.6 a nowait client reports connect, then its sentinel gets open before the filter sees a byte")
    func nowaitOpen() async throws {
        let (server, port, filler) = try await saturatedServer(greeting: "220 hi\r\n")
        let recorder = Recorder()
        var spec = client("n", port)
        spec.nowait = true
        spec.sentinel = recorder.sentinel
        spec.filter = recorder.filter
        let process = try await NetworkProcess.make(spec, in: ProcessTable())
        #expect(await process.status() == .connect)
        // Accepting frees the queue; the client's SYN is retransmitted and the connect completes.
        await server.continue()
        #expect(await eventually(.seconds(10)) { recorder.chunks.count == 1 })
        #expect(recorder.lines == ["sentinel n: open\n", "filter n: 220 hi\r\n"])
        #expect(await process.status() == .open)
        await process.delete()
        await server.delete()
        try? await filler.close()
    }

    @Test("§9.7 a nowait client to a closed port ends failed, exit 111, sentinel failed with code 111")
    func nowaitRefused() async throws {
        let port = try await closedPort()
        let recorder = Recorder()
        var spec = client("f", port)
        spec.nowait = true
        spec.sentinel = recorder.sentinel
        let process = try await NetworkProcess.make(spec, in: ProcessTable())
        #expect(await eventually { await process.status() == .failed })
        #expect(await process.snapshot().exitStatus == .code(111))
        #expect(recorder.events == ["failed with code 111\n"])
    }

    @Test("§9.8 a blocking connect to a closed port fails with make client process failed: Connection refused")
    func blockingRefused() async throws {
        let port = try await closedPort()
        let table = ProcessTable()
        let error = try #require(await networkError { _ = try await NetworkProcess.make(client("r", port), in: table) })
        #expect(error.kind == .connectFailed)
        #expect(error.wait == .connect)
        #expect(error.message.contains("make client process failed: Connection refused"))
        #expect(table.names.isEmpty)
    }

    @Test("§9.9 a peer close: sentinel connection broken by remote peer, status closed, exit 256, name freed")
    func peerClose() async throws {
        let peer = try await LinePeer.start(greeting: nil) { _, _ in [.close] }
        defer { Task { await peer.stop() } }
        let recorder = Recorder()
        let table = ProcessTable()
        var spec = client("p", peer.port)
        spec.sentinel = recorder.sentinel
        let process = try await NetworkProcess.make(spec, in: table)
        try await process.send(bytes("bye\n"))
        #expect(await eventually { await process.status() == .closed })
        #expect(recorder.events == ["connection broken by remote peer\n"])
        #expect(await process.snapshot().exitStatus == .code(256))
        #expect(!table.contains("p"))
    }

    @Test("§9.10 delete runs the sentinel with deleted before it returns; closed, exit 0")
    func deleteSentinel() async throws {
        let peer = try await LinePeer.start(greeting: nil)
        defer { Task { await peer.stop() } }
        let recorder = Recorder()
        var spec = client("d", peer.port)
        spec.sentinel = recorder.sentinel
        let process = try await NetworkProcess.make(spec, in: ProcessTable())
        await process.delete()
        #expect(recorder.events == ["deleted\n"])
        let snapshot = await process.snapshot()
        #expect(snapshot.status == .closed)
        #expect(snapshot.exitStatus == .code(0))
        #expect(await eventually { peer.closed(0) }, "the peer sees our close")
    }

    @Test("§9.12 §9.13 stop holds data back without a sentinel call; continue delivers all of it")
    func stopContinue() async throws {
        let peer = try await LinePeer.start(greeting: nil) { _, line in
            line == "go\n" ? [.send("one\r\n"), .send("two\r\n")] : []
        }
        defer { Task { await peer.stop() } }
        let recorder = Recorder()
        var spec = client("s", peer.port)
        spec.sentinel = recorder.sentinel
        spec.filter = recorder.filter
        let process = try await NetworkProcess.make(spec, in: ProcessTable())
        await process.stop()
        var snapshot = await process.snapshot()
        #expect(snapshot.status == .stop)
        #expect(snapshot.stopped)
        // Output still works while stopped; the answer waits.
        try await process.send(bytes("go\n"))
        #expect(await eventually { peer.received(0) == "go\n" })
        try await Task.sleep(for: .milliseconds(200))
        #expect(recorder.chunks.isEmpty, "nothing is delivered while stopped")
        await process.continue()
        #expect(await eventually { recorder.chunks.flatMap { $0 } == bytes("one\r\ntwo\r\n") })
        snapshot = await process.snapshot()
        #expect(snapshot.status == .open)
        #expect(!snapshot.stopped)
        #expect(recorder.events.isEmpty)
        await process.delete()
    }

    @Test("§9.15 :stop t creates a stopped process")
    func createdStopped() async throws {
        let peer = try await LinePeer.start(greeting: "220 hi\r\n")
        defer { Task { await peer.stop() } }
        let recorder = Recorder()
        var spec = client("st", peer.port)
        spec.stop = true
        spec.filter = recorder.filter
        let process = try await NetworkProcess.make(spec, in: ProcessTable())
        #expect(await process.status() == .stop)
        await process.continue()
        #expect(await eventually { recorder.chunks.flatMap { $0 } == bytes("220 hi\r\n") })
        await process.delete()
    }

    @Test("§9.32 send-eof: the peer sees EOF, later sends are discarded, and fail once the peer closed")
    func sendEOF() async throws {
        let peer = try await LinePeer.start(greeting: nil)
        defer { Task { await peer.stop() } }
        let process = try await NetworkProcess.make(client("e", peer.port), in: ProcessTable())
        try await process.send(bytes("last\n"))
        try await process.sendEOF()
        #expect(await eventually { peer.closed(0) }, "the peer saw EOF and closed")
        #expect(peer.received(0) == "last\n")
        #expect(await eventually { await process.status() == .closed })
        let error = try #require(await networkError { try await process.send(bytes("more\n")) })
        #expect(error.message == "Process e not running")
    }

    @Test("§9.68 a nowait TLS connection whose handshake fails ends failed with TLS negotiation failed and no sentinel call")
    func nowaitTLSFails() async throws {
        // A plain server: it answers the ClientHello with text, so the handshake fails.
        let peer = try await LinePeer.start(greeting: "220 not TLS\r\n")
        defer { Task { await peer.stop() } }
        let recorder = Recorder()
        var spec = client("t", peer.port)
        spec.nowait = true
        spec.sentinel = recorder.sentinel
        spec.tls = (try FixtureCertificates.clientContext(), "localhost", .seconds(30))
        let process = try await NetworkProcess.make(spec, in: ProcessTable())
        #expect(await eventually { await process.status() == .failed })
        #expect(await process.snapshot().exitStatus == .message("TLS negotiation failed"))
        #expect(recorder.events.isEmpty)
    }

    @Test("a nowait TLS connection that verifies reports open after the handshake, with the session facts")
    func nowaitTLSOpens() async throws {
        let serverContext = try FixtureCertificates.serverContext()
        let peer = try await ScriptedPeer.start(onConnect: { context, _ in
            try! context.pipeline.syncOperations.addHandler(GnuTLSHandler(context: serverContext), position: .first)
        })
        defer { Task { await peer.stop() } }
        let recorder = Recorder()
        var spec = client("tls", peer.port)
        spec.nowait = true
        spec.sentinel = recorder.sentinel
        spec.tls = (try FixtureCertificates.clientContext(), "localhost", .seconds(30))
        let process = try await NetworkProcess.make(spec, in: ProcessTable())
        #expect(await eventually { await process.status() == .open })
        #expect(recorder.events == ["open\n"])
        #expect(await process.snapshot().tls?.verified == true)
        await process.delete()
    }
}
