// SPDX-License-Identifier: Apache-2.0
internal import GnuTLSNIO
internal import NIOCore
internal import Patterns

/// The rules of one process, as a value: status, the current wait, hold-back, stop/continue,
/// the peer's close, the STARTTLS go-ahead and the close sequence.
///
/// Every input (bytes read, the channel closed, a timer fired, a user call) changes the state and
/// returns the ``Action``s that follow from it, in the order they must happen; the machine does
/// no I/O, keeps no clock and calls no closure. ``NetworkProcess`` is the shell that feeds it the
/// channel's events and performs the actions (writes, timers, sentinel calls, promise
/// completions). So each rule can be tested without a socket and without sleeping: a test feeds
/// inputs and fires timers by hand.
///
/// Waits are named by ``WaitID``: a call that starts one (``beginExpect(_:timeout:idleTimeout:wait:goAhead:)``,
/// ``beginQuiet(_:period:)``, ``beginTLS(_:duringConnect:)``) returns its id with the actions; the
/// wait ends with exactly one ``Action/complete(_:_:)`` for that id, possibly among the actions
/// just returned.
struct ProcessStateMachine {
    /// What a process is, beyond its type.
    enum Role: Sendable {
        case client
        case server
        case accepted
        case datagram
        case shell
    }

    /// The raw status; ``ProcessStatus`` is what it reports.
    enum RawStatus: Sendable {
        case connecting
        case running
        case listening
        case exited(ExitStatus)
        case failed(ExitStatus)
    }

    /// Names one wait, from its start to its completion.
    struct WaitID: Hashable, Sendable {
        let value: UInt64
    }

    /// A timer the machine asked for.
    enum Timer: Hashable, Sendable {
        /// A wait's deadline.
        case deadline(WaitID)
        /// An expect's idle deadline (no byte for this long).
        case idle(WaitID)
    }

    /// How a wait ended well.
    enum WaitResult: Sendable {
        /// An expect matched. When it carried a go-ahead whose pattern matched the reply, the TLS
        /// handshake has started in the same turn: `handshake` names its wait.
        case matched(StreamMatch, handshake: WaitID?)
        /// A silence held, or the peer closed.
        case quiet
        /// A TLS handshake completed.
        case session(TLSSessionInfo)
    }

    /// A TLS session to start on the connection.
    struct TLSRequest: Sendable {
        /// The credentials and settings.
        var context: GnuTLSContext
        /// The name to verify and send as SNI.
        var serverHostname: String?
        /// The handshake's deadline.
        var timeout: Duration
        /// The bytes received and not consumed are the peer's first TLS records, not plaintext:
        /// they go to the TLS handler instead of being discarded (a server's side of implicit
        /// TLS, or of a go-ahead an earlier step sent, where the ClientHello may have arrived first).
        var keepReceived = false
    }

    /// What a STARTTLS reply must say for the upgrade to start, and the session to start.
    struct GoAhead: Sendable {
        /// Matched against the reply; a match means go ahead.
        var success: BytePattern
        /// The session to start at once on a go-ahead.
        var tls: TLSRequest
    }

    /// What the shell must do, in order.
    enum Action: Sendable {
        /// Tell the observer.
        case emit(ProcessEvent)
        /// Call the sentinel (if one is set) with an Emacs event string.
        case sentinel(String)
        /// Call the filter with one chunk.
        case filter([UInt8])
        /// A wait started inside the machine (a handshake after a go-ahead): be ready to complete it.
        case track(WaitID)
        /// End a wait.
        case complete(WaitID, Result<WaitResult, NetworkError>)
        /// Start a timer; its firing comes back as ``timerFired(_:)``.
        case schedule(Timer, Duration)
        /// Cancel a timer (a late firing is ignored anyway).
        case cancel(Timer)
        /// Stop reading from the channel.
        case pauseReading
        /// Read from the channel again (and ask for a read now).
        case resumeReading
        /// Put the TLS handler at the front of the pipeline; a failure comes back as
        /// ``tlsInsertFailed(_:_:)``.
        case insertTLS(TLSRequest, WaitID, replay: [UInt8])
        /// Close the channel (our side).
        case close
        /// Free the name in the process table.
        case releaseName
        /// End a shell connection's child.
        case terminateChild
    }

