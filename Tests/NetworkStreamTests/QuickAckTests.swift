// SPDX-License-Identifier: Apache-2.0
import GnuTLSNIO
import NIOCore
import NIOPosix
import Testing

@testable import NetworkStream

#if canImport(Glibc)
    import Glibc
#endif

/// Answers a reply by sending a command at once, the way a scenario's next `send` follows an
/// `expect`, and reads TCP_QUICKACK right after the flush. Sending just after receiving puts
/// Linux into delayed-ACK ("ping-pong") mode, where the flag reads 0.
private final class CommandAfterReply: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let observed: EventLoopPromise<Int>

    init(observed: EventLoopPromise<Int>) {
        self.observed = observed
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: "EHLO test\r\n")), promise: nil)
        do {
            let value = try context.channel.syncOptions!.getOption(.tcpOption(.init(rawValue: CInt(TCP_QUICKACK))))
            observed.succeed(value)
        } catch {
            observed.fail(error)
        }
    }
}

/// Greets every client and reads what it sends.
private final class Greeter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: "220 hello\r\n")), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

@Suite("Quick ACKs")
struct QuickAckTests {
    @Test("after a command is flushed, TCP_QUICKACK is on: the reply is acknowledged at once")
    func quickAckAfterFlush() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Greeter()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        defer { server.close(promise: nil) }
        let loop = group.next()
        let observed = loop.makePromise(of: Int.self)
        let client = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(QuickAckHandler())
                    try channel.pipeline.syncOperations.addHandler(CommandAfterReply(observed: observed))
                }
            }
            .connect(to: server.localAddress!).get()
        defer { client.close(promise: nil) }
        let timeout = loop.scheduleTask(in: .seconds(20)) { observed.fail(ChannelError.connectTimeout(.seconds(20))) }
        defer { timeout.cancel() }
        #expect(try await observed.futureResult.get() == 1)
    }
}
