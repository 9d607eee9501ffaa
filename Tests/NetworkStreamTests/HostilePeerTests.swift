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

/// The engine against peers that misbehave on purpose: each test names the error kind, the wait
/// or bound that ended it, and checks that what the engine holds in memory stays bounded.
///
/// Every wait has a deadline of a few seconds at most; the suite asserts no durations.
@Suite("Hostile peers against the engine")
struct HostilePeerTests {
    /// The receive limit these tests use: small, so a flood passes it many times over.
    static let limit = 1024 * 1024

    /// Connection options with the small receive limit.
    static func options(limit: Int = HostilePeerTests.limit) -> NetworkProcess.ConnectOptions {
        var options = NetworkProcess.ConnectOptions()
        options.timeout = .seconds(10)
        options.receiveLimit = limit
        return options
    }

    @Test("a server that accepts and never speaks: the greeting wait runs out, nothing is buffered")
    func silent() async throws {
        let peer = try await ScriptedPeer.start()
        defer { Task { await peer.stop() } }
        let process = try await NetworkProcess.connect(name: "silent", host: "127.0.0.1", port: peer.port, options: Self.options())
        defer { Task { await process.delete() } }
        let error = await networkError {
            _ = try await process.expect(try pattern("^220 "), timeout: .milliseconds(300), wait: .greeting)
        }
        #expect(error?.kind == .timeout)
        #expect(error?.wait == .greeting)
        #expect(error?.deadline == .milliseconds(300))
        #expect(error?.message == "timed out after 0.3s waiting for the server's greeting")
        #expect(error?.tail == [])
        let snapshot = await process.snapshot()
        #expect(snapshot.bufferedBytes == 0)
        #expect(snapshot.status == .open, "a deadline ends the wait, not the connection")
    }

