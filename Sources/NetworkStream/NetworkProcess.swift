// SPDX-License-Identifier: Apache-2.0
public import GnuTLSNIO
public import NIOCore
internal import NIOConcurrencyHelpers
internal import NIOPosix
public import Patterns

/// One network connection: a receive buffer matched by patterns, sends, and an in-place TLS
/// upgrade.
///
/// All mutable state lives on the channel's event loop; the async methods hop there. That is
/// what makes the STARTTLS upgrade exact: the go-ahead is matched and the TLS handler inserted in
/// one event-loop turn, so no plaintext byte that follows the go-ahead can reach the scenario.
public final class NetworkProcess: @unchecked Sendable {
    /// Options for opening a connection.
    public struct ConnectOptions: Sendable {
        /// The connect deadline.
        public var timeout: Duration = .seconds(10)
        /// TLS from the first byte (implicit TLS), with the host name to verify and send as SNI.
        public var tls: (context: GnuTLSContext, serverHostname: String?)?
        /// The handshake deadline for implicit TLS.
        public var handshakeTimeout: Duration = .seconds(10)
        /// The most bytes kept while waiting for a match.
        public var receiveLimit: Int = 16 * 1024 * 1024
        /// The event loops to run on.
        public var group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton

        /// Creates default options.
        public init() {}
    }

    /// The name of the connection, for transcripts.
    public let name: String
    /// The peer as the caller named it (`host:port`).
    public let peer: String
    /// The event loop that owns this connection's state.
    public let eventLoop: any EventLoop

    private let channel: any Channel
    private let observer: @Sendable (ProcessEvent) -> Void

    // Event-loop confined state.
    private var matcher: StreamMatcher
    private var status: ProcessStatus = .open
    private var peerClosed = false
    private var closingLocally = false
    private var tlsInfo: TLSSessionInfo?
    private var tlsActive = false
    private var discardedBytes = 0
    private var waiter: MatchWaiter?
    private var handshake: HandshakeWaiter?
    private var pendingError: NetworkError?

    /// An `expect` in progress.
    private struct MatchWaiter {
        var pattern: BytePattern
        var promise: EventLoopPromise<StreamMatch>
        var timeout: Scheduled<Void>
        var wait: Wait
        var deadline: Duration
        /// Runs on the event loop right after the match, before any further read.
        var onMatch: (@Sendable (StreamMatch) -> Void)?
    }

    /// A TLS handshake in progress.
    private struct HandshakeWaiter {
        var promise: EventLoopPromise<TLSSessionInfo>
        var timeout: Scheduled<Void>
        var deadline: Duration
    }

    private init(
        name: String,
        peer: String,
        channel: any Channel,
        receiveLimit: Int,
        observer: @escaping @Sendable (ProcessEvent) -> Void
    ) {
        self.name = name
        self.peer = peer
        self.channel = channel
        self.eventLoop = channel.eventLoop
        self.matcher = StreamMatcher(limit: receiveLimit)
        self.observer = observer
    }

    // MARK: - Opening