    /// What a send should do.
    enum SendPlan: Sendable {
        /// Write the bytes (to `address` on a datagram process), after emitting `event`.
        case write(event: ProcessEvent, address: SocketAddress?)
        /// Drop them (after send-eof).
        case discard
    }

    /// A read or close that arrived while the process was stopped.
    private enum Held {
        case read([UInt8], SocketAddress?)
        case close
    }

    /// An `expect` in progress.
    private struct MatchWait {
        var id: WaitID
        var pattern: BytePattern
        var wait: Wait
        var deadline: Duration
        var idle: Duration?
        var goAhead: GoAhead?
    }

    /// A wait for silence or for the peer to close.
    private struct QuietWait {
        var id: WaitID
        var wait: Wait
        var deadline: Duration
    }

    /// A TLS handshake in progress.
    private struct HandshakeWait {
        var id: WaitID
        var deadline: Duration
    }

    /// The most bytes one filter call receives (Emacs's `read-process-output-max`); also the
    /// size a longer datagram is cut to.
    static let chunkSize = 4096
    /// How many trailing bytes an error report carries.
    static let tailSize = 512

    /// The process's name, for messages.
    let name: String
    /// What the process is.
    let role: Role
    /// The raw status.
    private(set) var raw: RawStatus
    /// Stopped by `stop-process`.
    private(set) var stopped: Bool
    /// Whether received bytes go to a filter instead of the receive buffer.
    var hasFilter = false
    /// The receive buffer and its read position.
    private var matcher: StreamMatcher
    /// A channel is attached and has not closed.
    private var channelOpen = false
    private var peerClosed = false
    private var closingLocally = false
    /// The TLS session, once a handshake has completed.
    private(set) var tls: TLSSessionInfo?
    /// Plaintext bytes discarded after STARTTLS go-aheads.
    private(set) var discardedBytes = 0
    /// An error the channel reported, for the next wait.
    private var pendingError: NetworkError?
    /// Reading is paused because the receive buffer is full and no wait consumes it.
    private var heldBack = false
    /// Events that arrived while stopped, delivered by `continue`.
    private var held: [Held] = []
    /// After send-eof: later sends are discarded until the peer closes.
    private var eofSent = false
    /// A datagram process's current reply address.
    private(set) var datagramAddress: SocketAddress?
    /// A name claimed in the table and not yet released.
    private var nameClaimed: Bool
    private var match: MatchWait?
    private var quiet: QuietWait?
    private var handshake: HandshakeWait?
    private var nextID: UInt64 = 0

    /// A machine in status `raw`.
    ///
    /// - Parameters:
    ///   - name: the process's name, for messages.
    ///   - role: what the process is.
    ///   - raw: the initial status.
    ///   - nameClaimed: whether the name is held in a table (released once, when the process ends).
    ///   - receiveLimit: the receive buffer's bound.
    ///   - stopped: created stopped.
    init(name: String, role: Role, raw: RawStatus, nameClaimed: Bool, receiveLimit: Int, stopped: Bool = false) {
        self.name = name
        self.role = role
        self.raw = raw
        self.nameClaimed = nameClaimed
        self.matcher = StreamMatcher(limit: receiveLimit)
        self.stopped = stopped
    }

    // MARK: - Reading the state

    /// `network`, or `real` for a shell connection.
    var type: ProcessType { role == .shell ? .real : .network }

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
    var exitStatus: ExitStatus? {
        switch raw {
        case .exited(let status), .failed(let status): return status
        default: return nil
        }
    }

    /// Whether a connect (or its TLS handshake) is still in progress.
    var isConnecting: Bool {
        if case .connecting = raw { return true }
        return false
    }

