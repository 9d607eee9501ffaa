// SPDX-License-Identifier: Apache-2.0
public import GnuTLSNIO
internal import NIOConcurrencyHelpers
public import NIOCore
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
/// The rules (status, waits and their deadlines, hold-back, stop/continue, the STARTTLS go-ahead,
/// the close sequence) live in a ``ProcessStateMachine`` value; this class is the shell that feeds
/// it the channel's events and user calls and performs the actions it returns: writes, timers,
/// reading on and off, the TLS handler's insertion, sentinel and filter calls, and the
/// completion of waits.
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
    public static let chunkSize = ProcessStateMachine.chunkSize

    typealias Role = ProcessStateMachine.Role
    typealias RawStatus = ProcessStateMachine.RawStatus
    private typealias Machine = ProcessStateMachine

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
    /// The rules and their state.
    private var machine: ProcessStateMachine
    /// The receive buffer's bound, for accepted connections to inherit.
    var matcherLimit: Int { machine.receiveLimit }
    var filter: Filter? {
        didSet { machine.hasFilter = filter != nil }
    }
    var sentinel: Sentinel?
    var log: Log?
    /// A server's observer for each accepted connection (``Spec/acceptedObserver``).
    var acceptedObserver: (@Sendable (String) -> @Sendable (ProcessEvent) -> Void)?
    var plist: [String: String] = [:]
    var contact = ProcessContact()
    /// Completed when a non-blocking connect (and its TLS handshake) finishes either way.
    var connectDone: EventLoopPromise<Void>?
    /// A shell connection's child.
    var child: ChildProcess?
    /// The waits in progress, by the machine's ids.
    private var waits = SmallMap<Machine.WaitID, EventLoopPromise<Machine.WaitResult>>()
    /// Waits the machine started itself (a handshake after a go-ahead), until the caller takes them.
    private var tracked = SmallMap<Machine.WaitID, EventLoopFuture<Machine.WaitResult>>()
    /// The timers the machine asked for.
    private var timers = SmallMap<Machine.Timer, Scheduled<Void>>()

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
    ///   - stopped: created stopped (Emacs's `:stop`).
    ///   - observer: receives every event.
    init(
        name: String,
        peer: String,
        eventLoop: any EventLoop,
        role: Role,
        raw: RawStatus,
        table: ProcessTable?,
        receiveLimit: Int,
        stopped: Bool = false,
        observer: @escaping @Sendable (ProcessEvent) -> Void
    ) {
        self.name = name
        self.peer = peer
        self.eventLoop = eventLoop
        self.role = role
        self.type = role == .shell ? .real : .network
        self.table = table
        self.machine = ProcessStateMachine(
            name: name,
            role: role,
            raw: raw,
            nameClaimed: table != nil,
            receiveLimit: receiveLimit,
            stopped: stopped
        )
        self.observer = observer
    }

    // MARK: - Performing the machine's actions (on the event loop)

    /// Does what the machine decided, in order. A filter or sentinel may call back into the
    /// process; its actions are performed at once, inside this loop.
    private func perform(_ actions: [ProcessStateMachine.Action]) {
        for action in actions {
            switch action {
            case .emit(let event):
                observer(event)
            case .sentinel(let text):
                sentinel?(self, text)
            case .filter(let chunk):
                filter?(self, chunk)
            case .track(let id):
                let promise = eventLoop.makePromise(of: Machine.WaitResult.self)
                waits[id] = promise
                tracked[id] = promise.futureResult
            case .complete(let id, let result):
                guard let promise = waits.removeValue(forKey: id) else { continue }
                switch result {
                case .success(let value): promise.succeed(value)
                case .failure(let error): promise.fail(error)
                }
            case .schedule(let timer, let delay):
                timers[timer]?.cancel()
                timers[timer] = eventLoop.scheduleTask(in: TimeAmount(delay)) { [self] in
                    timers[timer] = nil
                    perform(machine.timerFired(timer))
                }
            case .cancel(let timer):
                timers.removeValue(forKey: timer)?.cancel()
            case .pauseReading:
                channel?.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            case .resumeReading:
                guard let channel else { continue }
                channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
                channel.read()
            case .insertTLS(let request, let id, let replay):
                do {
                    guard let channel else { throw ChannelError.ioOnClosedChannel }
                    let handler = GnuTLSHandler(context: request.context, serverHostname: request.serverHostname)
                    try channel.pipeline.syncOperations.addHandler(handler, position: .first)
                    // TLS records that arrived before the handler (implicit TLS): read by it now.
                    if !replay.isEmpty {
                        let context = try channel.pipeline.syncOperations.context(handler: handler)
                        handler.channelRead(context: context, data: NIOAny(channel.allocator.buffer(bytes: replay)))
                        handler.channelReadComplete(context: context)
                    }
                } catch {
                    perform(machine.tlsInsertFailed(id, describe(error)))
                }
            case .close:
                channel?.close(promise: nil)
            case .releaseName:
                table?.release(name)
            case .terminateChild:
                child?.terminate()
            }
        }
    }

    /// Starts a wait: registers its promise, then performs the actions (which may complete it).
    private func begin(_ start: (id: Machine.WaitID, actions: [Machine.Action])) -> EventLoopFuture<Machine.WaitResult> {
        let promise = eventLoop.makePromise(of: Machine.WaitResult.self)
        waits[start.id] = promise
        perform(start.actions)
        return promise.futureResult
    }

    /// Waits for a future of the loop, as a `NetworkError`.
    private func value<T: Sendable>(of future: EventLoopFuture<T>, wait: Wait?) async throws(NetworkError) -> T {
        do {
            return try await future.get()
        } catch let error as NetworkError {
            throw error
        } catch {
            throw NetworkError(.notOpen, wait: wait, message: describe(error))
        }
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
                    guard self.machine.isConnecting else {
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
                            self.perform(self.machine.connectHandshakeFailed())
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
                    self.perform(self.machine.connectFailed(code, callSentinel: true))
                    done.succeed()
                }
            }
        }
    }

    /// Records a failure to connect.
    private func markFailed(_ code: ExitStatus, sentinel: Bool) async {
        try? await eventLoop.submitOrRun { self.perform(self.machine.connectFailed(code, callSentinel: sentinel)) }.get()
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
        let local = channel.localAddress.map(describeAddress) ?? "?"
        let remote = channel.remoteAddress.map(describeAddress) ?? peer
        contact.local = channel.localAddress.map(describeAddress)
        contact.remote = channel.remoteAddress.map(describeAddress)
        contact.localPort = channel.localAddress?.port
        perform(
            machine.attached(local: local, remote: remote, sentinelEvent: sentinelEvent, keepConnecting: keepConnecting)
        )
        bridge.attach(self)
    }

    /// A datagram socket is bound: its reply address, before ``attach(_:bridge:sentinelEvent:keepConnecting:)``
    /// makes it run.
    func setDatagramAddress(_ address: SocketAddress?) {
        eventLoop.preconditionInEventLoop()
        machine.setDatagramAddress(address)
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
            if self.machine.isConnecting, let done = self.connectDone {
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
        switch machine.send(bytes) {
        case .failure(let error):
            return eventLoop.makeFailedFuture(error)
        case .success(.discard):
            return eventLoop.makeSucceededVoidFuture()
        case .success(.write(let event, let address)):
            guard let channel, channel.isActive else {
                return eventLoop.makeFailedFuture(NetworkError(.notOpen, message: "Process \(name) not running"))
            }
            observer(event)
            var buffer = channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            if let address {
                return channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: buffer))
            }
            return channel.writeAndFlush(buffer)
        }
    }

    /// Emacs's `process-send-eof`: shuts down our sending side (the peer sees EOF). Later sends
    /// are discarded until the peer closes, then fail. Does nothing on a datagram process.
    ///
    /// - Throws: `NetworkError.notOpen` when the process is not open.
    public func sendEOF() async throws(NetworkError) {
        let future = eventLoop.flatSubmitOrRun { () -> EventLoopFuture<Void> in
            switch self.machine.sendEOF() {
            case .failure(let error):
                return self.eventLoop.makeFailedFuture(error)
            case .success(let shutDown):
                guard shutDown, let channel = self.channel else { return self.eventLoop.makeSucceededVoidFuture() }
                return channel.close(mode: .output)
            }
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
    ///   - idleTimeout: fail when nothing arrives for this long.
    ///   - wait: which wait this is, for the error.
    /// - Returns: the match, with the number of bytes passed over before it.
    /// - Throws: `NetworkError` (`.timeout`, `.closedByPeer`, `.bufferLimit`, `.tls`).
    public func expect(
        _ pattern: BytePattern,
        timeout: Duration,
        idleTimeout: Duration? = nil,
        wait: Wait = .expect
    ) async throws(NetworkError) -> StreamMatch {
        let future = eventLoop.flatSubmitOrRun {
            self.begin(self.machine.beginExpect(pattern, timeout: timeout, idleTimeout: idleTimeout, wait: wait))
        }
        guard case .matched(let match, _) = try await value(of: future, wait: wait) else {
            throw NetworkError(.notOpen, wait: wait, message: "the wait ended without a match")
        }
        return match
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
        let future = eventLoop.flatSubmitOrRun {
            self.begin(self.machine.beginQuiet(wait, period: period))
        }
        _ = try await value(of: future, wait: wait)
    }

    /// How many trailing bytes an error report carries.
    static let tailSize = ProcessStateMachine.tailSize

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
        let goAhead = ProcessStateMachine.GoAhead(
            success: success,
            tls: .init(context: context, serverHostname: serverHostname, timeout: handshakeTimeout)
        )
        let replyFuture = eventLoop.flatSubmitOrRun {
            self.begin(
                self.machine.beginExpect(reply, timeout: replyTimeout, idleTimeout: nil, wait: .starttlsReply, goAhead: goAhead)
            )
        }
        guard case .matched(let match, let upgrade) = try await value(of: replyFuture, wait: .starttlsReply) else {
            throw NetworkError(.notOpen, wait: .starttlsReply, message: "the wait ended without a reply")
        }
        guard let upgrade else {
            throw NetworkError(.starttlsRefused, wait: .starttlsReply, message: "the server refused STARTTLS", tail: match.matched)
        }
        let handshake = eventLoop.flatSubmitOrRun { () -> EventLoopFuture<ProcessStateMachine.WaitResult> in
            self.tracked.removeValue(forKey: upgrade)
                ?? self.eventLoop.makeFailedFuture(NetworkError(.tls, wait: .handshake, message: "the handshake was lost"))
        }
        let session = try await Self.session(of: value(of: handshake, wait: .handshake))
        let discarded = await (try? eventLoop.submitOrRun { self.machine.discardedBytes }.get()) ?? 0
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

    /// A handshake that has begun; ``session()`` waits for its end.
    public struct TLSStart: Sendable {
        let handshake: EventLoopFuture<TLSSessionInfo>

        /// The TLS session, once the handshake is over.
        ///
        /// - Throws: `NetworkError` (`.timeout` naming the handshake, `.tls`).
        public func session() async throws(NetworkError) -> TLSSessionInfo {
            do {
                return try await handshake.get()
            } catch let error as NetworkError {
                throw error
            } catch {
                throw NetworkError(.tls, wait: .handshake, message: "\(error)")
            }
        }
    }

    /// The server side of STARTTLS: sends the go-ahead and starts the handshake (with a server
    /// context) in the same event-loop turn, so a ClientHello sent right after the go-ahead is
    /// read by TLS, and plaintext received before it is discarded and reported, as after a
    /// client's go-ahead. Returns once the TLS handler is in place; the handshake goes on.
    ///
    /// - Throws: `NetworkError` (`.notOpen`) when the connection is gone.
    public func acceptTLS(goAhead: [UInt8], context: GnuTLSContext, timeout: Duration, keepReceived: Bool = false)
        async throws(NetworkError)
        -> TLSStart
    {
        let started = eventLoop.submitOrRun { () -> EventLoopFuture<TLSSessionInfo> in
            if !goAhead.isEmpty { self.sendOnLoop(goAhead).whenComplete { _ in } }
            return self.upgradeOnLoop(context: context, serverHostname: nil, timeout: timeout, keepReceived: keepReceived)
        }
        do {
            return TLSStart(handshake: try await started.get())
        } catch {
            throw NetworkError(.notOpen, message: "cannot start TLS with \(peer): \(describe(error))")
        }
    }

    /// Starts the handshake on the loop.
    func upgradeOnLoop(
        context: GnuTLSContext,
        serverHostname: String?,
        timeout: Duration,
        duringConnect: Bool = false,
        keepReceived: Bool = false
    ) -> EventLoopFuture<TLSSessionInfo> {
        eventLoop.preconditionInEventLoop()
        let request = ProcessStateMachine.TLSRequest(
            context: context, serverHostname: serverHostname, timeout: timeout, keepReceived: keepReceived)
        return begin(machine.beginTLS(request, duringConnect: duringConnect)).flatMapThrowing { result in
            try Self.session(of: result)
        }
    }

    private static func session(of result: ProcessStateMachine.WaitResult) throws(NetworkError) -> TLSSessionInfo {
        guard case .session(let info) = result else {
            throw NetworkError(.tls, wait: .handshake, message: "the handshake ended without a session")
        }
        return info
    }

    // MARK: - State

    /// The status as Emacs's `process-status` reports it (on the event loop).
    var reportedStatus: ProcessStatus { machine.reportedStatus }

    /// The process's state now.
    public func snapshot() async -> ProcessSnapshot {
        let future = eventLoop.submitOrRun {
            ProcessSnapshot(
                status: self.machine.reportedStatus,
                tls: self.machine.tls,
                discardedBytes: self.machine.discardedBytes,
                bufferedBytes: self.machine.bufferedCount,
                name: self.name,
                type: self.type,
                exitStatus: self.machine.exitStatus,
                stopped: self.machine.stopped,
                contact: self.contact,
                plist: self.plist
            )
        }
        return (try? await future.get())
            ?? ProcessSnapshot(status: .closed, tls: nil, discardedBytes: 0, bufferedBytes: 0, name: name, type: type)
    }

    /// The status now (Emacs's `process-status`).
    public func status() async -> ProcessStatus {
        (try? await eventLoop.submitOrRun { self.machine.reportedStatus }.get()) ?? .closed
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
        let channel = try? await eventLoop.submitOrRun { () -> (any Channel)? in
            self.perform(self.machine.delete())
            return self.channel
        }.get()
        if let channel = channel ?? nil {
            _ = try? await channel.closeFuture.get()
        }
    }

    /// Emacs's `stop-process`: nothing is read (and, for a server, nothing accepted) until
    /// ``continue()``; data that arrives meanwhile waits in the kernel. No sentinel call.
    public func stop() async {
        try? await eventLoop.submitOrRun { self.perform(self.machine.stop()) }.get()
    }

    /// Emacs's `continue-process`: reading (or accepting) resumes and everything that waited is
    /// delivered. No sentinel call.
    public func `continue`() async {
        try? await eventLoop.submitOrRun { self.perform(self.machine.continue()) }.get()
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
        try? await eventLoop.submitOrRun { self.machine.datagramAddress }.get()
    }

    /// Throws away the bytes received and not consumed, so that the next response is searched
    /// from the current end of the buffer (Emacs's START for a command).
    ///
    /// - Returns: how many bytes were thrown away.
    func discardPending() async -> Int {
        (try? await eventLoop.submitOrRun {
            let (count, actions) = self.machine.discardPending()
            self.perform(actions)
            return count
        }.get()) ?? 0
    }

    // MARK: - Channel callbacks (on the event loop)

    fileprivate func didRead(_ buffer: ByteBuffer, from address: SocketAddress? = nil) {
        perform(machine.bytesRead(Array(buffer.readableBytesView), from: address))
    }

    /// Resumes reading that ``HandlerBridge`` paused before the process existed, unless the
    /// process is stopped or its receive buffer is full.
    fileprivate func resumeAfterAttach() {
        perform(machine.readingMayResume())
    }

    fileprivate func didReceive(event: Any) {
        guard let event = event as? GnuTLSEvent else { return }
        switch event {
        case .handshakeCompleted(let info):
            perform(machine.handshakeCompleted(info))
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
        perform(machine.errorCaught(networkError))
    }

    fileprivate func didClose() {
        perform(machine.channelClosed())
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
    /// Reading was paused before `attach` (the process resumes it on the channel it attaches).
    private var paused = false

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
        if !paused {
            paused = true
            channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        }
    }

    func attach(_ process: NetworkProcess) {
        self.process = process
        let pending = queued
        queued = []
        for action in pending { action(process) }
        if paused {
            paused = false
            process.resumeAfterAttach()
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