    /// Opens a TCP connection (and, with `options.tls`, a TLS session on it).
    ///
    /// - Parameters:
    ///   - name: the connection's name in transcripts.
    ///   - host: a host name or address.
    ///   - port: the TCP port.
    ///   - options: deadlines, TLS, limits.
    ///   - observer: receives every event, on the event loop; it must not block.
    /// - Returns: the open connection.
    /// - Throws: `NetworkError` (`.connectFailed`, `.timeout` naming the connect or handshake
    ///   wait, `.tls`).
    public static func connect(
        name: String,
        host: String,
        port: Int,
        options: ConnectOptions = ConnectOptions(),
        observer: @escaping @Sendable (ProcessEvent) -> Void = { _ in }
    ) async throws(NetworkError) -> NetworkProcess {
        let bridge = HandlerBridge()
        let bootstrap = ClientBootstrap(group: options.group)
            .connectTimeout(TimeAmount(options.timeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ProcessChannelHandler(bridge: bridge))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch ChannelError.connectTimeout {
            throw NetworkError(
                .timeout,
                wait: .connect,
                deadline: options.timeout,
                message: "timed out after \(options.timeout.secondsText) waiting for \(Wait.connect) to \(host):\(port)"
            )
        } catch {
            throw NetworkError(.connectFailed, wait: .connect, message: "cannot connect to \(host):\(port): \(describe(error))")
        }
        let process = NetworkProcess(
            name: name,
            peer: "\(host):\(port)",
            channel: channel,
            receiveLimit: options.receiveLimit,
            observer: observer
        )
        let local = channel.localAddress.map(describeAddress) ?? "?"
        let remote = channel.remoteAddress.map(describeAddress) ?? "\(host):\(port)"
        // Attach on the loop: reads that raced ahead of us were queued by the bridge.
        try? await channel.eventLoop.submit {
            process.observer(.connected(local: local, remote: remote))
            bridge.attach(process)
        }.get()
        if let tls = options.tls {
            _ = try await process.startTLS(
                context: tls.context,
                serverHostname: tls.serverHostname,
                timeout: options.handshakeTimeout
            )
        }
        return process
    }

    // MARK: - Sending

    /// Writes bytes exactly as given, in one write.
    ///
    /// - Throws: `NetworkError.notOpen` when the connection is not open.
    public func send(_ bytes: [UInt8]) async throws(NetworkError) {
        let future = eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
            self.sendOnLoop(bytes)
        }
        do {
            try await future.get()
        } catch let error as NetworkError {
            throw error
        } catch {
            throw NetworkError(.notOpen, message: "cannot send to \(peer): \(describe(error))")
        }
    }