    /// Whether TLS is active on the connection.
    var tlsActive: Bool { tls != nil }

    /// The receive buffer's bound, for accepted connections to inherit.
    var receiveLimit: Int { matcher.limit }

    /// Bytes received and not yet consumed by a match.
    var bufferedCount: Int { matcher.bufferedCount }

    // MARK: - Opening

    /// A channel is attached: the connection is up (or, with `keepConnecting`, up but with a TLS
    /// handshake to come before it counts as open).
    ///
    /// - Parameters:
    ///   - local: the local address, for the transcript.
    ///   - remote: the remote address.
    ///   - sentinelEvent: the event to report before any data ("open\n" for non-blocking connects,
    ///     "open from HOST\n" for accepted connections), or nil.
    ///   - keepConnecting: stay in `connect`.
    mutating func attached(local: String, remote: String, sentinelEvent: String?, keepConnecting: Bool = false) -> [Action] {
        channelOpen = true
        if !keepConnecting {
            raw = role == .server ? .listening : .running
        }
        var actions: [Action] = []
        if role != .server && role != .datagram && role != .shell {
            actions.append(.emit(.connected(local: local, remote: remote)))
        }
        if stopped { actions.append(.pauseReading) }
        if let sentinelEvent { actions.append(.sentinel(sentinelEvent)) }
        return actions
    }

    /// The channel's reading, paused until the process existed, may resume (unless stopped or
    /// held back).
    func readingMayResume() -> [Action] {
        guard !stopped, !heldBack else { return [] }
        return [.resumeReading]
    }

    /// Sets the reply address of a datagram process.
    mutating func setDatagramAddress(_ address: SocketAddress?) {
        datagramAddress = address
    }

    /// The connect failed: status `failed` with `code`; the sentinel gets "failed with code N\n"
    /// when asked (non-blocking connects).
    mutating func connectFailed(_ code: ExitStatus, callSentinel: Bool) -> [Action] {
        guard isConnecting else { return [] }
        raw = .failed(code)
        return callSentinel ? [.sentinel("failed with code \(code)\n")] : []
    }

    /// The TLS handshake of a non-blocking connect failed: `failed` with "TLS negotiation failed"
    /// and no sentinel call, as in Emacs.
    mutating func connectHandshakeFailed() -> [Action] {
        guard isConnecting else { return [] }
        raw = .failed(.message("TLS negotiation failed"))
        closingLocally = true
        return [.close]
    }

    // MARK: - Sending

    /// Decides what a send does.
    ///
    /// - Returns: the plan, or `.notOpen` ("Process NAME not running").
    mutating func send(_ bytes: [UInt8]) -> Result<SendPlan, NetworkError> {
        guard case .running = raw, channelOpen else {
            return .failure(NetworkError(.notOpen, message: "Process \(name) not running"))
        }
        if eofSent { return .success(.discard) }
        if role == .datagram {
            guard let address = datagramAddress, address.port != 0 else {
                return .failure(NetworkError(.notOpen, message: "Process \(name) has no datagram address to send to"))
            }
            return .success(.write(event: .sent(bytes, tls: tlsActive), address: address))
        }
        return .success(.write(event: .sent(bytes, tls: tlsActive), address: nil))
    }

    /// Emacs's `process-send-eof`: shuts down our sending side once; nothing on a datagram
    /// process.
    ///
    /// - Returns: whether to shut down the sending side now.
    mutating func sendEOF() -> Result<Bool, NetworkError> {
        guard case .running = raw else {
            return .failure(NetworkError(.notOpen, message: "Process \(name) not running"))
        }
        if role == .datagram || eofSent { return .success(false) }
        eofSent = true
        return .success(true)
    }

    // MARK: - Waits

    private mutating func makeID() -> WaitID {
        nextID += 1
        return WaitID(value: nextID)
    }

