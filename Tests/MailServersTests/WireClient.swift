// SPDX-License-Identifier: Apache-2.0
import GnuTLSNIO
import MailServers
import NIOCore
import NIOPosix
import ParleyTestSupport
import Testing

/// What a ``WireClient`` observed so far.
struct WireState: Sendable {
    /// Received bytes not yet consumed by a read.
    var unread: [UInt8] = []
    /// Every received byte, in order.
    var all: [UInt8] = []
    /// The size of each channel read, in order (the tarpit test counts them).
    var readSizes: [Int] = []
    /// When the channel became active, and when its first byte arrived (on the event loop, so
    /// the test's own scheduling does not move them).
    var activeAt: ContinuousClock.Instant?
    var firstByteAt: ContinuousClock.Instant?
    /// The client-side TLS session, once its handshake completed.
    var tls: TLSSessionInfo?
    /// The first error the channel reported.
    var error: String?
    /// Whether the connection closed.
    var closed = false
}

/// Records everything a connection delivers into a shared ``WireState``.
final class WireRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    let shared: SharedState
    /// The most bytes kept; the recorder closes the connection once it has them (an endless
    /// sender would otherwise fill the test process's memory), or nil for no bound.
    let limit: Int?

    init(shared: SharedState, limit: Int? = nil) {
        self.shared = shared
        self.limit = limit
    }

    func channelActive(context: ChannelHandlerContext) {
        shared.state.withLock { $0.activeAt = .now }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        let full = shared.state.withLock { state -> Bool in
            guard limit.map({ state.all.count < $0 }) ?? true else { return true }
            let kept = limit.map { bytes.prefix($0 - state.all.count) } ?? bytes[...]
            state.unread += kept
            if state.all.isEmpty { state.firstByteAt = .now }
            state.all += kept
            state.readSizes.append(bytes.count)
            return limit.map { state.all.count >= $0 } ?? false
        }
        if full {
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let info) = event as? GnuTLSEvent {
            shared.state.withLock { $0.tls = info }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        shared.state.withLock { if $0.error == nil { $0.error = "\(error)" } }
    }

    func channelInactive(context: ChannelHandlerContext) {
        shared.state.withLock { $0.closed = true }
        context.fireChannelInactive()
    }
}

/// A raw byte client for loopback tests: sends bytes as given, reads bytes until a needle, and
/// can put a TLS handler in front for STARTTLS. Every wait has a deadline.
final class WireClient: Sendable {
    let channel: any Channel
    private let shared: SharedState

    private init(channel: any Channel, shared: SharedState) {
        self.channel = channel
        self.shared = shared
    }

    /// Connects to 127.0.0.1:`port`, with TLS from the first byte when `tls` is given.
    ///
    /// - Parameters:
    ///   - port: the server's port.
    ///   - tls: the client context for TLS from the first byte, or nil.
    ///   - serverHostname: the name TLS verifies.
    ///   - keepAtMost: close the connection once this many bytes arrived (the rest is dropped),
    ///     so that an endless sender cannot fill the test's memory; nil keeps everything.
    static func connect(
        port: Int,
        tls: GnuTLSContext? = nil,
        serverHostname: String = "localhost",
        keepAtMost: Int? = nil
    ) async throws -> WireClient {
        let box = SharedState()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(
                            GnuTLSHandler(context: tls, serverHostname: serverHostname)
                        )
                    }
                    try channel.pipeline.syncOperations.addHandler(WireRecorder(shared: box, limit: keepAtMost))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return WireClient(channel: channel, shared: box)
    }

    /// Sends bytes exactly as given, in one write.
    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// A snapshot of what was observed.
    var snapshot: WireState { shared.state.withLock { $0 } }

    /// Waits until `condition` holds on the state, polling every 10 ms.
    ///
    /// - Returns: whether it held before the deadline.
    func wait(seconds: Double = 30, _ condition: (WireState) -> Bool) async throws -> Bool {
        let held = await eventually(.milliseconds(Int(seconds * 1000))) { shared.state.withLock { condition($0) } }
        try Task.checkCancellation()
        return held
    }

    /// Reads up to and including `needle`, waiting at most `seconds`; consumes what it returns.
    ///
    /// - Returns: the bytes, or nil (and a recorded issue) when the needle did not arrive in time.
    func read(
        through needle: [UInt8],
        seconds: Double = 30,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [UInt8]? {
        let found = try await wait(seconds: seconds) { $0.unread.firstRange(of: needle) != nil }
        guard found else {
            let unread = snapshot.unread
            Issue.record(
                "no \(String(decoding: needle, as: UTF8.self).debugDescription) within \(seconds) s; unread: \(String(decoding: unread, as: UTF8.self).debugDescription)",
                sourceLocation: sourceLocation
            )
            return nil
        }
        return shared.state.withLock { state in
            let range = state.unread.firstRange(of: needle)!
            let bytes = Array(state.unread[..<range.upperBound])
            state.unread.removeFirst(range.upperBound)
            return bytes
        }
    }

    /// Sends a command line and reads through `needle`.
    func exchange(
        _ line: String,
        through needle: String,
        seconds: Double = 30,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [UInt8]? {
        try await send(Array(line.utf8))
        return try await read(through: Array(needle.utf8), seconds: seconds, sourceLocation: sourceLocation)
    }

    /// Waits for the connection to close.
    func waitForClose(seconds: Double = 30) async throws -> Bool {
        try await wait(seconds: seconds) { $0.closed }
    }

    /// Puts a client-role TLS handler at the front of the pipeline (STARTTLS) and waits for the
    /// handshake to finish or fail.
    ///
    /// - Returns: the session, or nil when the handshake failed or did not finish in time.
    func startTLS(
        _ context: GnuTLSContext,
        serverHostname: String = "localhost",
        seconds: Double = 30
    ) async throws -> TLSSessionInfo? {
        try await channel.addClientTLS(context, serverHostname: serverHostname)
        _ = try await wait(seconds: seconds) { $0.tls != nil || $0.error != nil || $0.closed }
        return snapshot.tls
    }

    /// Closes the connection (ignoring a connection that closed already).
    func close() async {
        try? await channel.close()
    }
}

extension Channel {
    /// Puts a client-role TLS handler at the front of the pipeline (STARTTLS: the handshake
    /// starts at once, on a connection that is already active).
    func addClientTLS(_ context: GnuTLSContext, serverHostname: String) async throws {
        try await eventLoop.submit {
            try self.pipeline.syncOperations.addHandler(
                GnuTLSHandler(context: context, serverHostname: serverHostname),
                position: .first
            )
        }.get()
    }
}

/// Holds the state shared by a client and its recorder.
final class SharedState: Sendable {
    let state = Locked(WireState())
}

/// Test data as text for messages (nil: empty).
func text(_ bytes: [UInt8]?) -> String { String(decoding: bytes ?? [], as: UTF8.self) }

extension Array where Element == UInt8 {
    /// Whether the bytes contain `needle`.
    func contains(_ needle: String) -> Bool { firstRange(of: Array(needle.utf8)) != nil }
}