    private func sendOnLoop(_ bytes: [UInt8]) -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        guard status == .open, channel.isActive else {
            return eventLoop.makeFailedFuture(
                NetworkError(.notOpen, message: "cannot send: the connection to \(peer) is \(status.rawValue)")
            )
        }
        observer(.sent(bytes, tls: tlsActive))
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        return channel.writeAndFlush(buffer)
    }

    // MARK: - Matching

    /// Waits until the received bytes match `pattern`, and consumes them through the match.
    ///
    /// - Parameters:
    ///   - pattern: the pattern to wait for.
    ///   - timeout: the deadline.
    ///   - wait: which wait this is, for the error.
    /// - Returns: the match, with the number of bytes passed over before it.
    /// - Throws: `NetworkError` (`.timeout`, `.closedByPeer`, `.bufferLimit`, `.tls`).
    public func expect(
        _ pattern: BytePattern,
        timeout: Duration,
        wait: Wait = .expect
    ) async throws(NetworkError) -> StreamMatch {
        try await expect(pattern, timeout: timeout, wait: wait, onMatch: nil)
    }

    private func expect(
        _ pattern: BytePattern,
        timeout: Duration,
        wait: Wait,
        onMatch: (@Sendable (StreamMatch) -> Void)?
    ) async throws(NetworkError) -> StreamMatch {
        let future = eventLoop.flatSubmit { () -> EventLoopFuture<StreamMatch> in
            self.expectOnLoop(pattern, timeout: timeout, wait: wait, onMatch: onMatch)
        }
        do {
            return try await future.get()
        } catch let error as NetworkError {
            throw error
        } catch {
            throw NetworkError(.notOpen, wait: wait, message: describe(error))
        }
    }

    private func expectOnLoop(
        _ pattern: BytePattern,
        timeout: Duration,
        wait: Wait,
        onMatch: (@Sendable (StreamMatch) -> Void)?
    ) -> EventLoopFuture<StreamMatch> {
        eventLoop.preconditionInEventLoop()
        guard waiter == nil else {
            return eventLoop.makeFailedFuture(NetworkError(.busy, wait: wait, message: "another wait is in progress"))
        }
        let promise = eventLoop.makePromise(of: StreamMatch.self)
        let timeoutTask = eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
            guard let current = waiter, current.promise.futureResult === promise.futureResult else { return }
            waiter = nil
            promise.fail(
                NetworkError(
                    .timeout,
                    wait: wait,
                    deadline: timeout,
                    message: "timed out after \(timeout.secondsText) waiting for \(wait)",
                    tail: matcher.tail(Self.tailSize)
                )
            )
        }
        waiter = MatchWaiter(
            pattern: pattern,
            promise: promise,
            timeout: timeoutTask,
            wait: wait,
            deadline: timeout,
            onMatch: onMatch
        )
        advanceWaiter()
        return promise.futureResult
    }

    /// How many trailing bytes an error report carries.
    static let tailSize = 512

    /// Tries the pending wait against what has been received; completes it when it can.
    private func advanceWaiter() {
        guard let current = waiter else { return }
        switch matcher.search(current.pattern, atEnd: peerClosed) {
        case .matched(let match):
            waiter = nil
            current.timeout.cancel()
            current.onMatch?(match)
            current.promise.succeed(match)
        case .limitExceeded:
            waiter = nil
            current.timeout.cancel()
            current.promise.fail(
                NetworkError(
                    .bufferLimit,
                    wait: current.wait,
                    message: "the receive buffer reached its limit while waiting for \(current.wait)",
                    tail: matcher.tail(Self.tailSize)
                )
            )
        case .needMore:
            if let pendingError {
                waiter = nil
                current.timeout.cancel()
                var error = pendingError
                error.wait = current.wait
                error.tail = matcher.tail(Self.tailSize)
                current.promise.fail(error)
            } else if peerClosed {
                waiter = nil
                current.timeout.cancel()
                current.promise.fail(
                    NetworkError(
                        .closedByPeer,
                        wait: current.wait,
                        message: "the peer closed the connection while waiting for \(current.wait)",
                        tail: matcher.tail(Self.tailSize)
                    )
                )
            }
        }
    }

    // MARK: - TLS

    /// The outcome of a STARTTLS exchange.
    public struct StartTLSResult: Sendable {
        /// The server's reply to the STARTTLS command.
        public var reply: [UInt8]
        /// The TLS session.
        public var session: TLSSessionInfo
        /// Plaintext that followed the go-ahead and was discarded.
        public var discardedBytes: Int
    }

    /// Sends a STARTTLS command, reads the reply, and upgrades in place when it says go ahead.
    ///
    /// The upgrade happens on the event loop in the same turn as the reply match: whatever
    /// plaintext followed the go-ahead is discarded and reported, never fed to TLS or returned.
    ///
    /// - Parameters:
    ///   - command: the bytes of the command.
    ///   - reply: matches the end of the reply.
    ///   - success: matched against the reply; a match means go ahead.
    ///   - context: the TLS credentials and settings.
    ///   - serverHostname: the name to verify and send as SNI.
    ///   - replyTimeout: the deadline for the reply.
    ///   - handshakeTimeout: the deadline for the handshake.
    /// - Returns: the reply and the TLS session.
    /// - Throws: `NetworkError` (`.starttlsRefused` with the reply in `tail`, `.timeout`, `.tls`).
    public func startTLS(
        command: [UInt8],
        reply: BytePattern,
        success: BytePattern,
        context: GnuTLSContext,
        serverHostname: String?,
        replyTimeout: Duration,
        handshakeTimeout: Duration
    ) async throws(NetworkError) -> StartTLSResult {
        try await send(command)
        // Decided on the loop, in the matching turn: upgrade now or not at all.
        let decision = NIOLockedValueBox<EventLoopFuture<TLSSessionInfo>?>(nil)
        let match = try await expect(reply, timeout: replyTimeout, wait: .starttlsReply) { [self] match in
            guard success.firstMatch(in: match.matched) != nil else { return }
            decision.withLockedValue {
                $0 = self.upgradeOnLoop(context: context, serverHostname: serverHostname, timeout: handshakeTimeout)
            }
        }
        guard let handshake = decision.withLockedValue({ $0 }) else {
            throw NetworkError(
                .starttlsRefused,
                wait: .starttlsReply,
                message: "the server refused STARTTLS",
                tail: match.matched
            )
        }
        let session: TLSSessionInfo
        do {
            session = try await handshake.get()
        } catch let error as NetworkError {
            throw error
        } catch {
            throw NetworkError(.tls, wait: .handshake, message: describe(error))
        }
        let discarded = await (try? eventLoop.submit { self.discardedBytes }.get()) ?? 0
        return StartTLSResult(reply: match.matched, session: session, discardedBytes: discarded)
    }

    /// Starts TLS on the connection now (implicit TLS, or a STARTTLS negotiated by the caller).
    ///
    /// Bytes received and not consumed are discarded first, and reported.
    ///
    /// - Returns: the TLS session.
    /// - Throws: `NetworkError` (`.timeout` naming the handshake, `.tls`).
    public func startTLS(
        context: GnuTLSContext,
        serverHostname: String?,
        timeout: Duration
    ) async throws(NetworkError) -> TLSSessionInfo {
        let future = eventLoop.flatSubmit {
            self.upgradeOnLoop(context: context, serverHostname: serverHostname, timeout: timeout)
        }
        do {
            return try await future.get()
        } catch let error as NetworkError {
            throw error
        } catch {
            throw NetworkError(.tls, wait: .handshake, message: describe(error))
        }
    }

    private func upgradeOnLoop(
        context: GnuTLSContext,
        serverHostname: String?,
        timeout: Duration
    ) -> EventLoopFuture<TLSSessionInfo> {
        eventLoop.preconditionInEventLoop()
        guard status == .open, channel.isActive, !tlsActive, handshake == nil else {
            let why = tlsActive ? "TLS is already active" : "the connection is \(status.rawValue)"
            return eventLoop.makeFailedFuture(NetworkError(.notOpen, wait: .handshake, message: "cannot start TLS: \(why)"))
        }
        // The response-injection defence: plaintext after the go-ahead is never fed to TLS.
        let leftover = matcher.removeAll()
        if !leftover.isEmpty {
            discardedBytes += leftover.count
            observer(.discarded(leftover))
        }
        let promise = eventLoop.makePromise(of: TLSSessionInfo.self)
        let timeoutTask = eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
            guard let current = handshake, current.promise.futureResult === promise.futureResult else { return }
            handshake = nil
            promise.fail(
                NetworkError(
                    .timeout,
                    wait: .handshake,
                    deadline: timeout,
                    message: "timed out after \(timeout.secondsText) waiting for \(Wait.handshake)"
                )
            )
            closingLocally = true
            channel.close(promise: nil)
        }
        handshake = HandshakeWaiter(promise: promise, timeout: timeoutTask, deadline: timeout)
        observer(.handshakeStarted(serverName: serverHostname))
        do {
            let handler = GnuTLSHandler(context: context, serverHostname: serverHostname)
            try channel.pipeline.syncOperations.addHandler(handler, position: .first)
        } catch {
            handshake = nil
            timeoutTask.cancel()
            promise.fail(NetworkError(.tls, wait: .handshake, message: "cannot start TLS: \(describe(error))"))
        }
        return promise.futureResult
    }

    // MARK: - State

    /// The connection's state now.
    public func snapshot() async -> ProcessSnapshot {
        let future = eventLoop.submit {
            ProcessSnapshot(
                status: self.status,
                tls: self.tlsInfo,
                discardedBytes: self.discardedBytes,
                bufferedBytes: self.matcher.bufferedCount
            )
        }
        return (try? await future.get())
            ?? ProcessSnapshot(status: .closed, tls: nil, discardedBytes: 0, bufferedBytes: 0)
    }

    /// Closes our side of the connection (sending close_notify first under TLS).
    public func close() async {
        let future = eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
            guard self.channel.isActive else { return self.eventLoop.makeSucceededVoidFuture() }
            self.closingLocally = true
            return self.channel.close()
        }
        _ = try? await future.get()
        _ = try? await channel.closeFuture.get()
    }

    // MARK: - Channel callbacks (on the event loop)

    fileprivate func didRead(_ buffer: ByteBuffer) {
        let bytes = Array(buffer.readableBytesView)
        observer(.received(bytes, tls: tlsActive))
        matcher.append(bytes)
        advanceWaiter()
    }

    fileprivate func didReceive(event: Any) {
        guard let event = event as? GnuTLSEvent else { return }
        switch event {
        case .handshakeCompleted(let info):
            tlsActive = true
            tlsInfo = info
            observer(.tlsEstablished(info))
            if let current = handshake {
                handshake = nil
                current.timeout.cancel()
                current.promise.succeed(info)
            }
        case .closeNotifyReceived:
            break
        }
    }

    fileprivate func didCatch(_ error: any Error) {
        let networkError: NetworkError
        if let tlsError = error as? GnuTLSError {
            networkError = NetworkError(.tls, message: "TLS: \(tlsError)", tlsError: tlsError)
        } else {
            networkError = NetworkError(.closedByPeer, message: "connection error: \(describe(error))")
        }
        if let current = handshake {
            handshake = nil
            current.timeout.cancel()
            var e = networkError
            e.wait = .handshake
            current.promise.fail(e)
            return
        }
        if pendingError == nil { pendingError = networkError }
        advanceWaiter()
    }

    fileprivate func didClose() {
        peerClosed = true
        let byPeer = status == .open && !closingLocally
        status = .closed
        observer(.closed(byPeer: byPeer))
        if let current = handshake {
            handshake = nil
            current.timeout.cancel()
            current.promise.fail(
                pendingError.map { var e = $0; e.wait = .handshake; return e }
                    ?? NetworkError(.closedByPeer, wait: .handshake, message: "the connection closed during the TLS handshake")
            )
        }
        advanceWaiter()
    }
}