    /// Starts waiting until the received bytes match `pattern` (consuming them through the
    /// match). With `goAhead`, a reply that matches its pattern starts the TLS handshake in the
    /// same turn: plaintext after the go-ahead is discarded and reported, never fed to TLS.
    mutating func beginExpect(
        _ pattern: BytePattern,
        timeout: Duration,
        idleTimeout: Duration?,
        wait: Wait,
        goAhead: GoAhead? = nil
    ) -> (WaitID, [Action]) {
        let id = makeID()
        guard match == nil, quiet == nil else {
            return (id, [.complete(id, .failure(NetworkError(.busy, wait: wait, message: "another wait is in progress")))])
        }
        match = MatchWait(id: id, pattern: pattern, wait: wait, deadline: timeout, idle: idleTimeout, goAhead: goAhead)
        var actions: [Action] = [.schedule(.deadline(id), timeout)]
        if let idleTimeout { actions.append(.schedule(.idle(id), idleTimeout)) }
        advanceMatch(&actions)
        if match != nil || matcher.bufferedCount < matcher.limit {
            resumeIfHeldBack(&actions)
        }
        return (id, actions)
    }

    /// Starts waiting for silence (nothing arrives for `period`; bytes not yet consumed fail it
    /// at once) or for the peer to close (within `period`).
    mutating func beginQuiet(_ wait: Wait, period: Duration) -> (WaitID, [Action]) {
        let id = makeID()
        guard match == nil, quiet == nil else {
            return (id, [.complete(id, .failure(NetworkError(.busy, wait: wait, message: "another wait is in progress")))])
        }
        if wait == .peerClose, peerClosed { return (id, [.complete(id, .success(.quiet))]) }
        if wait == .silence, matcher.bufferedCount > 0 {
            let error = NetworkError(
                .unexpectedData,
                wait: wait,
                deadline: period,
                message: "\(matcher.bufferedCount) bytes arrived after the last match, where nothing more should",
                tail: matcher.tail(Self.tailSize)
            )
            return (id, [.complete(id, .failure(error))])
        }
        quiet = QuietWait(id: id, wait: wait, deadline: period)
        return (id, [.schedule(.deadline(id), period)])
    }

    /// Starts TLS on the connection now (implicit TLS, or after a go-ahead the caller matched).
    /// Bytes received and not consumed are discarded first, and reported.
    mutating func beginTLS(_ request: TLSRequest, duringConnect: Bool = false) -> (WaitID, [Action]) {
        var actions: [Action] = []
        let id = startHandshake(request, duringConnect: duringConnect, into: &actions)
        return (id, actions)
    }

    private mutating func startHandshake(_ request: TLSRequest, duringConnect: Bool, into actions: inout [Action]) -> WaitID {
        let id = makeID()
        let ready: Bool
        switch raw {
        case .running: ready = true
        case .connecting: ready = duringConnect
        default: ready = false
        }
        guard ready, channelOpen, !tlsActive, handshake == nil else {
            let why = tlsActive ? "TLS is already active" : "the process is \(reportedStatus.rawValue)"
            let error = NetworkError(.notOpen, wait: .handshake, message: "cannot start TLS: \(why)")
            actions.append(.complete(id, .failure(error)))
            return id
        }
        // The response-injection defence: plaintext after the go-ahead is never fed to TLS,
        // unless the caller says the bytes are TLS records already.
        let leftover = matcher.removeAll()
        if !leftover.isEmpty, !request.keepReceived {
            discardedBytes += leftover.count
            actions.append(.emit(.discarded(leftover)))
        }
        handshake = HandshakeWait(id: id, deadline: request.timeout)
        actions.append(.schedule(.deadline(id), request.timeout))
        actions.append(.emit(.handshakeStarted(serverName: request.serverHostname)))
        actions.append(.insertTLS(request, id, replay: request.keepReceived ? leftover : []))
        return id
    }

    /// The TLS handler could not be inserted.
    mutating func tlsInsertFailed(_ id: WaitID, _ message: String) -> [Action] {
        guard handshake?.id == id else { return [] }
        var actions: [Action] = []
        failHandshake(NetworkError(.tls, message: "cannot start TLS: \(message)"), into: &actions)
        return actions
    }

