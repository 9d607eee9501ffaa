// SPDX-License-Identifier: Apache-2.0
import Foundation
public import GnuTLSNIO
import NIOConcurrencyHelpers
public import NIOCore
import NIOPosix

/// The recording proxy's I/O shell: listens, connects each client to the server, moves bytes
/// both ways and starts TLS on both connections when the ``ProxySession`` says so. Both
/// connections of a dialog live on the client connection's event loop, so a dialog's state is
/// touched from one thread only.
public final class RecordingProxy: Sendable {
    /// What the proxy needs.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var preset: String
        public var upstream: Recording.Upstream
        /// Server role: the certificate the client sees (issued for the server's name).
        public var clientSideTLS: GnuTLSContext
        /// Client role: verifies the server (trust file or system store, the server's name).
        public var upstreamTLS: GnuTLSContext
        public var connectTimeout: Duration = .seconds(10)
        /// Nothing in either direction for this long ends the dialog.
        public var idleTimeout: Duration = .seconds(60)
        /// Dialogs at once; a client beyond them is closed at once.
        public var maxDialogs = 16
        public var recordLimit = 16 << 20

        public init(
            host: String, port: Int, preset: String, upstream: Recording.Upstream, clientSideTLS: GnuTLSContext, upstreamTLS: GnuTLSContext
        ) {
            self.host = host
            self.port = port
            self.preset = preset
            self.upstream = upstream
            self.clientSideTLS = clientSideTLS
            self.upstreamTLS = upstreamTLS
        }
    }

    /// One dialog, finished.
    public struct Dialog: Sendable {
        /// The recording (no secret in it).
        public var recording: Recording
        /// The secret values the dialog carried: only for checking that none reached a file.
        public var secretValues: [[UInt8]]
        /// Why the dialog ended early (the server unreachable, its certificate refused, ...), if it did.
        public var problem: String?
        /// The client's address.
        public var client: String
    }

    /// The port listened on.
    public let port: Int
    private let channel: any Channel
    private let dialogs: DialogQueue

    private init(port: Int, channel: any Channel, dialogs: DialogQueue) {
        self.port = port
        self.channel = channel
        self.dialogs = dialogs
    }

    /// Starts listening.
    ///
    /// - Throws: ``RecordingError`` naming the address when it cannot be bound.
    public static func start(_ configuration: Configuration, group: (any EventLoopGroup)? = nil) async throws(RecordingError)
        -> RecordingProxy
    {
        let queue = DialogQueue()
        let active = NIOLockedValueBox(0)
        let bootstrap = ServerBootstrap(group: group ?? MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let admitted = active.withLockedValue { count -> Bool in
                    guard count < configuration.maxDialogs else { return false }
                    count += 1
                    return true
                }
                guard admitted else { return channel.close() }
                let dialog = DialogShell(configuration: configuration, client: channel) { result in
                    active.withLockedValue { $0 -= 1 }
                    queue.push(result)
                }
                do {
                    if configuration.upstream.implicitTLS {
                        try channel.pipeline.syncOperations.addHandler(GnuTLSHandler(context: configuration.clientSideTLS))
                    }
                    try channel.pipeline.syncOperations.addHandler(SideHandler(dialog: dialog, side: .client))
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
        do {
            let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
            return RecordingProxy(
                port: channel.localAddress?.port ?? configuration.port, channel: channel, dialogs: queue)
        } catch {
            throw RecordingError("cannot listen on \(configuration.host):\(configuration.port): \(error)")
        }
    }

    /// The next dialog to finish, or nil when `timeout` passes first.
    public func nextDialog(timeout: Duration) async -> Dialog? {
        await dialogs.next(timeout: timeout)
    }

    /// Stops listening (dialogs in progress go on to their end).
    public func stop() async {
        try? await channel.close().get()
    }
}

/// Finished dialogs, in the order they finished, for one consumer at a time.
final class DialogQueue: Sendable {
    private struct State {
        var ready: [RecordingProxy.Dialog] = []
        var waiter: (token: Int, continuation: CheckedContinuation<RecordingProxy.Dialog?, Never>)?
        var tokens = 0
    }
    private let state = NIOLockedValueBox(State())

    func push(_ dialog: RecordingProxy.Dialog) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<RecordingProxy.Dialog?, Never>? in
            guard let waiter = state.waiter else {
                state.ready.append(dialog)
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(returning: dialog)
    }

    func next(timeout: Duration) async -> RecordingProxy.Dialog? {
        let token = state.withLockedValue { state -> Int in
            state.tokens += 1
            return state.tokens
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            let waiter = state.withLockedValue { state -> CheckedContinuation<RecordingProxy.Dialog?, Never>? in
                guard let waiter = state.waiter, waiter.token == token else { return nil }
                state.waiter = nil
                return waiter.continuation
            }
            waiter?.resume(returning: nil)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            let ready = state.withLockedValue { state -> RecordingProxy.Dialog? in
                if !state.ready.isEmpty { return state.ready.removeFirst() }
                state.waiter = (token, continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// One dialog's state and its two connections. Touched on the client connection's event loop only.
final class DialogShell: @unchecked Sendable {
    private let configuration: RecordingProxy.Configuration
    private let loop: any EventLoop
    private let client: any Channel
    private var upstream: (any Channel)?
    private var session: ProxySession?
    private var toServer: [UInt8] = []
    private var clientInfo: TLSSessionInfo?
    private var upstreamInfo: TLSSessionInfo?
    private var problem: String?
    private var open: Set<Recording.Side> = [.client]
    private var finished = false
    private let started = NIODeadline.now()
    private var idle: Scheduled<Void>?
    /// The last write to each side: the other side's close waits for it.
    private var lastWrite: [Recording.Side: EventLoopFuture<Void>] = [:]
    private let report: @Sendable (RecordingProxy.Dialog) -> Void
    private let peer: String

    init(configuration: RecordingProxy.Configuration, client: any Channel, report: @escaping @Sendable (RecordingProxy.Dialog) -> Void) {
        self.configuration = configuration
        self.loop = client.eventLoop
        self.client = client
        self.report = report
        self.peer = client.remoteAddress.map { "\($0.ipAddress ?? "-"):\($0.port ?? 0)" } ?? "-"
        let formatter = ISO8601DateFormatter()
        self.session = try? ProxySession(
            preset: configuration.preset, upstream: configuration.upstream, recordedAt: formatter.string(from: Date()),
            recordLimit: configuration.recordLimit)
    }

    private var now: Double {
        Double((NIODeadline.now() - started).nanoseconds / 1000) / 1_000_000
    }

    /// The client connected: connect to the server.
    func clientActive() {
        guard session != nil else { return end(problem: "the preset '\(configuration.preset)' is not one parley record follows") }
        armIdle()
        let upstream = configuration.upstream
        let timeout = Self.timeAmount(configuration.connectTimeout)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    if upstream.implicitTLS {
                        try channel.pipeline.syncOperations.addHandler(
                            GnuTLSHandler(context: self.configuration.upstreamTLS, serverHostname: upstream.serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(SideHandler(dialog: self, side: .server))
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
        bootstrap.connect(host: upstream.host, port: upstream.port).hop(to: loop).whenComplete { result in
            switch result {
            case .success(let channel):
                self.upstream = channel
                self.open.insert(.server)
                let held = self.toServer
                self.toServer = []
                self.write(held, to: .server)
                if self.finished { channel.close(promise: nil) }
            case .failure(let error):
                self.end(problem: "cannot connect to the server \(upstream.host):\(upstream.port): \(error)")
            }
        }
    }

    func read(_ bytes: [UInt8], from side: Recording.Side) {
        guard !finished, var session else { return }
        armIdle()
        let actions = side == .client ? session.clientSent(bytes, at: now) : session.serverSent(bytes, at: now)
        self.session = session
        perform(actions)
    }

    private func perform(_ actions: [ProxySession.Action]) {
        for action in actions {
            switch action {
            case .toServer(let bytes):
                write(bytes, to: .server)
            case .toClient(let bytes):
                write(bytes, to: .client)
            case .startTLS:
                do {
                    try client.pipeline.syncOperations.addHandler(GnuTLSHandler(context: configuration.clientSideTLS), position: .first)
                    if let upstream {
                        try upstream.pipeline.syncOperations.addHandler(
                            GnuTLSHandler(context: configuration.upstreamTLS, serverHostname: configuration.upstream.serverName),
                            position: .first)
                    }
                } catch {
                    end(problem: "cannot start TLS: \(error)")
                }
            case .close(let reason):
                end(problem: reason)
            }
        }
    }

    /// Bytes from the client held while the connection to the server is being made.
    static let pendingLimit = 1 << 20

    /// Writes to one side (to the server: held until its connection is up), and stops reading
    /// the other side while this one cannot take more (its write buffer past NIO's high-water
    /// mark): a slow reader holds the fast writer back, so no buffer grows without bound.
    private func write(_ bytes: [UInt8], to side: Recording.Side) {
        guard !bytes.isEmpty else { return }
        let (target, source): ((any Channel)?, (any Channel)?) = side == .client ? (client, upstream) : (upstream, client)
        guard let target else {
            toServer += bytes
            if toServer.count > Self.pendingLimit {
                end(problem: "the client sent more than \(Self.pendingLimit) bytes before the server answered the connection")
            }
            return
        }
        lastWrite[side] = target.writeAndFlush(target.allocator.buffer(bytes: bytes))
        if !target.isWritable, let source { source.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in } }
    }

    /// A side can take writes again: read again from the other.
    func writable(_ side: Recording.Side, _ isWritable: Bool) {
        guard isWritable, let other = side == .client ? upstream : client else { return }
        other.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        other.read()
    }

    func handshake(_ info: TLSSessionInfo, side: Recording.Side) {
        if side == .client { clientInfo = info } else { upstreamInfo = info }
        guard let clientInfo, let upstreamInfo, var session else { return }
        session.handshakesCompleted(client: Self.record(clientInfo), upstream: Self.record(upstreamInfo), at: now)
        self.session = session
    }

    func error(_ error: any Error, side: Recording.Side) {
        guard problem == nil else { return }
        if let tls = error as? GnuTLSError {
            if case .uncleanShutdown = tls.kind { return }
            problem =
                side == .server
                ? "TLS with the server \(configuration.upstream.host):\(configuration.upstream.port) failed: \(tls)"
                : "TLS with the client \(peer) failed (does it trust the proxy's CA?): \(tls)"
        } else {
            problem = "the \(side == .client ? "client's" : "server's") connection failed: \(error)"
        }
    }

    func inactive(_ side: Recording.Side) {
        guard open.contains(side) else { return }
        let first = open.count == 2 || upstream == nil
        open.remove(side)
        // Only the side that closed first is recorded: the proxy closes the other.
        if !finished, first, var session {
            session.closed(by: side, at: now)
            self.session = session
        }
        // One side gone: the other goes too, once what was written to it is out.
        let other = side == .client ? upstream : client
        let written = lastWrite[side == .client ? .server : .client] ?? loop.makeSucceededVoidFuture()
        written.whenComplete { _ in other?.close(mode: .all, promise: nil) }
        if open.isEmpty || (side == .client && upstream == nil) { end(problem: nil) }
    }

    private func armIdle() {
        idle?.cancel()
        idle = loop.scheduleTask(in: Self.timeAmount(configuration.idleTimeout)) { [self] in
            end(problem: "nothing in either direction for \(configuration.idleTimeout)")
        }
    }

    private func end(problem: String?) {
        if let problem, self.problem == nil { self.problem = problem }
        guard !finished else { return }
        finished = true
        idle?.cancel()
        client.close(promise: nil)
        upstream?.close(promise: nil)
        guard let session else {
            return report(
                .init(
                    recording: Recording(preset: configuration.preset, upstream: configuration.upstream, recordedAt: ""), secretValues: [],
                    problem: self.problem, client: peer))
        }
        report(.init(recording: session.finished, secretValues: session.secretValues, problem: self.problem, client: peer))
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    static func record(_ info: TLSSessionInfo) -> Recording.TLSRecord {
        let leaf = info.peerCertificates.first
        return Recording.TLSRecord(
            version: info.protocolVersion, cipher: info.cipherSuite, group: info.keyExchangeGroup, alpn: info.alpn, verified: info.verified,
            problems: info.verificationProblems, peerSubject: leaf?.subject, peerIssuer: leaf?.issuer,
            peerSAN: leaf?.subjectAlternativeNames ?? [], serverName: info.serverName)
    }
}

/// Passes one connection's bytes and events to its dialog.
final class SideHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let dialog: DialogShell
    private let side: Recording.Side

    init(dialog: DialogShell, side: Recording.Side) {
        self.dialog = dialog
        self.side = side
    }

    func channelActive(context: ChannelHandlerContext) {
        if side == .client { dialog.clientActive() }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        dialog.read(buffer.readBytes(length: buffer.readableBytes) ?? [], from: side)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? GnuTLSEvent, case .handshakeCompleted(let info) = event { dialog.handshake(info, side: side) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        dialog.writable(side, context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        dialog.error(error, side: side)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        dialog.inactive(side)
        context.fireChannelInactive()
    }
}