    @Test("a tarpit that sends one byte per interval: the expect deadline fires with the bytes so far")
    func tarpit() async throws {
        // 0.1 s per byte: the whole greeting takes 4 s, so only a machine stalled for more than
        // 3.6 s could see it complete before the 400 ms deadline fires.
        let configuration = FakeMailServer.Configuration(protocol: .smtp, faults: [try MailServerFault(parsing: "tarpit=0.1")])
        try await withFakeMailServer(configuration) { server in
            let process = try await NetworkProcess.connect(name: "tarpit", host: server.host, port: server.port, options: Self.options())
            defer { Task { await process.delete() } }
            let error = await networkError {
                _ = try await process.expect(try pattern(#"^220 [^\r\n]*\r\n"#), timeout: .milliseconds(400))
            }
            #expect(error?.kind == .timeout)
            #expect(error?.wait == .expect)
            #expect(error?.deadline == .milliseconds(400))
            let greeting = Array("220 mail.test ESMTP Parley fake server\r\n".utf8)
            let tail = error?.tail ?? []
            #expect(tail.count < greeting.count, "the whole greeting cannot have arrived")
            #expect(greeting.starts(with: tail), "what arrived is the start of the greeting: \(tail)")
            #expect(await process.snapshot().bufferedBytes <= greeting.count)
        }
    }

    /// The process's resident memory is checked by the CLI suite, in a child process of its own:
    /// in this shared test process other tests move it.
    @Test("a 32 MiB flood without the awaited pattern passes through a 1 MiB receive limit")
    func floodPassesThrough() async throws {
        let flood = 32 * 1024 * 1024
        let configuration = FakeMailServer.Configuration(protocol: .smtp, faults: [try MailServerFault(parsing: "flood=\(flood)")])
        try await withFakeMailServer(configuration) { server in
            let process = try await NetworkProcess.connect(name: "flood", host: server.host, port: server.port, options: Self.options())
            defer { Task { await process.delete() } }
            // The flood never contains the greeting; it ends with a marker, then the greeting comes.
            let match = try await process.expect(try pattern(#"^220 [^\r\n]*\r\n"#), timeout: .seconds(60))
            #expect(match.skippedCount == flood + "\r\nFLOOD-END\r\n".utf8.count)
            #expect(await process.snapshot().bufferedBytes == 0)
        }
    }

    @Test("a flood that keeps a partial match alive ends the wait at the receive limit (bufferLimit)")
    func floodHitsLimit() async throws {
        let configuration = FakeMailServer.Configuration(protocol: .smtp, faults: [try MailServerFault(parsing: "flood")])
        try await withFakeMailServer(configuration) { server in
            let process = try await NetworkProcess.connect(name: "flood", host: server.host, port: server.port, options: Self.options())
            defer { Task { await process.delete() } }
            // `(?s:.)*` can always take one more byte: the partial match never ends.
            let error = await networkError {
                _ = try await process.expect(try pattern(#"^FLOOD (?s:.)*NEVER"#), timeout: .seconds(30))
            }
            #expect(error?.kind == .bufferLimit)
            #expect(error?.wait == .expect)
            #expect(error?.deadline == nil, "a bound fired, not a deadline")
            #expect(error?.message == "the receive buffer reached its limit while waiting for the expected pattern")
            let buffered = await process.snapshot().bufferedBytes
            #expect(buffered >= Self.limit)
            #expect(buffered < Self.limit + 1024 * 1024, "at most one read beyond the limit: \(buffered)")
        }
    }

    @Test("an endless flood while no wait is active is held back at the receive limit, and nothing is lost")
    func floodWithoutWaiter() async throws {
        // 8 MiB, then the marker: far more than the limit, but it ends, so the expect can finish.
        let configuration = FakeMailServer.Configuration(protocol: .smtp, faults: [try MailServerFault(parsing: "flood=\(8 * Self.limit)")])
        try await withFakeMailServer(configuration) { server in
            let received = ByteCounter()
            let process = try await NetworkProcess.connect(
                name: "idle",
                host: server.host,
                port: server.port,
                options: Self.options()
            ) { event in
                if case .received(let bytes, _) = event { received.add(bytes.count) }
            }
            defer { Task { await process.delete() } }
            // No expect runs: the engine must stop reading once the limit is buffered.
            try await Task.sleep(for: .milliseconds(300))
            let buffered = await process.snapshot().bufferedBytes
            #expect(buffered < 2 * Self.limit, "\(buffered) bytes buffered with no wait active")
            // Every byte is still delivered once a wait consumes them.
            let match = try await process.expect(try pattern(#"^FLOOD-END\r\n"#), timeout: .seconds(30))
            #expect(match.skippedCount + match.matched.count == 8 * Self.limit + "\r\nFLOOD-END\r\n".utf8.count)
        }
    }

    @Test("a reset in the middle of the TLS handshake fails the handshake wait")
    func resetMidHandshake() async throws {
        let peer = try await ScriptedPeer.start(
            onConnect: { context, _ in context.send("220 ready\r\n") },
            onRead: { context, data in
                let text = String(decoding: data?.readableBytesView ?? ByteBufferView(), as: UTF8.self)
                if text.hasPrefix("STARTTLS") {
                    context.send("220 go ahead\r\n")
                } else {
                    // The ClientHello: answer with a TCP reset (SO_LINGER 0, then close).
                    let reset = linger(l_onoff: 1, l_linger: 0)
                    guard let provider = context.channel as? any SocketOptionProvider else {
                        context.close(promise: nil)
                        return
                    }
                    let channel = context.channel
                    provider.setSoLinger(reset).whenComplete { _ in channel.close(promise: nil) }
                }
            }
        )
        defer { Task { await peer.stop() } }
        let process = try await NetworkProcess.connect(name: "reset", host: "127.0.0.1", port: peer.port, options: Self.options())
        defer { Task { await process.delete() } }
        _ = try await process.expect(try pattern(#"^220 [^\n]*\n"#), timeout: .seconds(10))
        let error = await networkError {
            _ = try await smtpStartTLS(process, serverHostname: "localhost", timeout: .seconds(10))
        }
        #expect(error?.wait == .handshake)
        #expect(error?.deadline == nil, "the reset, not the deadline, ended the wait")
        #expect(error?.kind == .closedByPeer || error?.kind == .tls, "\(String(describing: error))")
        #expect(await process.snapshot().status != .open)
    }

    @Test("TLS ended without close_notify: the wait fails with an unclean-shutdown TLS error")
    func noCloseNotify() async throws {
        let peer = try await RaggedTLSPeer.start(greeting: "220 tls hello\r\n")
        defer { Task { await peer.stop() } }
        var options = Self.options()
        options.tls = (try FixtureCertificates.clientContext(), "localhost")
        let process = try await NetworkProcess.connect(name: "ragged", host: "127.0.0.1", port: peer.port, options: options)
        defer { Task { await process.delete() } }
        _ = try await process.expect(try pattern(#"^220 tls hello\r\n"#), timeout: .seconds(10))
        let error = await networkError {
            _ = try await process.expect(try pattern("^250 "), timeout: .seconds(10))
        }
        #expect(error?.kind == .tls)
        #expect(error?.wait == .expect)
        #expect(error?.deadline == nil)
        #expect(error?.tlsError?.kind == .uncleanShutdown)
        #expect(error?.message.contains("without a TLS close_notify") == true, "\(String(describing: error))")
    }

    @Test("garbage after the STARTTLS go-ahead fails the handshake; the garbage never reaches the caller")
    func garbageAfterGoAhead() async throws {
        let configuration = FakeMailServer.Configuration(
            protocol: .smtp,
            tls: try FixtureCertificates.serverContext(),
            faults: [try MailServerFault(parsing: "garbage-after-starttls")]
        )
        try await withFakeMailServer(configuration) { server in
            let log = EventLog()
            let process = try await NetworkProcess.connect(name: "garbage", host: server.host, port: server.port, options: Self.options()) {
                log.add($0)
            }
            defer { Task { await process.delete() } }
            _ = try await process.expect(try pattern(#"^220 [^\n]*\n"#), timeout: .seconds(10))
            let error = await networkError {
                _ = try await smtpStartTLS(process, serverHostname: "localhost", timeout: .seconds(10))
            }
            #expect(error?.kind == .tls)
            #expect(error?.wait == .handshake)
            #expect(error?.deadline == nil, "GnuTLS rejected the bytes; no deadline ran out")
            #expect(error?.tlsError?.kind == .handshakeFailed)
            #expect(await process.snapshot().bufferedBytes == 0)
            let plaintext = String(decoding: log.received, as: UTF8.self)
            #expect(!plaintext.contains("not a TLS handshake"), "the garbage went to TLS, not to the receive buffer")
        }
    }

    @Test("a 10 MB line against a 1 MiB receive limit ends at the limit, not after 10 MB")
    func tenMegabyteLine() async throws {
        let line = [UInt8]("220 ".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 10_000_000) + Array("\r\n".utf8)
        let peer = try await ScriptedPeer.start(onConnect: { context, _ in
            context.writeAndFlush(NIOAny(context.channel.allocator.buffer(bytes: line)), promise: nil)
        })
        defer { Task { await peer.stop() } }
        let process = try await NetworkProcess.connect(name: "long", host: "127.0.0.1", port: peer.port, options: Self.options())
        defer { Task { await process.delete() } }
        let error = await networkError {
            _ = try await process.expect(try pattern(#"^220 [^\r\n]*\r\n"#), timeout: .seconds(30))
        }
        #expect(error?.kind == .bufferLimit)
        #expect(error?.wait == .expect)
        #expect(error?.tail.count == 512, "the report carries a bounded tail")
        let buffered = await process.snapshot().bufferedBytes
        #expect(buffered >= Self.limit && buffered < 2 * Self.limit, "\(buffered)")
    }

    @Test("a 10 MB line within the default 16 MiB limit is matched whole")
    func tenMegabyteLineMatches() async throws {
        let line = [UInt8]("220 ".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 10_000_000) + Array("\r\n".utf8)
        let peer = try await ScriptedPeer.start(onConnect: { context, _ in
            context.writeAndFlush(NIOAny(context.channel.allocator.buffer(bytes: line)), promise: nil)
        })
        defer { Task { await peer.stop() } }
        let process = try await NetworkProcess.connect(name: "long", host: "127.0.0.1", port: peer.port)
        defer { Task { await process.delete() } }
        let match = try await process.expect(try pattern(#"^220 [^\r\n]*\r\n"#), timeout: .seconds(30))
        #expect(match.matched.count == line.count)
        #expect(await process.snapshot().bufferedBytes == 0)
    }

    @Test("NUL bytes and invalid UTF-8 are matched as bytes and kept exactly")
    func nulAndInvalidUTF8() async throws {
        let hostile: [UInt8] = Array("220 a".utf8) + [0x00, 0x62, 0xFF, 0xFE, 0xC3, 0x28, 0xED, 0xA0, 0x80] + Array("\r\n".utf8)
        let peer = try await ScriptedPeer.start(onConnect: { context, _ in
            context.writeAndFlush(NIOAny(context.channel.allocator.buffer(bytes: hostile)), promise: nil)
        })
        defer { Task { await peer.stop() } }
        let log = EventLog()
        let process = try await NetworkProcess.connect(name: "bytes", host: "127.0.0.1", port: peer.port, options: Self.options()) {
            log.add($0)
        }
        defer { Task { await process.delete() } }
        let match = try await process.expect(try pattern(#"^220 a\x00b\xff\xfe\xc3\(\xed\xa0\x80\r\n"#), timeout: .seconds(10))
        #expect(match.matched == hostile)
        #expect(log.received == hostile)
    }

    @Test("a close in the middle of a multi-line reply fails the expect as closed by the peer, with the partial reply")
    func closeMidMultiline() async throws {
        let peer = try await ScriptedPeer.start(
            onConnect: { context, _ in context.send("220 ready\r\n") },
            onRead: { context, _ in
                context.send("250-mail.test\r\n250-PIPELINING\r\n")
                context.close(promise: nil)
            }
        )
        defer { Task { await peer.stop() } }
        let process = try await NetworkProcess.connect(name: "cut", host: "127.0.0.1", port: peer.port, options: Self.options())
        defer { Task { await process.delete() } }
        _ = try await process.expect(try pattern(#"^220 [^\n]*\n"#), timeout: .seconds(10))
        try await process.send(Array("EHLO client.test\r\n".utf8))
        // The SMTP preset's whole-reply pattern.
        let error = await networkError {
            _ = try await process.expect(try pattern(#"^(?:[0-9]{3}-[^\n]*\n)*[0-9]{3} [^\n]*\n"#), timeout: .seconds(10))
        }
        #expect(error?.kind == .closedByPeer)
        #expect(error?.wait == .expect)
        #expect(error?.deadline == nil)
        #expect(error?.tail == Array("250-mail.test\r\n250-PIPELINING\r\n".utf8))
        #expect(await process.snapshot().status == .closed)
    }
}

// MARK: - Helpers

/// Counts bytes from the event loop, read from the test.
final class ByteCounter: Sendable {
    private let total = Locked(0)

    func add(_ count: Int) {
        total.withLock { $0 += count }
    }

    var value: Int {
        total.withLock { $0 }
    }
}

/// A loopback TLS server that sends one greeting and then closes the TCP connection without a
/// TLS close_notify (a truncation attack, or a crashed server).
final class RaggedTLSPeer: @unchecked Sendable {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Starts listening on 127.0.0.1 and a free port.
    ///
    /// - Parameter greeting: the text sent under TLS once the handshake completes.
    static func start(greeting: String) async throws -> RaggedTLSPeer {
        let context = try FixtureCertificates.serverContext()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    // The bottom handler lets the app close the socket below the TLS handler, so
                    // no close_notify is sent.
                    let bottom = BottomHandler()
                    try child.pipeline.syncOperations.addHandler(bottom)
                    try child.pipeline.syncOperations.addHandler(GnuTLSHandler(context: context))
                    try child.pipeline.syncOperations.addHandler(RaggedApp(greeting: greeting, bottom: bottom))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return RaggedTLSPeer(channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }
}

/// Remembers its context so the socket can be closed from below the TLS handler.
private final class BottomHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }
}

/// Sends the greeting after the handshake, then closes the socket beneath TLS.
private final class RaggedApp: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let greeting: String
    let bottom: BottomHandler

    init(greeting: String, bottom: BottomHandler) {
        self.greeting = greeting
        self.bottom = bottom
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? GnuTLSEvent {
            let bottom = self.bottom
            context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: greeting))).whenComplete { _ in
                bottom.context?.close(promise: nil)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}
