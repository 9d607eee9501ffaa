// SPDX-License-Identifier: Apache-2.0
import Foundation
internal import GnuTLSNIO
internal import NIOConcurrencyHelpers
internal import NetworkStream
internal import Patterns
public import Scenario

/// The connections a listener has accepted and no `accept` step has taken yet, in order, and
/// the `accept` waiting for the next one. Filled on the event loop by the engine's log function
/// (Emacs's `:log`, called for each accepted connection), read by the run.
final class AcceptQueue: Sendable {
    private struct State {
        var waiting: [NetworkProcess] = []
        var taker: CheckedContinuation<NetworkProcess?, Never>?
        var closed = false
    }
    private let state = NIOLockedValueBox(State())
    /// Each accepted connection's events, kept until whoever takes the connection attaches.
    private let routes = NIOLockedValueBox<[String: EventRoute]>([:])

    /// Where the events of `process` (a connection this queue's listener accepted) go.
    func route(of process: NetworkProcess) -> EventRoute {
        routes.withLockedValue { $0.removeValue(forKey: process.name) } ?? EventRoute()
    }

    /// A connection arrived: hand it to the waiting `accept`, or keep it.
    func arrived(_ process: NetworkProcess) {
        let taker: CheckedContinuation<NetworkProcess?, Never>? = state.withLockedValue { state in
            if state.closed { return nil }
            if let taker = state.taker {
                state.taker = nil
                return taker
            }
            state.waiting.append(process)
            return nil
        }
        taker?.resume(returning: process)
    }

