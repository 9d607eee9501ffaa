// SPDX-License-Identifier: Apache-2.0
import GnuTLSNIO
import NIOCore
import NIOPosix
import ParleyTestSupport

/// What the test client observed, in order.
enum ClientEvent: Sendable, Equatable {
    /// One complete SMTP reply (all its lines, each with CRLF).
    case reply([UInt8])
    /// The client-side TLS handshake completed.
    case tlsEstablished(TLSSessionInfo)
    /// The connection reported an error.
    case error(String)
    /// The connection closed.
    case closed
}

/// A queue of client events bound to the channel's event loop; a waiter gets the next event or
/// fails after its deadline.
final class ClientEventQueue: Sendable {
    /// Events not yet taken, and the pending waiter.
    private struct State {
        var events: [ClientEvent] = []
        var waiter: EventLoopPromise<ClientEvent>?
    }

    let eventLoop: any EventLoop
    private let state: NIOLoopBoundBox<State>

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.state = .makeBoxSendingValue(State(), eventLoop: eventLoop)
    }

    /// Adds an event (on the event loop).
    func push(_ event: ClientEvent) {
        if let waiter = state.value.waiter {
            state.value.waiter = nil
            waiter.succeed(event)
        } else {
            state.value.events.append(event)
        }
    }

    /// The next event, waiting at most `seconds`.
    func next(within seconds: Int64 = 30, what: String) async throws -> ClientEvent {
        try await eventLoop.flatSubmit { () -> EventLoopFuture<ClientEvent> in
            if !self.state.value.events.isEmpty {
                return self.eventLoop.makeSucceededFuture(self.state.value.events.removeFirst())
            }
            let promise = self.eventLoop.makePromise(of: ClientEvent.self)
            self.state.value.waiter = promise
            let timeout = self.eventLoop.scheduleTask(in: .seconds(seconds)) {
                if self.state.value.waiter?.futureResult === promise.futureResult {
                    self.state.value.waiter = nil
                }
                promise.fail(TimedOut(what: what))
            }
            promise.futureResult.whenComplete { _ in timeout.cancel() }
            return promise.futureResult
        }.get()
    }
}

/// Frames server bytes into SMTP replies and reports TLS and connection events.
final class ReplyCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let queue: ClientEventQueue
    private var pending: [UInt8] = []
    private var replyLines: [UInt8] = []

    init(queue: ClientEventQueue) {
        self.queue = queue
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        pending += buffer.readBytes(length: buffer.readableBytes) ?? []
        while let lf = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let line = Array(pending[...lf])
            pending.removeSubrange(...lf)
            replyLines += line
            // The last line of a reply has a space (or nothing) after the three-digit code.
            if line.count < 5 || line[3] != UInt8(ascii: "-") {
                queue.push(.reply(replyLines))
                replyLines = []
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let info) = event as? GnuTLSEvent {
            queue.push(.tlsEstablished(info))
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        queue.push(.error("\(error)"))
    }

    func channelInactive(context: ChannelHandlerContext) {
        queue.push(.closed)
        context.fireChannelInactive()
    }
}

/// A minimal SMTP client over NIOPosix for the loopback tests.
struct SMTPTestClient: Sendable {
    let channel: any Channel
    let events: ClientEventQueue

    /// Connects to a loopback server.
    static func connect(port: Int, group: any EventLoopGroup) async throws -> SMTPTestClient {
        let loop = group.next()
        let events = ClientEventQueue(eventLoop: loop)
        let channel = try await ClientBootstrap(group: loop)
            .connectTimeout(.seconds(30))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReplyCollector(queue: events))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return SMTPTestClient(channel: channel, events: events)
    }

    /// Sends bytes as they are.
    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// The next event within the deadline.
    func next(_ what: String) async throws -> ClientEvent {
        try await events.next(what: what)
    }

    /// Puts a client-role TLS handler at the front of the pipeline (STARTTLS).
    func startTLS(context: GnuTLSContext, serverHostname: String) async throws {
        try await channel.addClientTLS(context, serverHostname: serverHostname)
    }
}
