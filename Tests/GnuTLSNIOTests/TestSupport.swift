// SPDX-License-Identifier: Apache-2.0

import GnuTLSNIO
import NIOCore
import NIOEmbedded
import NIOTLS
import Testing

/// Sits above the TLS handler and remembers everything that reaches it.
final class Recorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    /// All plaintext received, concatenated.
    var received: [UInt8] = []
    /// The number of `channelRead` calls.
    var readCount = 0
    /// `GnuTLSEvent`s in order.
    var events: [GnuTLSEvent] = []
    /// NIOTLS events in order.
    var nioEvents: [TLSUserEvent] = []
    /// Errors in order (not passed on, so EmbeddedChannel does not rethrow them).
    var errors: [any Error] = []
    /// Whether `channelInactive` arrived.
    var inactive = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        self.readCount += 1
        self.received += buffer.readBytes(length: buffer.readableBytes) ?? []
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? GnuTLSEvent { self.events.append(event) }
        if let event = event as? TLSUserEvent { self.nioEvents.append(event) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.errors.append(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.inactive = true
        context.fireChannelInactive()
    }

    /// The session facts from the handshake-completed event, if any.
    var sessionInfo: TLSSessionInfo? {
        for case .handshakeCompleted(let info) in self.events { return info }
        return nil
    }

    /// Whether a close_notify-received event arrived.
    var sawCloseNotify: Bool {
        self.events.contains { if case .closeNotifyReceived = $0 { true } else { false } }
    }

    /// The recorded errors that are `GnuTLSError`s.
    var tlsErrors: [GnuTLSError] { self.errors.compactMap { $0 as? GnuTLSError } }
}

/// A client and a server EmbeddedChannel wired back to back through a pump.
struct BackToBack {
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    let clientRecorder = Recorder()
    let serverRecorder = Recorder()

    /// Builds both pipelines: optionally the TLS handler first, then a recorder.
    init(
        clientContext: GnuTLSContext,
        serverContext: GnuTLSContext,
        serverHostname: String? = "localhost",
        addTLS: Bool = true
    ) throws {
        self.client = EmbeddedChannel()
        self.server = EmbeddedChannel()
        if addTLS {
            try self.client.pipeline.syncOperations.addHandler(
                GnuTLSHandler(context: clientContext, serverHostname: serverHostname)
            )
            try self.server.pipeline.syncOperations.addHandler(GnuTLSHandler(context: serverContext))
        }
        try self.client.pipeline.syncOperations.addHandler(self.clientRecorder)
        try self.server.pipeline.syncOperations.addHandler(self.serverRecorder)
    }

    /// Makes both channels active (which starts the handshakes when the TLS handlers are in).
    func connect() throws {
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try self.server.connect(to: address).wait()
        try self.client.connect(to: address).wait()
    }

    /// Moves bytes between the two channels until neither has anything left to send.
    ///
    /// - Returns: The number of rounds that moved data.
    @discardableResult
    func interact(sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        var rounds = 0
        while rounds < 1000 {
            let fromClient = try self.client.readOutbound(as: ByteBuffer.self)
            let fromServer = try self.server.readOutbound(as: ByteBuffer.self)
            if fromClient == nil, fromServer == nil { return rounds }
            rounds += 1
            if let fromClient, self.server.isActive { try self.server.writeInbound(fromClient) }
            if let fromServer, self.client.isActive { try self.client.writeInbound(fromServer) }
        }
        Issue.record("the pump did not settle in 1000 rounds", sourceLocation: sourceLocation)
        return rounds
    }

    /// Writes and flushes bytes from one side.
    func send(_ bytes: [UInt8], from channel: EmbeddedChannel) {
        channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
    }

    /// Finishes both channels, ignoring leftover data.
    func finish() {
        _ = try? self.client.finish(acceptAlreadyClosed: true)
        _ = try? self.server.finish(acceptAlreadyClosed: true)
    }
}

/// `count` bytes of a repeating, position-dependent pattern (so reordering would show).
func payload(_ count: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
}