    /// The next connection, or nil when `timeout` passes first (or the queue is closed).
    func next(timeout: Duration) async -> NetworkProcess? {
        let deadline = Task {
            try? await Task.sleep(for: timeout)
            self.expire()
        }
        defer { deadline.cancel() }
        return await withCheckedContinuation { continuation in
            let ready: NetworkProcess?? = state.withLockedValue { state in
                if !state.waiting.isEmpty { return .some(state.waiting.removeFirst()) }
                if state.closed { return .some(nil) }
                state.taker = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// The wait ran out: the waiting `accept` gets nil.
    private func expire() {
        let taker = state.withLockedValue { state in
            defer { state.taker = nil }
            return state.taker
        }
        taker?.resume(returning: nil)
    }

    /// A stream server (Emacs's `:server t`) for `spec` whose accepted connections come here;
    /// returns it and the port it is bound to (the real one when a free one was asked for).
    func listen(_ spec: NetworkProcess.Spec) async throws(NetworkError) -> (NetworkProcess, Int) {
        var spec = spec
        spec.server = true
        spec.log = { _, accepted, _ in
            if let accepted { self.arrived(accepted) }
        }
        let routes = self.routes
        spec.acceptedObserver = { name in
            let route = EventRoute()
            routes.withLockedValue { $0[name] = route }
            return { event in route.receive(event) }
        }
        let process = try await NetworkProcess.make(spec, in: ProcessTable())
        let contact = await process.snapshot().contact
        return (process, contact.localPort ?? Int(contact.service ?? "") ?? 0)
    }

    /// No more connections are taken; those not taken are returned to be closed.
    func close() -> [NetworkProcess] {
        let (taker, left) = state.withLockedValue { state in
            state.closed = true
            defer {
                state.taker = nil
                state.waiting = []
            }
            return (state.taker, state.waiting)
        }
        taker?.resume(returning: nil)
        return left
    }
}

extension Execution {
    /// A scripted server's listener: what it is bound to and the clients it has accepted.
    struct Listener: Sendable {
        let process: NetworkProcess
        let host: String
        let port: Int
        let queue: AcceptQueue
    }

    /// `listen`: a stream server (Emacs's `:server t`) on the host and port asked for (a free
    /// port by default); its accepted connections wait for `accept`.
    @inline(never)
    func perform(_ listen: Step.Listen, at location: SourceLocation) async throws(Failure) {
        if listeners[listen.name] != nil {
            throw Failure(.runtime, at: location, "there is already a listener named '\(listen.name)'")
        }
        let host = try listen.host.map { template throws(Failure) in try expand(template) } ?? "127.0.0.1"
        var port = 0
        if let template = listen.port {
            let text = try expand(template)
            guard let value = Int(text), (0...65535).contains(value) else {
                throw Failure(.runtime, at: template.location, "'\(text)' is not a TCP port (0 for any free one, up to 65535)")
            }
            port = value
        }
        let queue = AcceptQueue()
        var spec = NetworkProcess.Spec(name: listen.name, host: host, service: port == 0 ? .any : .port(port))
        spec.group = loop
        spec.backlog = 16
        spec.observer = observer(for: listen.name)
        let process: NetworkProcess
        let bound: Int
        do {
            (process, bound) = try await queue.listen(spec)
        } catch {
            throw failure(error, at: location, expected: nil)
        }
        listeners[listen.name] = Listener(process: process, host: host, port: bound, queue: queue)
        lastListener = listen.name
        scope.servers[listen.name] = (host, bound)
        emit(.note("listening on \(host):\(bound) (\(listen.name))"))
    }

    /// `accept`: the next client of a listener becomes the current connection.
    @inline(never)
    func perform(_ accept: Step.Accept, at location: SourceLocation) async throws(Failure) {
        guard let name = accept.from ?? lastListener, let listener = listeners[name] else {
            let known = listeners.keys.sorted()
            throw Failure(
                .runtime, at: location,
                accept.from.map { "there is no listener named '\($0)' (known: \(known.joined(separator: ", ")))" }
                    ?? "'accept' needs a 'listen' step first")
        }
        let timeout = accept.timeout ?? scenario.timeouts.connect
        guard let process = await listener.queue.next(timeout: timeout) else {
            var failure = Failure(
                .expectation, at: location,
                "no client connected to \(listener.host):\(listener.port) (\(name)) within \(timeout)")
            failure.wait = .connect
            failure.deadline = timeout
            throw failure
        }
        if let previous = connections.removeValue(forKey: accept.name) {
            await previous.process.close()
        }
        // Its events (those before this too) carry the name the step gives the connection.
        listener.queue.route(of: process).attach(observer(for: accept.name, accepted: true))
        let contact = await process.snapshot().contact
        let connection = Connection(process: process, host: contact.host ?? "-")
        connection.port = Int(contact.service ?? "") ?? 0
        connection.accepted = true
        connections[accept.name] = connection
        current = accept.name
        emit(.note("accepted a client from \(contact.host ?? "-"):\(contact.service ?? "-") (\(accept.name))"))
    }

    /// A server-side handshake under way, and what its step expects.
    struct PendingHandshake: Sendable {
        let task: Task<NetworkError?, Never>
        let expectFailure: Bool
        let refusal: Step.StartTLS.ClientRefusal?
        let timeout: Duration
        let location: SourceLocation
        /// The certificate's file name, for the failure of a client that accepted it.
        let certificate: String
    }

    /// `starttls` on an accepted connection: the server side of the handshake, with the step's
    /// certificate and key (the script has read the command and sent the go-ahead). The
    /// handshake is started, not awaited: the next step on this connection waits for it, so a
    /// client played by the same scenario can do its side in between.
    func serverStartTLS(_ starttls: Step.StartTLS, connection: Connection, at location: SourceLocation) async throws(Failure) {
        guard let credentials = starttls.server else {
            throw Failure(
                .runtime, at: location,
                "'starttls' on an accepted connection plays the server: give it 'certificate' and 'key'")
        }
        var configuration = TLSConfiguration.server(
            certificateChainFile: try resolvePath(credentials.certificate, at: location) ?? credentials.certificate,
            privateKeyFile: try resolvePath(credentials.key, at: location) ?? credentials.key
        )
        if let priority = starttls.tls.priority { configuration.priority = priority }
        configuration.alpn = starttls.tls.alpn
        switch credentials.clientCertificate {
        case "require": configuration.clientCertificateMode = .require
        case "request": configuration.clientCertificateMode = .request
        default: break
        }
        if let caFile = try resolvePath(starttls.tls.caFile, at: location) { configuration.trustRoots = .file(caFile) }
        let context = try TLSContextFactory(caches: runner.caches).context(configuration, at: location)
        let timeout = starttls.handshakeTimeout ?? scenario.timeouts.handshake
        var goAhead: [UInt8] = []
        if let template = credentials.goAhead { goAhead = Array(try expand(template).utf8) + [13, 10] }
        if let template = credentials.inject {
            let injected = Array(try expand(template).utf8)
            goAhead += injected
            emit(.note("\(injected.count) bytes injected right behind the go-ahead, before the handshake: the client must discard them"))
        }
        let start: NetworkProcess.TLSStart
        do throws(NetworkError) {
            // Without a go-ahead, TLS starts from the bytes already received: implicit TLS
            // (SMTPS, IMAPS, POP3S), where the ClientHello may be there before this step.
            start = try await connection.process.acceptTLS(
                goAhead: goAhead, context: context, timeout: timeout, keepReceived: credentials.goAhead == nil && credentials.inject == nil)
        } catch {
            throw failure(error, at: location, expected: nil)
        }
        let task = Task { () -> NetworkError? in
            do throws(NetworkError) {
                _ = try await start.session()
                return nil
            } catch {
                return error
            }
        }
        connection.tlsOptions = starttls.tls
        connection.pendingHandshake = PendingHandshake(
            task: task, expectFailure: starttls.expectFailure, refusal: starttls.clientRefusal, timeout: timeout, location: location,
            certificate: URL(fileURLWithPath: credentials.certificate).lastPathComponent)
    }

    /// Waits for a server-side handshake started by `starttls`, and fails as its step would.
    @inline(never)
    func settle(_ connection: Connection) async throws(Failure) {
        guard let pending = connection.pendingHandshake else { return }
        connection.pendingHandshake = nil
        let error = await pending.task.value
        if let error {
            if pending.refusal == .allowed {
                set("starttls", "failed")
                emit(.note("the client did not finish the TLS handshake: \(error.message)"))
                endedEarly = "the client refused the TLS handshake, which this step allows: the rest of the case does not apply"
                return
            }
            if pending.expectFailure {
                set("starttls", "failed")
                emit(.note("the TLS handshake failed, as the step expects: \(error.message)"))
                return
            }
            guard error.kind == .tls else { throw failure(error, at: pending.location, expected: nil) }
            // Playing the server, a handshake the client broke off is the client's doing.
            var failed = failure(error, at: pending.location, expected: nil)
            failed.kind = .expectation
            failed.message = "the client did not finish the TLS handshake with the certificate \(pending.certificate): \(error.message)"
            throw failed
        }
        set("starttls", "upgraded")
        if pending.refusal == .required {
            try await awaitRefusal(on: connection, pending)
            return
        }
        if pending.expectFailure {
            throw Failure(
                .expectation, at: pending.location,
                "the client completed the TLS handshake with the certificate \(pending.certificate), which it must refuse (the step expects the handshake to fail)"
            )
        }
    }

    /// After a handshake the client should have refused: a client that checks the certificate
    /// only once the handshake is done must then close without sending anything.
    private func awaitRefusal(on connection: Connection, _ pending: PendingHandshake) async throws(Failure) {
        let line = try compile(Self.respondLine(at: pending.location))
        let sent: [UInt8]
        do {
            sent = try await connection.process.expect(line, timeout: pending.timeout).matched
        } catch {
            switch error.kind {
            case .closedByPeer, .notOpen:
                set("starttls", "refused")
                emit(
                    .note(
                        "the client closed the connection right after the handshake without sending anything: it refused the certificate \(pending.certificate) once it had checked it"
                    ))
                return
            case .timeout:
                throw Failure(
                    .expectation, at: pending.location,
                    "the client completed the TLS handshake with the certificate \(pending.certificate), which it must refuse, and neither closed the connection nor sent anything within \(pending.timeout)"
                )
            default:
                throw failure(error, at: pending.location, expected: "the client closes the connection")
            }
        }
        var failure = Failure(
            .expectation, at: pending.location,
            "the client accepted the certificate \(pending.certificate), which it must refuse: after the handshake it sent '\(Self.visible(sent))'"
        )
        failure.actual = Self.visible(sent)
        throw failure
    }

    /// Makes a client accepted elsewhere (``ClientListener``) the current connection, `client`,
    /// its events (those before this too) going to this run.
    func adopt(_ client: AcceptedClient) async {
        client.route.attach(observer(for: "client", accepted: true))
        let connection = Connection(process: client.process, host: String(client.peer.split(separator: ":").first ?? "-"))
        connection.port = Int(client.peer.split(separator: ":").last ?? "") ?? 0
        connection.accepted = true
        connections["client"] = connection
        current = "client"
    }

    /// Closes every listener and the clients no `accept` took.
    func closeListeners() async {
        for listener in listeners.values {
            for process in listener.queue.close() {
                await process.close()
            }
            await listener.process.close()
        }
        listeners = [:]
    }
}

/// Where one accepted client's events go: kept (up to a bound) until its run attaches, then
/// passed on as they come.
final class EventRoute: Sendable {
    private struct State {
        var kept: [ProcessEvent] = []
        var sink: (@Sendable (ProcessEvent) -> Void)?
    }
    private let state = NIOLockedValueBox(State())
    /// How many events are kept before a run attaches; later ones are dropped.
    static let keptLimit = 1024

    func receive(_ event: ProcessEvent) {
        let sink: (@Sendable (ProcessEvent) -> Void)? = state.withLockedValue { state in
            if let sink = state.sink { return sink }
            if state.kept.count < Self.keptLimit { state.kept.append(event) }
            return nil
        }
        sink?(event)
    }

    /// Sends what was kept to `sink`, then every later event.
    func attach(_ sink: @escaping @Sendable (ProcessEvent) -> Void) {
        let kept = state.withLockedValue { state in
            defer {
                state.kept = []
                state.sink = sink
            }
            return state.kept
        }
        for event in kept { sink(event) }
    }
}

/// A client accepted by a ``ClientListener``, for ``ScenarioRunner/run(_:client:emit:)``.
public struct AcceptedClient: Sendable {
    let process: NetworkProcess
    let route: EventRoute
    let lane: RunLane
    /// Where the client connected from, `HOST:PORT`.
    public let peer: String
}

/// A listening socket whose clients each get a run of a server script (`parley serve --script`).
public final class ClientListener: Sendable {
    /// The address listened on.
    public let host: String
    /// The port listened on (the real one when 0 was asked for).
    public let port: Int
    private let process: NetworkProcess
    private let queue: AcceptQueue
    private let lane: RunLane

    private init(
        host: String, port: Int, process: NetworkProcess, queue: AcceptQueue, lane: RunLane
    ) {
        self.host = host
        self.port = port
        self.process = process
        self.queue = queue
        self.lane = lane
    }

    /// Listens on `host` and `port` (0: a free one).
    ///
    /// - Throws: a message naming the address when it cannot be bound.
    public static func start(host: String, port: Int, backlog: Int = 64) async throws(ClientListenerError) -> ClientListener {
        let queue = AcceptQueue()
        var spec = NetworkProcess.Spec(name: "script", host: host, service: port == 0 ? .any : .port(port))
        spec.backlog = backlog
        let lane = RunLane.next()
        spec.group = lane.executor.loop
        let process: NetworkProcess
        let bound: Int
        do {
            (process, bound) = try await queue.listen(spec)
        } catch {
            throw ClientListenerError(description: "cannot listen on \(host):\(port): \(error.message)")
        }
        return ClientListener(host: host, port: bound, process: process, queue: queue, lane: lane)
    }

    /// The next client, or nil when `timeout` passes (or the listener is stopped).
    public func next(timeout: Duration) async -> AcceptedClient? {
        guard let process = await queue.next(timeout: timeout) else { return nil }
        let route = queue.route(of: process)
        let contact = await process.snapshot().contact
        return AcceptedClient(process: process, route: route, lane: lane, peer: "\(contact.host ?? "-"):\(contact.service ?? "-")")
    }

    /// Stops listening; clients not taken are closed.
    public func stop() async {
        for process in queue.close() {
            await process.close()
        }
        await process.close()
    }
}

/// A listener that cannot start.
public struct ClientListenerError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, naming the address.
    public var description: String
}