    /// Throws away the bytes received and not consumed (Emacs's START for a command).
    ///
    /// - Returns: how many were thrown away, and the actions.
    mutating func discardPending() -> (Int, [Action]) {
        let count = matcher.removeAll().count
        var actions: [Action] = []
        resumeIfHeldBack(&actions)
        return (count, actions)
    }

    /// A timer fired. One whose wait has ended (or been replaced) is ignored.
    mutating func timerFired(_ timer: Timer) -> [Action] {
        switch timer {
        case .deadline(let id):
            if let current = match, current.id == id {
                match = nil
                var actions: [Action] = []
                if current.idle != nil { actions.append(.cancel(.idle(id))) }
                let error = NetworkError(
                    .timeout,
                    wait: current.wait,
                    deadline: current.deadline,
                    message: "timed out after \(current.deadline.secondsText) waiting for \(current.wait)",
                    tail: matcher.tail(Self.tailSize)
                )
                actions.append(.complete(id, .failure(error)))
                return actions
            }
            if let current = quiet, current.id == id {
                quiet = nil
                if current.wait == .silence { return [.complete(id, .success(.quiet))] }
                let error = NetworkError(
                    .timeout,
                    wait: current.wait,
                    deadline: current.deadline,
                    message: "timed out after \(current.deadline.secondsText) waiting for \(current.wait)",
                    tail: matcher.tail(Self.tailSize)
                )
                return [.complete(id, .failure(error))]
            }
            if let current = handshake, current.id == id {
                handshake = nil
                let error = NetworkError(
                    .timeout,
                    wait: .handshake,
                    deadline: current.deadline,
                    message: "timed out after \(current.deadline.secondsText) waiting for \(Wait.handshake)"
                )
                closingLocally = true
                return [.complete(id, .failure(error)), .close]
            }
            return []
        case .idle(let id):
            guard let current = match, current.id == id, let idle = current.idle else { return [] }
            match = nil
            let error = NetworkError(
                .timeout,
                wait: current.wait,
                deadline: idle,
                message: "nothing arrived for \(idle.secondsText) (the idle timeout) while waiting for \(current.wait)",
                tail: matcher.tail(Self.tailSize)
            )
            return [.cancel(.deadline(id)), .complete(id, .failure(error))]
        }
    }

    /// Tries the pending expect against what has been received; completes it when it can.
    private mutating func advanceMatch(_ actions: inout [Action]) {
        guard let current = match else { return }
        func end() { _ = endMatch(into: &actions) }
        switch matcher.search(current.pattern, atEnd: peerClosed) {
        case .matched(let found):
            end()
            var upgrade: WaitID?
            if let goAhead = current.goAhead, goAhead.success.firstMatch(in: found.matched) != nil {
                // Decided in the matching turn: upgrade now, before any further read.
                var tlsActions: [Action] = []
                let id = startHandshake(goAhead.tls, duringConnect: false, into: &tlsActions)
                actions.append(.track(id))
                actions += tlsActions
                upgrade = id
            }
            actions.append(.complete(current.id, .success(.matched(found, handshake: upgrade))))
        case .limitExceeded:
            end()
            let error = NetworkError(
                .bufferLimit,
                wait: current.wait,
                message: "the receive buffer reached its limit while waiting for \(current.wait)",
                tail: matcher.tail(Self.tailSize)
            )
            actions.append(.complete(current.id, .failure(error)))
        case .needMore:
            if var error = pendingError {
                end()
                error.wait = current.wait
                error.tail = matcher.tail(Self.tailSize)
                actions.append(.complete(current.id, .failure(error)))
            } else if peerClosed {
                end()
                let error = NetworkError(
                    .closedByPeer,
                    wait: current.wait,
                    message: "the peer closed the connection while waiting for \(current.wait)",
                    tail: matcher.tail(Self.tailSize)
                )
                actions.append(.complete(current.id, .failure(error)))
            }
        }
    }

