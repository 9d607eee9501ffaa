// SPDX-License-Identifier: Apache-2.0

import GnuTLSNIO
import NIOCore
import NIOPosix
import ParleyTestSupport
import Testing

/// Fails `promise` if it is still pending after `seconds`.
private func deadline<T>(_ promise: EventLoopPromise<T>, seconds: Int64 = 30, what: String) {
    let task = promise.futureResult.eventLoop.scheduleTask(in: .seconds(seconds)) {
        promise.fail(TimedOut(what: what))
    }
    promise.futureResult.whenComplete { _ in task.cancel() }
}

/// Server side: echoes every plaintext read back.
private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}

/// Client side: completes promises on handshake, on `expected` echoed bytes, and on close.
private final class ClientCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let handshake: EventLoopPromise<TLSSessionInfo>
    let echoed: EventLoopPromise<[UInt8]>
    let expected: Int
    /// With autoRead off: ask for the next read after each burst until everything has arrived.
    let readsManually: Bool
    private var received: [UInt8] = []

    init(
        handshake: EventLoopPromise<TLSSessionInfo>,
        echoed: EventLoopPromise<[UInt8]>,
        expected: Int,
        readsManually: Bool = false
    ) {
        self.handshake = handshake
        self.echoed = echoed
        self.expected = expected
        self.readsManually = readsManually
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.readsManually, !self.received.isEmpty, self.received.count < self.expected {
            context.read()
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let info) = event as? GnuTLSEvent {
            self.handshake.succeed(info)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        self.received += buffer.readBytes(length: buffer.readableBytes) ?? []
        if self.received.count >= self.expected {
            self.echoed.succeed(self.received)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.handshake.fail(error)
        self.echoed.fail(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.handshake.fail(ChannelError.ioOnClosedChannel)
        self.echoed.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }
}

/// Records the server-side session facts and the close_notify event.
private final class ServerWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let info: EventLoopPromise<TLSSessionInfo>
    let closeNotify: EventLoopPromise<Void>

    init(info: EventLoopPromise<TLSSessionInfo>, closeNotify: EventLoopPromise<Void>) {
        self.info = info
        self.closeNotify = closeNotify
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event as? GnuTLSEvent {
        case .handshakeCompleted(let info): self.info.succeed(info)
        case .closeNotifyReceived: self.closeNotify.succeed(())
        case nil: break
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.info.fail(error)
        self.closeNotify.fail(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.info.fail(ChannelError.ioOnClosedChannel)
        self.closeNotify.fail(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }
}

/// A bound echo server with the server-role TLS handler.
private func startEchoServer(
    on loop: any EventLoop,
    context: GnuTLSContext,
    info: EventLoopPromise<TLSSessionInfo>,
    closeNotify: EventLoopPromise<Void>
) async throws -> any Channel {
    try await ServerBootstrap(group: loop)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandlers(
                    GnuTLSHandler(context: context),
                    ServerWatcher(info: info, closeNotify: closeNotify),
                    EchoHandler()
                )
            }
        }
        .bind(host: "127.0.0.1", port: 0)
        .get()
}

@Suite("GnuTLSHandler over loopback TCP")
struct GnuTLSLoopbackTests {
    @Test("with autoRead off the handler reads for the handshake by itself")
    func autoReadOff() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let clientContext = try FixtureCertificates.clientContext()
        let serverInfo = loop.makePromise(of: TLSSessionInfo.self)
        let serverCloseNotify = loop.makePromise(of: Void.self)
        deadline(serverInfo, what: "the server's handshake")
        deadline(serverCloseNotify, what: "the server's close_notify")
        let server = try await startEchoServer(
            on: loop,
            context: try FixtureCertificates.serverContext(),
            info: serverInfo,
            closeNotify: serverCloseNotify
        )
        let port = try #require(server.localAddress?.port)

        let handshake = loop.makePromise(of: TLSSessionInfo.self)
        let echoed = loop.makePromise(of: [UInt8].self)
        deadline(handshake, what: "the client's handshake")
        deadline(echoed, what: "the echo")
        let data = payload(50_000)
        let client = try await ClientBootstrap(group: loop)
            .channelOption(.autoRead, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        GnuTLSHandler(context: clientContext, serverHostname: "mail.test"),
                        ClientCollector(handshake: handshake, echoed: echoed, expected: data.count, readsManually: true)
                    )
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()

        do {
            let info = try await handshake.futureResult.get()
            #expect(info.serverName == "mail.test")
            #expect(info.verified)
            try await client.writeAndFlush(ByteBuffer(bytes: data)).get()
            client.read()  // the one read a stopped process's "continue" would issue
            #expect(try await echoed.futureResult.get() == data)
            try await client.close().get()
            try await serverCloseNotify.futureResult.get()
        } catch {
            try? await client.close().get()
            try? await server.close().get()
            try await group.shutdownGracefully()
            throw error
        }
        try await server.close().get()
        try await group.shutdownGracefully()
    }

    @Test("a NIOPosix client and server handshake, echo 100 KB and close with close_notify")
    func loopbackEcho() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let serverContext = try FixtureCertificates.serverContext()
        let clientContext = try FixtureCertificates.clientContext()

        let serverInfo = loop.makePromise(of: TLSSessionInfo.self)
        let serverCloseNotify = loop.makePromise(of: Void.self)
        deadline(serverInfo, what: "the server's handshake")
        deadline(serverCloseNotify, what: "the server's close_notify")

        let server = try await startEchoServer(
            on: loop,
            context: serverContext,
            info: serverInfo,
            closeNotify: serverCloseNotify
        )
        let port = try #require(server.localAddress?.port)

        let data = payload(100 * 1024)
        let handshake = loop.makePromise(of: TLSSessionInfo.self)
        let echoed = loop.makePromise(of: [UInt8].self)
        deadline(handshake, what: "the client's handshake")
        deadline(echoed, what: "the echo")

        let client = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        GnuTLSHandler(context: clientContext, serverHostname: "localhost"),
                        ClientCollector(handshake: handshake, echoed: echoed, expected: data.count)
                    )
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()

        do {
            // Written before the handshake completes: the handler holds it until then.
            try await client.writeAndFlush(ByteBuffer(bytes: data)).get()
            let info = try await handshake.futureResult.get()
            #expect(info.protocolVersion == "TLS1.3")
            #expect(info.verified)
            #expect(info.serverName == "localhost")
            #expect(info.peerCertificates.first?.subject.contains("CN=localhost") == true)
            #expect(info.peerCertificates.first?.subjectAlternativeNames.contains("DNS:mail.test") == true)

            let back = try await echoed.futureResult.get()
            #expect(back == data)
            let fromServer = try await serverInfo.futureResult.get()
            #expect(fromServer.serverName == "localhost")
            #expect(fromServer.cipherSuite == info.cipherSuite)

            try await client.close().get()
            try await serverCloseNotify.futureResult.get()
        } catch {
            try? await client.close().get()
            try? await server.close().get()
            try await group.shutdownGracefully()
            throw error
        }
        try await server.close().get()
        try await group.shutdownGracefully()
    }
}
