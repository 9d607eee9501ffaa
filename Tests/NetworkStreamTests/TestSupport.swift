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

/// The fake SMTP server with STARTTLS and the test PKI's server certificate.
func smtpConfiguration(starttls: Bool = true) throws -> FakeSMTPServer.Configuration {
    var configuration = FakeSMTPServer.Configuration()
    configuration.offerStartTLS = starttls
    configuration.tls = try FixtureCertificates.serverContext()
    return configuration
}

/// A pattern with the scenario defaults (multiline).
func pattern(_ source: String) throws -> BytePattern {
    try BytePattern(source, options: [.multiline])
}

/// Collects a connection's events for later inspection.
typealias EventLog = Collector<ProcessEvent>

extension Collector<ProcessEvent> {
    /// Every byte received, in order.
    var received: [UInt8] {
        all.flatMap { event -> [UInt8] in
            if case .received(let bytes, _) = event { return bytes }
            return []
        }
    }

    /// Every byte discarded after a go-ahead.
    var discarded: [UInt8] {
        all.flatMap { event -> [UInt8] in
            if case .discarded(let bytes) = event { return bytes }
            return []
        }
    }
}

/// A loopback TCP server whose behaviour each test scripts: `onConnect` runs when a client
/// connects, `onRead` for each chunk it sends. Both run on the event loop.
final class ScriptedPeer: @unchecked Sendable {
    typealias Action = @Sendable (ChannelHandlerContext, ByteBuffer?) -> Void

    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Starts listening on 127.0.0.1 and a free port.
    static func start(onConnect: @escaping Action = { _, _ in }, onRead: @escaping Action = { _, _ in }) async throws -> ScriptedPeer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(ScriptHandler(onConnect: onConnect, onRead: onRead))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return ScriptedPeer(channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }
}

private final class ScriptHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let onConnect: ScriptedPeer.Action
    let onRead: ScriptedPeer.Action

    init(onConnect: @escaping ScriptedPeer.Action, onRead: @escaping ScriptedPeer.Action) {
        self.onConnect = onConnect
        self.onRead = onRead
    }

    func channelActive(context: ChannelHandlerContext) {
        onConnect(context, nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        onRead(context, unwrapInboundIn(data))
    }
}

extension ChannelHandlerContext {
    /// Writes and flushes bytes from a string literal.
    func send(_ text: String) {
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        writeAndFlush(NIOAny(buffer), promise: nil)
    }
}

/// Runs `body` and returns the `NetworkError` it throws, or nil when it throws nothing.
func networkError(_ body: () async throws -> Void) async -> NetworkError? {
    do {
        try await body()
        return nil
    } catch let error as NetworkError {
        return error
    } catch {
        Issue.record("unexpected error: \(error)")
        return nil
    }
}

/// A loopback port that refuses connections for as long as the returned socket stays open: it
/// is bound but never listens, so no other test can take the port meanwhile (a port that was
/// bound and closed could be reused by a parallel test's server).
func refusingPort() throws -> (socket: Int32, port: Int) {
    let (descriptor, port) = try LoopbackSocket.bind()
    return (descriptor, port)
}

/// SMTP's STARTTLS on `process`: the command, the reply line, 220 as the go-ahead, and the test CA.
func smtpStartTLS(
    _ process: NetworkProcess,
    serverHostname: String,
    timeout: Duration
) async throws -> NetworkProcess.StartTLSResult {
    try await process.startTLS(
        command: Array("STARTTLS\r\n".utf8),
        reply: try pattern(#"^[0-9]{3} [^\n]*\n"#),
        success: try pattern("^220 "),
        context: try FixtureCertificates.clientContext(),
        serverHostname: serverHostname,
        replyTimeout: timeout,
        handshakeTimeout: timeout
    )
}
