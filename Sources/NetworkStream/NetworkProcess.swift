// SPDX-License-Identifier: Apache-2.0
public import GnuTLSNIO
public import NIOCore
internal import NIOConcurrencyHelpers
internal import NIOPosix
public import Patterns

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// One process in Emacs's sense: a TCP, Unix-socket or datagram client, a server, a connection a
/// server accepted, or a shell command's pipes. It has a unique name, a status, a receive buffer
/// matched by patterns (with a read position), an optional filter and sentinel, a plist, and an
/// in-place TLS upgrade.
///
/// All mutable state lives on the process's event loop; the async methods hop there. That is
/// what makes the STARTTLS upgrade exact: the go-ahead is matched and the TLS handler inserted in
/// one event-loop turn, so no plaintext byte that follows the go-ahead can reach the scenario.
/// Filters, sentinels and log functions are called on that event loop too.
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

    /// Called with each chunk of received bytes (at most ``chunkSize`` bytes, or one datagram)
    /// instead of putting them in the receive buffer. Runs on the event loop.
    public typealias Filter = @Sendable (NetworkProcess, [UInt8]) -> Void
    /// Called with each state change as Emacs's event string ("open\n", "deleted\n", …). Runs on
    /// the event loop.
    public typealias Sentinel = @Sendable (NetworkProcess, String) -> Void
    /// A server's log function: `(server, client, "accept from HOST\n")`. Runs on the event loop.
    public typealias Log = @Sendable (NetworkProcess, NetworkProcess?, String) -> Void

    /// The most bytes one filter call receives (Emacs's `read-process-output-max`); also the
    /// size a longer datagram is cut to.
    public static let chunkSize = 4096

    /// What a process is, beyond its type.
    enum Role: Sendable {
        case client
        case server
        case accepted
        case datagram
        case shell
    }

    /// The raw status; ``ProcessStatus`` is what it reports.
    enum RawStatus {
        case connecting
        case running
        case listening
        case exited(ExitStatus)
        case failed(ExitStatus)
    }

    /// The name of the process, unique in its table (or as given to ``connect(name:host:port:options:observer:)``).
    public let name: String
    /// The peer as the caller named it (`host:port`).
    public let peer: String
    /// The event loop that owns this process's state.
    public let eventLoop: any EventLoop
    /// `network`, or `real` for a shell connection.
    public let type: ProcessType

    let role: Role
    let table: ProcessTable?
    let observer: @Sendable (ProcessEvent) -> Void

    // Event-loop confined state.
    private(set) var channel: (any Channel)?
    private var matcher: StreamMatcher
    /// The receive buffer's bound, for accepted connections to inherit.
    var matcherLimit: Int { matcher.limit }
    var raw: RawStatus
    private var peerClosed = false
    private var closingLocally = false
    private var tlsInfo: TLSSessionInfo?
    private var tlsActive = false
    private var discardedBytes = 0
    private var waiter: MatchWaiter?
    private var quietWaiter: QuietWaiter?
    private var handshake: HandshakeWaiter?
    private var pendingError: NetworkError?
    var stopped = false
    /// Reading is paused because the receive buffer holds `receiveLimit` bytes and no wait is
    /// consuming them (see ``holdBackIfFull()``).
    private var heldBack = false
    var filter: Filter?
    var sentinel: Sentinel?
    var log: Log?
    var plist: [String: String] = [:]
    var contact = ProcessContact()
    /// Events that arrived while stopped, delivered by `continue`.
    private var held: [Held] = []
    /// After send-eof: later sends are discarded until the peer closes.
    private var eofSent = false
    /// A datagram process's current reply address.
    var datagramAddress: SocketAddress?
    /// Completed when a non-blocking connect (and its TLS handshake) finishes either way.
    var connectDone: EventLoopPromise<Void>?
    /// A shell connection's child.
    var child: ChildProcess?
    /// A name claimed in ``table`` and not yet released.
    private var nameClaimed: Bool

    /// A read or close that arrived while the process was stopped.
    private enum Held {
        case read([UInt8], SocketAddress?)
        case close
    }

    /// An `expect` in progress.
    private struct MatchWaiter {
        var pattern: BytePattern
        var promise: EventLoopPromise<StreamMatch>
        var timeout: Scheduled<Void>
        var wait: Wait
        var deadline: Duration
        /// Runs on the event loop right after the match, before any further read.
        var onMatch: (@Sendable (StreamMatch) -> Void)?
        /// The idle deadline (no bytes for this long fails the wait) and its timer.
        var idle: (deadline: Duration, task: Scheduled<Void>)?
    }

    /// A wait for silence (nothing arrives for a while) or for the peer to close.
    private struct QuietWaiter {
        var wait: Wait
        var promise: EventLoopPromise<Void>
        var timeout: Scheduled<Void>
        var deadline: Duration
    }

    /// A TLS handshake in progress.
    private struct HandshakeWaiter {
        var promise: EventLoopPromise<TLSSessionInfo>
        var timeout: Scheduled<Void>
        var deadline: Duration
    }

    /// Creates a process object; the caller attaches a channel (or not yet, while connecting).
    ///
    /// - Parameters:
    ///   - name: the name, already made unique when `table` is given.
    ///   - peer: `host:port` for messages.
    ///   - eventLoop: the loop that owns the state (and the channel, once there is one).
    ///   - role: client, server, accepted, datagram or shell.
    ///   - raw: the initial status.
    ///   - table: the table holding the name, released when the process ends.
    ///   - receiveLimit: the receive buffer's bound.
    ///   - observer: receives every event.
    init(
        name: String,
        peer: String,
        eventLoop: any EventLoop,
        role: Role,
        raw: RawStatus,
        table: ProcessTable?,
        receiveLimit: Int,
        observer: @escaping @Sendable (ProcessEvent) -> Void
    ) {
        self.name = name
        self.peer = peer
        self.eventLoop = eventLoop
        self.role = role
        self.type = role == .shell ? .real : .network
        self.raw = raw
        self.table = table
        self.nameClaimed = table != nil
        self.matcher = StreamMatcher(limit: receiveLimit)
        self.observer = observer
    }

    // MARK: - Opening

    /// Opens a TCP connection (and, with `options.tls`, a TLS session on it).
    ///
    /// The name is used as given (it is not entered in a ``ProcessTable``).
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
        let eventLoop = options.group.next()
        let process = NetworkProcess(
            name: name,
            peer: "\(host):\(port)",
            eventLoop: eventLoop,
            role: .client,
            raw: .connecting,
            table: nil,
            receiveLimit: options.receiveLimit,
            observer: observer
        )
        process.contact.host = host
        process.contact.service = "\(port)"
        try await process.connectBlocking(to: .hostPort(host, port), timeout: options.timeout)
        if let tls = options.tls {
            _ = try await process.startTLS(
                context: tls.context,
                serverHostname: tls.serverHostname,
                timeout: options.handshakeTimeout
            )
        }
        return process
    }

    /// Where a client connects to.
    enum Target: Sendable {
        case hostPort(String, Int)
        case unix(String)
    }

    /// Makes the bootstrap every stream client uses: our handler at the pipeline's end, and quick
    /// ACKs on a TCP connection.
    private func clientBootstrap(bridge: HandlerBridge, timeout: Duration, tcp: Bool) -> ClientBootstrap {
        let quickAck = tcp && QuickAckHandler.isAvailable
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(timeout))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if quickAck {
                        try channel.pipeline.syncOperations.addHandler(QuickAckHandler())
                    }
                    try channel.pipeline.syncOperations.addHandler(ProcessChannelHandler(bridge: bridge))
                }
            }
    }

    /// Starts the connect and returns its future, which gives the channel.
    private func startConnect(to target: Target, bridge: HandlerBridge, timeout: Duration) -> EventLoopFuture<any Channel> {
        let tcp = if case .hostPort = target { true } else { false }
        let bootstrap = clientBootstrap(bridge: bridge, timeout: timeout, tcp: tcp)
        switch target {
        case .hostPort(let host, let port):
            // An address literal needs no resolver and no Happy Eyeballs race: connect directly
            // (a tenth of a loopback session's client time went to resolving "127.0.0.1").
            if let address = try? SocketAddress(ipAddress: host, port: port) {
                return bootstrap.connect(to: address)
            }
            return bootstrap.connect(host: host, port: port)
        case .unix(let path): return bootstrap.connect(unixDomainSocketPath: path)
        }
    }

    /// Connects and returns once connected; no sentinel is called (Emacs's blocking connect).
    ///
    /// - Throws: `NetworkError` `.connectFailed` ("make client process failed: …") or `.timeout`
    ///   naming the connect wait.
    func connectBlocking(to target: Target, timeout: Duration) async throws(NetworkError) {
        let bridge = HandlerBridge()
        let channel: any Channel
        do {
            channel = try await startConnect(to: target, bridge: bridge, timeout: timeout).get()
        } catch ChannelError.connectTimeout {
            await markFailed(.code(Int(ETIMEDOUT)), sentinel: false)
            throw NetworkError(
                .timeout,
                wait: .connect,
                deadline: timeout,
                message: "timed out after \(timeout.secondsText) waiting for \(Wait.connect) to \(peer)"
            )
        } catch {
            await markFailed(.code(Int(errnoOf(error) ?? 0)), sentinel: false)
            throw NetworkError(
                .connectFailed,
                wait: .connect,
                message: "cannot connect to \(peer): make client process failed: \(strerrorOf(error)) (\(describe(error)))"
            )
        }
        try? await eventLoop.submitOrRun {
            self.attach(channel, bridge: bridge, sentinelEvent: nil)
        }.get()
    }

    /// Starts a non-blocking connect: the status is `connect` until it ends; then the sentinel
    /// gets "open\n" (before any data) or "failed with code N\n".
    ///
    /// - Parameters:
    ///   - target: where to connect.
    ///   - timeout: the connect deadline (Emacs has none; it then fails with ETIMEDOUT).
    ///   - tls: a TLS session to finish before "open\n"; its failure ends in `failed` with exit
    ///     status "TLS negotiation failed" and no sentinel call, as in Emacs.
    func connectNonBlocking(
        to target: Target,
        timeout: Duration,
        tls: (context: GnuTLSContext, serverHostname: String?, timeout: Duration)?
    ) {
        eventLoop.execute {
            let bridge = HandlerBridge()
            let done = self.eventLoop.makePromise(of: Void.self)
            self.connectDone = done
            self.startConnect(to: target, bridge: bridge, timeout: timeout).whenComplete { result in
                switch result {
                case .success(let channel):
                    guard case .connecting = self.raw else {
                        // Deleted while connecting.
                        channel.close(promise: nil)
                        done.succeed()
                        return
                    }
                    guard let tls else {
                        self.attach(channel, bridge: bridge, sentinelEvent: "open\n")
                        done.succeed()
                        return
                    }
                    self.attach(channel, bridge: bridge, sentinelEvent: nil, keepConnecting: true)
                    self.upgradeOnLoop(
                        context: tls.context,
                        serverHostname: tls.serverHostname,
                        timeout: tls.timeout,
                        duringConnect: true
                    ).whenComplete { result in
                        switch result {
                        case .success:
                            // didReceive already reported "open\n".
                            break
                        case .failure:
                            if case .connecting = self.raw {
                                self.raw = .failed(.message("TLS negotiation failed"))
                                self.closingLocally = true
                                channel.close(promise: nil)
                            }
                        }
                        done.succeed()
                    }
                case .failure(let error):
                    let code: ExitStatus
                    if case ChannelError.connectTimeout = error {
                        code = .code(Int(ETIMEDOUT))
                    } else {
                        code = .code(Int(errnoOf(error) ?? 0))
                    }
                    if case .connecting = self.raw {
                        self.failOnLoop(code, sentinel: true)
                    }
                    done.succeed()
                }
            }
        }
    }

    /// Records a failure to connect.
    private func markFailed(_ code: ExitStatus, sentinel: Bool) async {
        try? await eventLoop.submitOrRun { self.failOnLoop(code, sentinel: sentinel) }.get()
    }

    /// Sets the `failed` status, and calls the sentinel with "failed with code N\n" if asked.
    private func failOnLoop(_ code: ExitStatus, sentinel callSentinel: Bool) {
        raw = .failed(code)
        if callSentinel { sentinel?(self, "failed with code \(code)\n") }
    }

    /// Takes over a connected channel, on the event loop: reads queued by the bridge are then
    /// delivered in order.
    ///
    /// - Parameters:
    ///   - channel: the connected channel.
    ///   - bridge: the bridge its handler delivers to.
    ///   - sentinelEvent: the event to report before any data ("open\n" for non-blocking
    ///     connects), or nil for none.
    ///   - keepConnecting: stay in `connect` (a TLS handshake comes first).
    func attach(_ channel: any Channel, bridge: HandlerBridge, sentinelEvent: String?, keepConnecting: Bool = false) {
        eventLoop.preconditionInEventLoop()
        self.channel = channel
        if !keepConnecting {
            raw = role == .server ? .listening : .running
        }
        let local = channel.localAddress.map(describeAddress) ?? "?"
        let remote = channel.remoteAddress.map(describeAddress) ?? peer
        contact.local = channel.localAddress.map(describeAddress)
        contact.remote = channel.remoteAddress.map(describeAddress)
        contact.localPort = channel.localAddress?.port
        if role != .server && role != .datagram && role != .shell {
            observer(.connected(local: local, remote: remote))
        }
        if stopped {
            channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        }
        if let sentinelEvent { sentinel?(self, sentinelEvent) }
        bridge.attach(self)
    }

    // MARK: - Sending

    /// Writes bytes exactly as given, in one write (one datagram on a datagram process).
    ///
    /// On a process that is still connecting, waits for the connect (and its TLS handshake)
    /// first, as Emacs does. After ``sendEOF()`` the bytes are discarded until the peer closes.
    ///
    /// - Throws: `NetworkError.notOpen` ("Process NAME not running") when the process is not
    ///   open.
    public func send(_ bytes: [UInt8]) async throws(NetworkError) {
        let future = eventLoop.flatSubmitOrRun { () -> EventLoopFuture<Void> in
            if case .connecting = self.raw, let done = self.connectDone {
                return done.futureResult.flatMap { self.sendOnLoop(bytes) }
            }
            return self.sendOnLoop(bytes)
        }
        do {
            try await future.get()
        } catch let error as NetworkError {
            throw error
        } catch {
            throw NetworkError(.notOpen, message: "cannot send to \(peer): \(describe(error))")
        }
    }

    /// Sends without waiting for the write, for use inside a filter or sentinel (on the event
    /// loop) or anywhere else; failures are dropped.
    ///
    /// - Parameter bytes: the bytes to send.
    public func queueSend(_ bytes: [UInt8]) {
        if eventLoop.inEventLoop {
            sendOnLoop(bytes).whenComplete { _ in }
        } else {
            eventLoop.execute { self.sendOnLoop(bytes).whenComplete { _ in } }
        }
    }

    private func sendOnLoop(_ bytes: [UInt8]) -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        guard case .running = raw, let channel, channel.isActive else {
            return eventLoop.makeFailedFuture(NetworkError(.notOpen, message: "Process \(name) not running"))
        }
        if eofSent { return eventLoop.makeSucceededVoidFuture() }
        observer(.sent(bytes, tls: tlsActive))
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        if role == .datagram {
            guard let address = datagramAddress, address.port != 0 else {
                return eventLoop.makeFailedFuture(
                    NetworkError(.notOpen, message: "Process \(name) has no datagram address to send to")
                )
            }
            return channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: buffer))
        }
        return channel.writeAndFlush(buffer)
    }

    /// Emacs's `process-send-eof`: shuts down our sending side (the peer sees EOF). Later sends
    /// are discarded until the peer closes, then fail. Does nothing on a datagram process.
    ///
    /// - Throws: `NetworkError.notOpen` when the process is not open.
    public func sendEOF() async throws(NetworkError) {
        let future = eventLoop.flatSubmitOrRun { () -> EventLoopFuture<Void> in
            guard case .running = self.raw, let channel = self.channel else {
                return self.eventLoop.makeFailedFuture(NetworkError(.notOpen, message: "Process \(self.name) not running"))
            }
            if self.role == .datagram || self.eofSent { return self.eventLoop.makeSucceededVoidFuture() }
            self.eofSent = true
            return channel.close(mode: .output)
        }
        do {
            try await future.get()
        } catch let error as NetworkError {
            throw error
        } catch {
            throw NetworkError(.notOpen, message: "cannot send EOF to \(peer): \(describe(error))")
        }
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
        idleTimeout: Duration? = nil,
        wait: Wait = .expect
    ) async throws(NetworkError) -> StreamMatch {
        try await expect(pattern, timeout: timeout, idleTimeout: idleTimeout, wait: wait, onMatch: nil)
    }

    private func expect(
        _ pattern: BytePattern,
        timeout: Duration,
        idleTimeout: Duration? = nil,
        wait: Wait,
        onMatch: (@Sendable (StreamMatch) -> Void)?
    ) async throws(NetworkError) -> StreamMatch {
        let future = eventLoop.flatSubmitOrRun { () -> EventLoopFuture<StreamMatch> in
            self.expectOnLoop(pattern, timeout: timeout, idleTimeout: idleTimeout, wait: wait, onMatch: onMatch)
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
        idleTimeout: Duration?,
        wait: Wait,
        onMatch: (@Sendable (StreamMatch) -> Void)?
    ) -> EventLoopFuture<StreamMatch> {
        eventLoop.preconditionInEventLoop()
        guard waiter == nil, quietWaiter == nil else {
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
        if let idleTimeout {
            waiter?.idle = (idleTimeout, scheduleIdle(idleTimeout, for: promise, wait: wait))
        }
        advanceWaiter()
        if waiter != nil || matcher.bufferedCount < matcher.limit {
            resumeIfHeldBack()
        }
        return promise.futureResult
    }

    /// The idle timer of an expect: fires when no byte has arrived for `idle`.
    private func scheduleIdle(_ idle: Duration, for promise: EventLoopPromise<StreamMatch>, wait: Wait) -> Scheduled<Void> {
        eventLoop.scheduleTask(in: TimeAmount(idle)) { [self] in
            guard let current = waiter, current.promise.futureResult === promise.futureResult else { return }
            waiter = nil
            current.timeout.cancel()
            promise.fail(
                NetworkError(
                    .timeout,
                    wait: wait,
                    deadline: idle,
                    message: "nothing arrived for \(idle.secondsText) (the idle timeout) while waiting for \(wait)",
                    tail: matcher.tail(Self.tailSize)
                )
            )
        }
    }

    /// Waits until nothing more arrives for `period`; fails as soon as a byte arrives.
    ///
    /// "More" means beyond what a match has consumed: bytes already received and not consumed
    /// fail the wait at once (they arrived after the last expected reply). A close by the peer
    /// during the period is not data, so the wait still succeeds.
    ///
    /// - Throws: `NetworkError.unexpectedData` with the bytes that arrived, in `tail`.
    public func expectSilence(for period: Duration) async throws(NetworkError) {
        try await quiet(.silence, period)
    }

    /// Waits until the peer closes the connection (bytes that arrive meanwhile are kept).
    ///
    /// - Throws: `NetworkError.timeout` naming the peer-close wait.
    public func expectClose(timeout: Duration) async throws(NetworkError) {
        try await quiet(.peerClose, timeout)
    }

    private func quiet(_ wait: Wait, _ period: Duration) async throws(NetworkError) {
        let future = eventLoop.flatSubmitOrRun { () -> EventLoopFuture<Void> in
            self.eventLoop.preconditionInEventLoop()
            guard self.waiter == nil, self.quietWaiter == nil else {
                return self.eventLoop.makeFailedFuture(NetworkError(.busy, wait: wait, message: "another wait is in progress"))
            }
            if wait == .peerClose, self.peerClosed { return self.eventLoop.makeSucceededVoidFuture() }
            if wait == .silence, self.matcher.bufferedCount > 0 {
                let pending = self.matcher.tail(Self.tailSize)
                return self.eventLoop.makeFailedFuture(
                    NetworkError(
                        .unexpectedData,
                        wait: wait,
                        deadline: period,
                        message: "\(self.matcher.bufferedCount) bytes arrived after the last match, where nothing more should",
                        tail: pending
                    )
                )
            }
            let promise = self.eventLoop.makePromise(of: Void.self)
            let task = self.eventLoop.scheduleTask(in: TimeAmount(period)) { [self] in
                guard let current = quietWaiter, current.promise.futureResult === promise.futureResult else { return }
                quietWaiter = nil
                if wait == .silence {
                    promise.succeed()
                } else {
                    promise.fail(
                        NetworkError(
                            .timeout,
                            wait: wait,
                            deadline: period,
                            message: "timed out after \(period.secondsText) waiting for \(wait)",
                            tail: matcher.tail(Self.tailSize)
                        )
                    )
                }
            }
            self.quietWaiter = QuietWaiter(wait: wait, promise: promise, timeout: task, deadline: period)
            return promise.futureResult
        }
        do {
            try await future.get()
        } catch let error as NetworkError {
            throw error
        } catch {
            throw NetworkError(.notOpen, wait: wait, message: describe(error))
        }
    }

    /// Bytes arrived: a silence wait fails; an expect's idle timer starts again.
    private func noteArrival(_ bytes: [UInt8]) {
        if let current = quietWaiter, current.wait == .silence {
            quietWaiter = nil
            current.timeout.cancel()
            current.promise.fail(
                NetworkError(
                    .unexpectedData,
                    wait: .silence,
                    deadline: current.deadline,
                    message: "\(bytes.count) bytes arrived during the \(current.deadline.secondsText) that should have been quiet",
                    tail: Array(bytes.prefix(Self.tailSize))
                )
            )
        }
        if let current = waiter, let idle = current.idle {
            idle.task.cancel()
            waiter?.idle = (idle.deadline, scheduleIdle(idle.deadline, for: current.promise, wait: current.wait))
        }
    }

    /// The peer closed: a silence wait succeeds (a close is not data); a close wait succeeds.
    private func noteClose() {
        if let current = quietWaiter {
            quietWaiter = nil
            current.timeout.cancel()
            current.promise.succeed()
        }
    }

    /// How many trailing bytes an error report carries.
    static let tailSize = 512

    /// Tries the pending wait against what has been received; completes it when it can.
    private func advanceWaiter() {
        guard let current = waiter else { return }
        defer { if waiter == nil { current.idle?.task.cancel() } }
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
        let discarded = await (try? eventLoop.submitOrRun { self.discardedBytes }.get()) ?? 0
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
        let future = eventLoop.flatSubmitOrRun {
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

    func upgradeOnLoop(
        context: GnuTLSContext,
        serverHostname: String?,
        timeout: Duration,
        duringConnect: Bool = false
    ) -> EventLoopFuture<TLSSessionInfo> {
        eventLoop.preconditionInEventLoop()
        let ready: Bool
        switch raw {
        case .running: ready = true
        case .connecting: ready = duringConnect
        default: ready = false
        }
        guard ready, let channel, channel.isActive, !tlsActive, handshake == nil else {
            let why = tlsActive ? "TLS is already active" : "the process is \(reportedStatus.rawValue)"
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

    /// The status as Emacs's `process-status` reports it.
    var reportedStatus: ProcessStatus {
        if case .exited = raw { return .closed }
        if stopped { return .stop }
        switch raw {
        case .running: return type == .real ? .run : .open
        case .listening: return .listen
        case .connecting: return .connect
        case .failed: return .failed
        case .exited: return .closed
        }
    }

    /// The exit status, once the process has ended.
    private var exitStatus: ExitStatus? {
        switch raw {
        case .exited(let status), .failed(let status): return status
        default: return nil
        }
    }

    /// The process's state now.
    public func snapshot() async -> ProcessSnapshot {
        let future = eventLoop.submitOrRun {
            ProcessSnapshot(
                status: self.reportedStatus,
                tls: self.tlsInfo,
                discardedBytes: self.discardedBytes,
                bufferedBytes: self.matcher.bufferedCount,
                name: self.name,
                type: self.type,
                exitStatus: self.exitStatus,
                stopped: self.stopped,
                contact: self.contact,
                plist: self.plist
            )
        }
        return (try? await future.get())
            ?? ProcessSnapshot(status: .closed, tls: nil, discardedBytes: 0, bufferedBytes: 0, name: name, type: type)
    }

    /// The status now (Emacs's `process-status`).
    public func status() async -> ProcessStatus {
        (try? await eventLoop.submitOrRun { self.reportedStatus }.get()) ?? .closed
    }

    /// Closes our side of the connection (sending close_notify first under TLS); the same as
    /// ``delete()``.
    public func close() async {
        await delete()
    }

    /// Emacs's `delete-process`: the sentinel gets "deleted\n" before this returns, the status
    /// becomes `closed` with exit status 0, the name is freed, and the connection is closed (our
    /// side only: nothing at the far end is killed). A shell connection's child is terminated.
    /// Deleting a server leaves the connections it accepted open.
    public func delete() async {
        let future = eventLoop.flatSubmitOrRun { () -> EventLoopFuture<Void> in
            self.deleteOnLoop()
        }
        _ = try? await future.get()
        if let channel = try? await eventLoop.submitOrRun({ self.channel }).get() {
            _ = try? await channel.closeFuture.get()
        }
    }

    /// Deletes on the event loop; the future completes when the close has been started.
    func deleteOnLoop() -> EventLoopFuture<Void> {
        eventLoop.preconditionInEventLoop()
        if case .exited = raw {
            return eventLoop.makeSucceededVoidFuture()
        }
        raw = .exited(.code(0))
        releaseName()
        sentinel?(self, "deleted\n")
        child?.terminate()
        held = []
        failWaiters(NetworkError(.notOpen, message: "Process \(name) was deleted"))
        guard let channel, channel.isActive else { return eventLoop.makeSucceededVoidFuture() }
        closingLocally = true
        return channel.close().recover { _ in }
    }

    /// Frees the name in the table, once.
    private func releaseName() {
        if nameClaimed {
            nameClaimed = false
            table?.release(name)
        }
    }

    /// Fails a pending expect and handshake.
    private func failWaiters(_ error: NetworkError) {
        if let current = waiter {
            waiter = nil
            current.timeout.cancel()
            var e = error
            e.wait = current.wait
            current.promise.fail(e)
        }
        if let current = handshake {
            handshake = nil
            current.timeout.cancel()
            var e = error
            e.wait = .handshake
            current.promise.fail(e)
        }
    }

    /// Emacs's `stop-process`: nothing is read (and, for a server, nothing accepted) until
    /// ``continue()``; data that arrives meanwhile waits in the kernel. No sentinel call.
    public func stop() async {
        try? await eventLoop.submitOrRun {
            self.stopped = true
            self.channel?.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        }.get()
    }

    /// Emacs's `continue-process`: reading (or accepting) resumes and everything that waited is
    /// delivered. No sentinel call.
    public func `continue`() async {
        try? await eventLoop.submitOrRun {
            guard self.stopped else { return }
            self.stopped = false
            let pending = self.held
            self.held = []
            for event in pending {
                switch event {
                case .read(let bytes, let from): self.deliver(bytes, from: from)
                case .close: self.didClose()
                }
            }
            if let channel = self.channel, !self.heldBack {
                channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
                channel.read()
            }
        }.get()
    }

    /// Replaces the filter (nil: received bytes go to the receive buffer).
    public func setFilter(_ filter: Filter?) async {
        try? await eventLoop.submitOrRun { self.filter = filter }.get()
    }

    /// Replaces the sentinel.
    public func setSentinel(_ sentinel: Sentinel?) async {
        try? await eventLoop.submitOrRun { self.sentinel = sentinel }.get()
    }

    /// Replaces the plist.
    public func setPlist(_ plist: [String: String]) async {
        try? await eventLoop.submitOrRun { self.plist = plist }.get()
    }

    /// The datagram process's current reply address (Emacs's `process-datagram-address`).
    public func datagramRemoteAddress() async -> SocketAddress? {
        try? await eventLoop.submitOrRun { self.datagramAddress }.get()
    }

    /// Throws away the bytes received and not consumed, so that the next response is searched
    /// from the current end of the buffer (Emacs's START for a command).
    ///
    /// - Returns: how many bytes were thrown away.
    func discardPending() async -> Int {
        (try? await eventLoop.submitOrRun {
            let count = self.matcher.removeAll().count
            self.resumeIfHeldBack()
            return count
        }.get()) ?? 0
    }

    // MARK: - Channel callbacks (on the event loop)

    fileprivate func didRead(_ buffer: ByteBuffer, from address: SocketAddress? = nil) {
        var bytes = Array(buffer.readableBytesView)
        if role == .datagram, bytes.count > Self.chunkSize {
            // One datagram is one read; the rest of a long one is lost, as in Emacs.
            bytes.removeSubrange(Self.chunkSize...)
        }
        if stopped {
            held.append(.read(bytes, address))
            return
        }
        deliver(bytes, from: address)
    }

    /// Hands received bytes to the filter, or to the receive buffer.
    private func deliver(_ bytes: [UInt8], from address: SocketAddress?) {
        if let address { datagramAddress = address }
        observer(.received(bytes, tls: tlsActive))
        if let filter {
            if role == .datagram {
                filter(self, bytes)
            } else {
                var start = 0
                while start < bytes.count {
                    let end = min(bytes.count, start + Self.chunkSize)
                    filter(self, Array(bytes[start..<end]))
                    start = end
                }
            }
            return
        }
        noteArrival(bytes)
        matcher.append(bytes)
        advanceWaiter()
        holdBackIfFull()
    }

    /// Stops reading while no wait is active and the receive buffer holds `receiveLimit` bytes.
    ///
    /// A wait bounds the buffer itself (a search drops what cannot match, and a partial match
    /// that reaches the limit fails with `bufferLimit`), but between waits nothing consumes
    /// received bytes: a peer that floods then would grow the buffer without end. The kernel's
    /// socket buffer and TCP flow control hold the rest until the next wait resumes reading.
    private func holdBackIfFull() {
        guard waiter == nil, !heldBack, matcher.bufferedCount >= matcher.limit, let channel else { return }
        heldBack = true
        channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
    }

    /// Resumes reading that ``HandlerBridge`` paused before the process existed, unless the
    /// process is stopped or its receive buffer is full.
    ///
    /// - Parameter channel: the paused channel.
    fileprivate func resumeAfterAttach(_ channel: any Channel) {
        guard !stopped, !heldBack else { return }
        channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        channel.read()
    }

    /// Undoes ``holdBackIfFull()``, unless the process is stopped.
    private func resumeIfHeldBack() {
        guard heldBack else { return }
        heldBack = false
        guard !stopped, let channel else { return }
        channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        channel.read()
    }

    fileprivate func didReceive(event: Any) {
        guard let event = event as? GnuTLSEvent else { return }
        switch event {
        case .handshakeCompleted(let info):
            tlsActive = true
            tlsInfo = info
            observer(.tlsEstablished(info))
            if case .connecting = raw {
                raw = .running
                sentinel?(self, "open\n")
            }
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
        if stopped, case .running = raw {
            // Emacs notices no EOF while stopped.
            held.append(.close)
            return
        }
        peerClosed = true
        var byPeer = false
        if case .running = raw, !closingLocally {
            byPeer = true
            raw = .exited(.code(256))
            releaseName()
            sentinel?(self, "connection broken by remote peer\n")
        } else if case .listening = raw {
            raw = .exited(.code(0))
            releaseName()
        }
        observer(.closed(byPeer: byPeer))
        noteClose()
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
///
/// Reading pauses at the first read that has to be queued, so a peer that floods before the
/// process exists cannot grow the queue without bound; `attach` resumes it.
final class HandlerBridge: @unchecked Sendable {
    private var process: NetworkProcess?
    private var queued: [(NetworkProcess) -> Void] = []
    /// The channel whose reading was paused before `attach`.
    private var pausedChannel: (any Channel)?

    func deliver(_ action: @escaping (NetworkProcess) -> Void) {
        if let process { action(process) } else { queued.append(action) }
    }

    /// Delivers received bytes, or queues them and pauses reading until `attach`.
    func deliverRead(_ buffer: ByteBuffer, channel: any Channel) {
        if let process {
            process.didRead(buffer)
            return
        }
        queued.append { $0.didRead(buffer) }
        if pausedChannel == nil {
            pausedChannel = channel
            channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        }
    }

    func attach(_ process: NetworkProcess) {
        self.process = process
        let pending = queued
        queued = []
        for action in pending { action(process) }
        if let channel = pausedChannel {
            pausedChannel = nil
            process.resumeAfterAttach(channel)
        }
    }
}

/// The last handler of a connection's pipeline: hands bytes, events and errors to the process.
final class ProcessChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let bridge: HandlerBridge
    /// Runs once when the channel becomes active (an accepted connection attaches then).
    private var onActive: (() -> Void)?

    init(bridge: HandlerBridge, onActive: (() -> Void)? = nil) {
        self.bridge = bridge
        self.onActive = onActive
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        if let onActive {
            self.onActive = nil
            onActive()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bridge.deliverRead(unwrapInboundIn(data), channel: context.channel)
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

/// The last handler of a datagram socket's pipeline: one datagram is one read, and its sender
/// becomes the reply address.
final class DatagramProcessHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let bridge: HandlerBridge

    init(bridge: HandlerBridge) {
        self.bridge = bridge
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        bridge.deliver { $0.didReadDatagram(envelope.data, from: envelope.remoteAddress) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A datagram socket has no peer to lose; ICMP errors (ECONNREFUSED) are ignored, as Emacs does.
    }

    func channelInactive(context: ChannelHandlerContext) {
        bridge.deliver { $0.didCloseDatagram() }
    }
}

@available(*, unavailable)
extension DatagramProcessHandler: Sendable {}

extension NetworkProcess {
    /// A datagram arrived.
    fileprivate func didReadDatagram(_ buffer: ByteBuffer, from address: SocketAddress) {
        didRead(buffer, from: address)
    }

    /// The datagram socket closed (only after our delete).
    fileprivate func didCloseDatagram() {
        didClose()
    }
}

/// The errno behind a connect failure, if there is one.
func errnoOf(_ error: any Error) -> Int32? {
    if let error = error as? IOError { return error.errnoCode }
    if let error = error as? NIOConnectionError {
        for attempt in error.connectionErrors {
            if let code = errnoOf(attempt.error) { return code }
        }
    }
    return nil
}

/// The C library's text for the errno behind an error ("Connection refused").
func strerrorOf(_ error: any Error) -> String {
    if let code = errnoOf(error), let text = strerror(code) { return String(cString: text) }
    if let error = error as? NIOConnectionError, error.connectionErrors.isEmpty {
        return "Name or service not known"
    }
    return "\(error)"
}

extension EventLoop {
    /// `submit`, but run at once when already on this loop (a scenario run lives on its
    /// connections' loop: scheduling would only cost a task and a loop turn).
    func submitOrRun<T: Sendable>(_ task: @escaping @Sendable () throws -> T) -> EventLoopFuture<T> {
        guard inEventLoop else { return submit(task) }
        return makeCompletedFuture(Result(catching: task))
    }

    /// `flatSubmit`, but run at once when already on this loop.
    func flatSubmitOrRun<T: Sendable>(_ task: @escaping @Sendable () -> EventLoopFuture<T>) -> EventLoopFuture<T> {
        inEventLoop ? task() : flatSubmit(task)
    }
}