    // MARK: - Channel events

    /// Bytes arrived (one datagram, on a datagram process, from `address`).
    mutating func bytesRead(_ bytes: [UInt8], from address: SocketAddress? = nil) -> [Action] {
        var bytes = bytes
        if role == .datagram, bytes.count > Self.chunkSize {
            // One datagram is one read; the rest of a long one is lost, as in Emacs.
            bytes.removeSubrange(Self.chunkSize...)
        }
        if stopped {
            held.append(.read(bytes, address))
            return []
        }
        var actions: [Action] = []
        deliver(bytes, from: address, into: &actions)
        return actions
    }

    /// Hands received bytes to the filter, or to the receive buffer.
    private mutating func deliver(_ bytes: [UInt8], from address: SocketAddress?, into actions: inout [Action]) {
        if let address { datagramAddress = address }
        actions.append(.emit(.received(bytes, tls: tlsActive)))
        if hasFilter {
            if role == .datagram || bytes.count <= Self.chunkSize {
                actions.append(.filter(bytes))
            } else {
                var start = 0
                while start < bytes.count {
                    let end = min(bytes.count, start + Self.chunkSize)
                    actions.append(.filter(Array(bytes[start..<end])))
                    start = end
                }
            }
            return
        }
        noteArrival(bytes, into: &actions)
        matcher.append(bytes)
        advanceMatch(&actions)
        holdBackIfFull(&actions)
    }

    /// Bytes arrived: a silence wait fails; an expect's idle timer starts again.
    private mutating func noteArrival(_ bytes: [UInt8], into actions: inout [Action]) {
        if let current = quiet, current.wait == .silence {
            quiet = nil
            let error = NetworkError(
                .unexpectedData,
                wait: .silence,
                deadline: current.deadline,
                message: "\(bytes.count) bytes arrived during the \(current.deadline.secondsText) that should have been quiet",
                tail: Array(bytes.prefix(Self.tailSize))
            )
            actions.append(.cancel(.deadline(current.id)))
            actions.append(.complete(current.id, .failure(error)))
        }
        if let current = match, let idle = current.idle {
            actions.append(.cancel(.idle(current.id)))
            actions.append(.schedule(.idle(current.id), idle))
        }
    }

    /// Stops reading while no wait is active and the receive buffer holds `receiveLimit` bytes.
    ///
    /// A wait bounds the buffer itself (a search drops what cannot match, and a partial match
    /// that reaches the limit fails with `bufferLimit`), but between waits nothing consumes
    /// received bytes: a peer that floods then would grow the buffer without end. The kernel's
    /// socket buffer and TCP flow control hold the rest until the next wait resumes reading.
    private mutating func holdBackIfFull(_ actions: inout [Action]) {
        guard match == nil, !heldBack, matcher.bufferedCount >= matcher.limit, channelOpen else { return }
        heldBack = true
        actions.append(.pauseReading)
    }

    /// Undoes ``holdBackIfFull(_:)``, unless the process is stopped.
    private mutating func resumeIfHeldBack(_ actions: inout [Action]) {
        guard heldBack else { return }
        heldBack = false
        guard !stopped, channelOpen else { return }
        actions.append(.resumeReading)
    }

    /// The TLS handshake finished.
    mutating func handshakeCompleted(_ info: TLSSessionInfo) -> [Action] {
        tls = info
        var actions: [Action] = [.emit(.tlsEstablished(info))]
        if isConnecting {
            raw = .running
            actions.append(.sentinel("open\n"))
        }
        if let current = handshake {
            handshake = nil
            actions.append(.cancel(.deadline(current.id)))
            actions.append(.complete(current.id, .success(.session(info))))
        }
        return actions
    }