// MARK: - Pipeline tail

/// Lets the channel handler exist before the process object does: events that arrive before
/// `attach` are queued and replayed in order.
private final class HandlerBridge: @unchecked Sendable {
    private var process: NetworkProcess?
    private var queued: [(NetworkProcess) -> Void] = []

    func deliver(_ action: @escaping (NetworkProcess) -> Void) {
        if let process { action(process) } else { queued.append(action) }
    }

    func attach(_ process: NetworkProcess) {
        self.process = process
        let pending = queued
        queued = []
        for action in pending { action(process) }
    }
}

/// The last handler of a connection's pipeline: hands bytes, events and errors to the process.
private final class ProcessChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let bridge: HandlerBridge

    init(bridge: HandlerBridge) {
        self.bridge = bridge
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        bridge.deliver { $0.didRead(buffer) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        nonisolated(unsafe) let event = event
        bridge.deliver { $0.didReceive(event: event) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        bridge.deliver { $0.didCatch(error) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        bridge.deliver { $0.didClose() }
    }
}

@available(*, unavailable)
extension ProcessChannelHandler: Sendable {}

// MARK: - Helpers

/// An error as a short sentence.
func describe(_ error: any Error) -> String {
    if let error = error as? NIOConnectionError {
        let reasons = error.connectionErrors.map { "\(describeAddress($0.target)): \(describe($0.error))" }
        if let dns = error.dnsAAAAError ?? error.dnsAError, reasons.isEmpty {
            return "cannot resolve \(error.host): \(dns)"
        }
        return reasons.isEmpty ? "\(error)" : reasons.joined(separator: "; ")
    }
    if let error = error as? IOError {
        return error.description
    }
    return "\(error)"
}

/// `host:port`, or `[v6]:port`.
func describeAddress(_ address: SocketAddress) -> String {
    switch address {
    case .v4: return "\(address.ipAddress ?? "?"):\(address.port ?? 0)"
    case .v6: return "[\(address.ipAddress ?? "?")]:\(address.port ?? 0)"
    case .unixDomainSocket: return address.pathname ?? "unix"
    }
}

extension TimeAmount {
    /// The same span as a `TimeAmount`.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