    /// The channel reported an error: it fails the handshake in progress, or else the next wait.
    mutating func errorCaught(_ error: NetworkError) -> [Action] {
        var actions: [Action] = []
        if handshake != nil {
            failHandshake(error, into: &actions)
            return actions
        }
        if pendingError == nil { pendingError = error }
        advanceMatch(&actions)
        return actions
    }

    /// The channel closed (by the peer, or after our close).
    ///
    /// Emacs's order: the status changes and the sentinel gets "connection broken by remote
    /// peer\n" (a close we did not start), then waits end: a silence or close wait succeeds, a
    /// handshake fails, an expect that cannot match any more fails.
    mutating func channelClosed() -> [Action] {
        if stopped, case .running = raw {
            // Emacs notices no EOF while stopped.
            held.append(.close)
            return []
        }
        peerClosed = true
        channelOpen = false
        var actions: [Action] = []
        var byPeer = false
        if case .running = raw, !closingLocally {
            byPeer = true
            raw = .exited(.code(256))
            releaseName(&actions)
            actions.append(.sentinel("connection broken by remote peer\n"))
        } else if case .listening = raw {
            raw = .exited(.code(0))
            releaseName(&actions)
        }
        actions.append(.emit(.closed(byPeer: byPeer)))
        if let current = quiet {
            quiet = nil
            actions.append(.cancel(.deadline(current.id)))
            actions.append(.complete(current.id, .success(.quiet)))
        }
        failHandshake(
            pendingError ?? NetworkError(.closedByPeer, message: "the connection closed during the TLS handshake"),
            into: &actions
        )
        advanceMatch(&actions)
        return actions
    }

    // MARK: - User calls

    /// Emacs's `delete-process`: status `closed` with exit status 0, the name freed, the sentinel
    /// gets "deleted\n", a shell's child ends, every wait fails, and our side closes.
    mutating func delete() -> [Action] {
        if case .exited = raw { return [] }
        raw = .exited(.code(0))
        var actions: [Action] = []
        releaseName(&actions)
        actions.append(.sentinel("deleted\n"))
        if role == .shell { actions.append(.terminateChild) }
        held = []
        let error = NetworkError(.notOpen, message: "Process \(name) was deleted")
        if let current = endMatch(into: &actions) {
            var failure = error
            failure.wait = current.wait
            actions.append(.complete(current.id, .failure(failure)))
        }
        failHandshake(error, into: &actions)
        if channelOpen {
            closingLocally = true
            actions.append(.close)
        }
        return actions
    }

    /// Ends the expect in progress, if any, with its timers; returns it.
    private mutating func endMatch(into actions: inout [Action]) -> MatchWait? {
        guard let current = match else { return nil }
        match = nil
        actions.append(.cancel(.deadline(current.id)))
        if current.idle != nil { actions.append(.cancel(.idle(current.id))) }
        return current
    }

    /// Fails the handshake in progress, if any, with `error` (its wait named the handshake).
    private mutating func failHandshake(_ error: NetworkError, into actions: inout [Action]) {
        guard let current = handshake else { return }
        handshake = nil
        var failure = error
        failure.wait = .handshake
        actions.append(.cancel(.deadline(current.id)))
        actions.append(.complete(current.id, .failure(failure)))
    }

    private mutating func releaseName(_ actions: inout [Action]) {
        guard nameClaimed else { return }
        nameClaimed = false
        actions.append(.releaseName)
    }

    /// Emacs's `stop-process`: nothing is read (or accepted) until ``continue()``.
    mutating func stop() -> [Action] {
        stopped = true
        return channelOpen ? [.pauseReading] : []
    }

    /// Emacs's `continue-process`: what arrived while stopped is delivered, then reading resumes.
    mutating func `continue`() -> [Action] {
        guard stopped else { return [] }
        stopped = false
        let pending = held
        held = []
        var actions: [Action] = []
        for event in pending {
            switch event {
            case .read(let bytes, let address): deliver(bytes, from: address, into: &actions)
            case .close: actions += channelClosed()
            }
        }
        if channelOpen, !heldBack { actions.append(.resumeReading) }
        return actions
    }
}
