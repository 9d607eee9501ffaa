// SPDX-License-Identifier: Apache-2.0
import Foundation
internal import GnuTLSNIO
internal import MailDomain
internal import NIOCore
internal import NIOPosix
internal import NetworkStream
internal import Patterns
public import Scenario

/// Runs a scenario's steps on the connection engine and reports each as an event.
///
/// A scenario runs lock-step: each step finishes (or fails) before the next starts, and the first
/// failing step ends the scenario. Embedded servers are started before the first step and
/// stopped after the last, whatever happened. Every run is isolated: its own servers,
/// connections and variables.
public struct ScenarioRunner: Sendable {
    /// Variables given on the command line (`--var k=v`); they win over the scenario's defaults.
    public var variables: [String: String]
    /// The environment `${NAME}` falls back to.
    public var environment: [String: String]
    /// `--update-snapshots`: a `snapshot` step that differs from its file (or has none) writes
    /// the file and passes.
    public var updateSnapshots = false
    /// Compiled patterns and loaded TLS credentials, shared by every run of this runner (load
    /// mode runs the same scenario thousands of times; JIT-compiling its patterns and parsing its
    /// CA file each time would cost more than the dialog).
    let caches = RunnerCaches()
    /// Starts the scenarios' embedded servers; without one, a scenario with a `server:` block
    /// ends in an error.
    public var serverProvider: (any EmbeddedServerProvider)?
    /// DNS look-ups (MX, TLSA, TXT) and MTA-STS fetches, shared by every run of this runner.
    public var domainLookups = DomainLookups()
    /// The MX host this run goes to when a `connect` or `open` names its domain (`mx:`); nil
    /// means the most preferred one. See ``mxChoices(for:)``.
    public var mxChoice: MXChoice?

    /// Creates a runner.
    public init(
        variables: [String: String] = [:],
        environment: [String: String]? = nil,
        serverProvider: (any EmbeddedServerProvider)? = nil
    ) {
        self.variables = variables
        self.environment = environment ?? ProcessInfo.processInfo.environment
        self.serverProvider = serverProvider
    }

    /// The loader to use with this runner: it checks every pattern with PCRE2 at load time, and
    /// fault knobs with the runner's server provider.
    public var loader: ScenarioLoader { Self.loader(serverProvider: serverProvider) }

    /// The loader for runners with `serverProvider`: patterns are checked with PCRE2 at load
    /// time, fault knobs by the provider (without one, they are checked when a server starts).
    public static func loader(serverProvider: (any EmbeddedServerProvider)?) -> ScenarioLoader {
        ScenarioLoader(
            validatePattern: { source, caseInsensitive in
                do throws(PatternError) {
                    _ = try BytePattern(source, options: patternOptions(caseInsensitive: caseInsensitive))
                    return nil
                } catch {
                    return (error.message, error.offset)
                }
            },
            validateFault: { knob in serverProvider?.checkFault(knob) }
        )
    }

    /// Runs one scenario.
    ///
    /// - Parameters:
    ///   - scenario: the scenario.
    ///   - servers: embedded servers started once for many runs (load mode), or nil to start
    ///     the scenario's own.
    ///   - lane: the event loop to run on; nil picks the next one.
    ///   - emit: receives every event, secrets already masked; called one at a time. Nil when
    ///     nobody listens (load mode): no event is then built, masked or delivered.
    /// - Returns: how the scenario ended.
    public func run(
        _ scenario: Scenario,
        servers: ServerPool? = nil,
        lane: RunLane? = nil,
        emit: (@Sendable (RunEvent) -> Void)?
    ) async -> ScenarioResult {
        let lane = lane ?? RunLane.next()
        return await withTaskExecutorPreference(lane.executor) {
            await self.run(scenario, servers: servers, loop: lane.executor.loop, client: nil, emit: emit)
        }
    }

    /// Runs a server script for one client a ``ClientListener`` accepted: the client is the
    /// current connection (named `client`) from the first step on.
    public func run(_ scenario: Scenario, client: AcceptedClient, emit: (@Sendable (RunEvent) -> Void)?) async -> ScenarioResult {
        await withTaskExecutorPreference(client.lane.executor) {
            await self.run(scenario, servers: nil, loop: client.lane.executor.loop, client: client, emit: emit)
        }
    }

    @inline(never)
    private func run(
        _ scenario: Scenario,
        servers: ServerPool?,
        loop: any EventLoop,
        client: AcceptedClient?,
        emit: (@Sendable (RunEvent) -> Void)?
    ) async -> ScenarioResult {
        let clock = ContinuousClock()
        let start = clock.now
        emit?(.scenarioStarted(name: scenario.name, file: scenario.file))
        let missing = scenario.requires.filter { variables[$0] == nil && environment[$0] == nil }
        if !missing.isEmpty {
            var skipped = ScenarioResult(
                name: scenario.name,
                file: scenario.file,
                outcome: .skipped,
                stepsPassed: 0,
                stepCount: scenario.steps.count,
                failure: nil,
                duration: clock.now - start,
                insecure: false
            )
            skipped.tags = scenario.tags
            skipped.skipReason = "requires \(missing.joined(separator: ", ")) (set with --var NAME=VALUE, --var-file or the environment)"
            emit?(.scenarioFinished(skipped))
            return skipped
        }
        let execution = Execution(scenario: scenario, runner: self, pool: servers, loop: loop, emit: emit)
        if let client { await execution.adopt(client) }
        let ended = await execution.run()
        var result = ScenarioResult(
            name: scenario.name,
            file: scenario.file,
            outcome: ended.failure.map { $0.kind == .runtime ? .error : .failed } ?? .passed,
            stepsPassed: ended.stepsPassed,
            stepCount: scenario.steps.count,
            failure: ended.failure,
            duration: clock.now - start,
            insecure: ended.insecure
        )
        result.stepDurations = ended.stepDurations
        result.tags = scenario.tags
        emit?(.scenarioFinished(result))
        return result
    }

    /// Starts a scenario's embedded servers once, for many runs of it (load mode).
    ///
    /// - Throws: `Failure` when a server cannot start.
    public func startServers(for scenario: Scenario) async throws(Failure) -> ServerPool {
        let execution = Execution(scenario: scenario, runner: self, pool: nil, loop: RunLane.next().executor.loop) { _ in }
        var servers: [String: any RunningServer] = [:]
        for spec in scenario.servers {
            servers[spec.name] = try await execution.startServer(spec)
        }
        return ServerPool(servers: servers)
    }

    /// PCRE2 options for scenario patterns: `^` and `$` work at line boundaries, as in Emacs.
    static func patternOptions(caseInsensitive: Bool) -> BytePattern.Options {
        caseInsensitive ? [.multiline, .caseInsensitive] : [.multiline]
    }
}

/// One scenario run: its servers, connections, variables and masking.
///
/// The run lives on one event loop: the actor's executor is that loop and every connection it
/// makes uses it, so each wait on the engine resumes on the thread that completed it, without a
/// wake-up of another thread (a session is a dozen such waits).
actor Execution {
    /// The event loop this run and its connections live on.
    nonisolated let loop: any EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }

    let scenario: Scenario
    let runner: ScenarioRunner
    /// Where events go; nil when nobody listens (load mode): then no event is built or masked.
    let rawEmit: (@Sendable (RunEvent) -> Void)?

    var servers: [String: any RunningServer] = [:]
    var connections: [String: Connection] = [:]
    /// A scripted server's listeners (`listen`), by name, and the one opened last.
    var listeners: [String: Listener] = [:]
    var lastListener: String?
    /// The connection steps go to when they name none.
    var current: String? {
        didSet { scope.currentHost = current.flatMap { connections[$0]?.host } }
    }
    /// Where each connection went and how TLS was set up, for the commands that repeat it by
    /// hand when a step fails (recorded before connecting, so a failed connect has them too).
    /// The TLS options stay as written until a failure asks for them: resolving them costs time
    /// on every session otherwise.
    var targets: [String: (target: ConnectionTarget, tls: TLSOptions?)] = [:]
    /// What each `open` returned, by connection name: the type and the error (Emacs's
    /// `:return-list`), kept even when no connection resulted.
    var openResults: [String: (type: String, error: String?)] = [:]
    /// The run's variables and how paths are resolved.
    var scope: VariableScope
    /// Masking shared with the connections' event-loop callbacks.
    let masker = SharedMasker()
    var stepsPassed = 0
    var insecure = false
    /// Set when the case ends before its last step and passes (a client refused a handshake
    /// that `handshake: either` allows it to refuse): why.
    var endedEarly: String?
    /// How long each step that ran took, in order (the failing one included).
    var stepDurations: [Duration] = []
    /// Servers started by someone else (load mode): used, not started or stopped here.
    let pool: ServerPool?

    /// What the runner keeps about one connection.
    final class Connection: @unchecked Sendable {
        let process: NetworkProcess
        /// The host as named (the MX host's name for `mx:`): TLS checks names against it.
        let host: String
        /// The address connected to when it differs from `host` (an MX host's resolved address).
        var address: String?
        /// The port connected to.
        var port = 0
        /// TLS from the first byte.
        var implicitTLS = false
        /// The MX host this connection went to (`mx:`), with its domain.
        var mx: MXChoice?
        /// The TLS settings of the connection's TLS (the implicit TLS or the STARTTLS step).
        var tlsOptions: TLSOptions?
        /// The DANE outcome of its TLS session, once worked out.
        var dane: DANEOutcome?
        /// A client a scripted server accepted (`accept`): `starttls` plays the server on it.
        var accepted = false
        /// The server-side handshake its `starttls` started, until a later step waits for it.
        var pendingHandshake: PendingHandshake?
        var greeting: [UInt8]?
        var capabilitiesBeforeTLS: [UInt8]?
        var capabilitiesAfterTLS: [UInt8]?
        var latestCapabilities: [UInt8]?

        init(process: NetworkProcess, host: String) {
            self.process = process
            self.host = host
        }
    }

    init(
        scenario: Scenario,
        runner: ScenarioRunner,
        pool: ServerPool?,
        loop: any EventLoop,
        emit: (@Sendable (RunEvent) -> Void)?
    ) {
        self.loop = loop
        self.scenario = scenario
        self.runner = runner
        self.pool = pool
        self.rawEmit = emit
        self.scope = VariableScope(commandLine: runner.variables, environment: runner.environment, folder: scenario.folder)
    }

    func emit(_ event: @autoclosure () -> RunEvent) { rawEmit?(event()) }

    /// How a run ended, read in one call.
    struct Ended: Sendable {
        var failure: Failure?
        var stepsPassed: Int
        var insecure: Bool
        var stepDurations: [Duration]
    }

    /// Runs every step; returns the failure that stopped the run, if any, and the figures.
    @inline(never)
    func run() async -> Ended {
        var failure: Failure?
        do {
            if let pool {
                servers = pool.servers
            } else {
                for spec in scenario.servers {
                    servers[spec.name] = try await startServer(spec)
                }
            }
            scope.servers = servers.mapValues { ($0.host, $0.port) }
            try prepareVariables()
        } catch {
            failure = error
        }
        if failure == nil {
            let clock = ContinuousClock()
            for (index, step) in scenario.steps.enumerated() {
                emit(.stepStarted(index: index, step: step))
                let began = clock.now
                do {
                    try await perform(step)
                    if let reason = endedEarly {
                        emit(.note(reason))
                        break
                    }
                    stepDurations.append(clock.now - began)
                    stepsPassed += 1
                    emit(.stepPassed(index: index, step: step))
                } catch {
                    stepDurations.append(clock.now - began)
                    let described = describe(error, at: step)
                    emit(.stepFailed(index: index, step: step, failure: described))
                    failure = described
                    break
                }
            }
            // A server-side handshake the last step started is judged too.
            if failure == nil, endedEarly == nil, let last = scenario.steps.indices.last {
                for connection in connections.values where connection.pendingHandshake != nil {
                    do {
                        try await settle(connection)
                    } catch {
                        let described = describe(error, at: scenario.steps[last])
                        emit(.stepFailed(index: last, step: scenario.steps[last], failure: described))
                        failure = described
                        stepsPassed -= 1
                        break
                    }
                }
                if let reason = endedEarly { emit(.note(reason)) }
            }
        }
        for connection in connections.values {
            await connection.process.close()
        }
        await closeListeners()
        if pool == nil {
            for server in servers.values {
                await server.stop()
            }
        }
        return Ended(failure: failure, stepsPassed: stepsPassed, insecure: insecure, stepDurations: stepDurations)
    }

    // MARK: Variables

    /// Expands the scenario's `variables:` in order (each may use the ones before it) and
    /// registers the values of `secrets:`.
    func prepareVariables() throws(Failure) {
        for (name, template) in scenario.variables where runner.variables[name] == nil {
            scope.defaults[name] = try expand(template)
        }
        for name in scenario.secrets {
            if let value = lookup(name) { masker.add(secret: value) }
        }
    }

    func lookup(_ name: String) -> String? { scope.lookup(name) }

    func expand(_ template: Template) throws(Failure) -> String { try scope.expand(template) }

    func set(_ name: String, _ value: String) {
        scope.runtime[name] = value
        if scenario.secrets.contains(name) { masker.add(secret: value) }
    }

    // MARK: Embedded servers

    func startServer(_ spec: EmbeddedServer) async throws(Failure) -> any RunningServer {
        guard let provider = runner.serverProvider else {
            throw Failure(
                .runtime, at: spec.location, "this run has no embedded servers to start the \(spec.protocol.rawValue) server with")
        }
        let certificate = try resolvePath(spec.certificate, at: spec.location)
        let key = try resolvePath(spec.key, at: spec.location)
        do {
            let server = try await provider.start(spec, certificate: certificate, key: key)
            emit(.serverStarted(protocol: spec.protocol.rawValue, host: server.host, port: server.port))
            return server
        } catch {
            throw Failure(.runtime, at: spec.location, error.message)
        }
    }

    // MARK: Steps

    /// Each kind of step is its own function, never inlined here: an async function's frame
    /// holds the locals of everything inlined into it, so one that did every kind would cost
    /// each idle session the frame of the largest (about 12 KiB) for as long as it waits.
    @inline(never)
    func perform(_ step: Step) async throws(Failure) {
        // A server-side handshake started on this connection ends before the next step on it.
        if let name = step.connection ?? current, let connection = connections[name], connection.pendingHandshake != nil {
            try await settle(connection)
            if endedEarly != nil { return }
        }
        // No payload is bound here: a case that bound one would give this frame, which lives as
        // long as the step (a `sleep` or a long `expect`), a slot for every kind's payload.
        switch step.kind {
        case .connect: try await performConnect(step)
        case .open: try await performOpen(step)
        case .greeting: try await performGreeting(step)
        case .capability: try await performCapability(step)
        case .send: try await performSend(step)
        case .expect: try await performExpect(step)
        case .starttls: try await performStartTLS(step)
        case .assert: try await performAssert(step)
        case .close:
            let connection = try require(step)
            await connection.process.close()
        case .stop:
            let connection = try require(step)
            await connection.process.stop()
        case .continue:
            let connection = try require(step)
            await connection.process.continue()
        case .snapshot: try await performSnapshot(step)
        case .tlsPolicy: try await performTLSPolicy(step)
        case .listen: try await performListen(step)
        case .accept: try await performAccept(step)
        case .respond: try await performRespond(step)
        case .sleep: await performSleep(step)
        case .set: try performSet(step)
        }
    }

    @inline(never)
    func performRespond(_ step: Step) async throws(Failure) {
        if case .respond(let respond) = step.kind { try await perform(respond, on: step) }
    }

    @inline(never)
    func performConnect(_ step: Step) async throws(Failure) {
        if case .connect(let connect) = step.kind { try await perform(connect, at: step.location) }
    }

    @inline(never)
    func performOpen(_ step: Step) async throws(Failure) {
        if case .open(let open) = step.kind { try await perform(open, at: step.location) }
    }

    @inline(never)
    func performGreeting(_ step: Step) async throws(Failure) {
        if case .greeting(let greeting) = step.kind { try await perform(greeting, on: step) }
    }

    @inline(never)
    func performCapability(_ step: Step) async throws(Failure) {
        if case .capability(let capability) = step.kind { try await perform(capability, on: step) }
    }

    @inline(never)
    func performSend(_ step: Step) async throws(Failure) {
        if case .send(let send) = step.kind { try await perform(send, on: step) }
    }

    @inline(never)
    func performExpect(_ step: Step) async throws(Failure) {
        if case .expect(let expect) = step.kind { try await perform(expect, on: step) }
    }

    @inline(never)
    func performStartTLS(_ step: Step) async throws(Failure) {
        if case .starttls(let starttls) = step.kind { try await perform(starttls, on: step) }
    }

    @inline(never)
    func performAssert(_ step: Step) async throws(Failure) {
        if case .assert(let assertion) = step.kind { try await perform(assertion, on: step) }
    }

    @inline(never)
    func performSnapshot(_ step: Step) async throws(Failure) {
        if case .snapshot(let snapshot) = step.kind { try await perform(snapshot, on: step) }
    }

    @inline(never)
    func performTLSPolicy(_ step: Step) async throws(Failure) {
        if case .tlsPolicy(let policy) = step.kind { try await perform(policy, on: step) }
    }

    @inline(never)
    func performListen(_ step: Step) async throws(Failure) {
        if case .listen(let listen) = step.kind { try await perform(listen, at: step.location) }
    }

    @inline(never)
    func performAccept(_ step: Step) async throws(Failure) {
        if case .accept(let accept) = step.kind { try await perform(accept, at: step.location) }
    }

    @inline(never)
    func performSleep(_ step: Step) async {
        if case .sleep(let duration) = step.kind { try? await Task.sleep(for: duration) }
    }

    func performSet(_ step: Step) throws(Failure) {
        guard case .set(let values) = step.kind else { return }
        for (name, template) in values {
            set(name, try expand(template))
        }
    }

    @inline(never)
    func perform(_ connect: Step.Connect, at location: SourceLocation) async throws(Failure) {
        if let previous = connections.removeValue(forKey: connect.name) {
            await previous.process.close()
        }
        var mx: MXChoice?
        if let template = connect.mx { mx = try await mxTarget(template, at: location) }
        let (host, port) = try endpoint(
            keyword: "connect",
            server: connect.server,
            host: mx.map { Template($0.host, at: location) } ?? connect.host,
            port: connect.port ?? (mx != nil && scenario.preset == nil ? Template("25", at: location) : nil),
            implicitTLS: connect.tls != nil,
            at: location
        )
        let addresses = mx?.addresses ?? [host]
        var options = NetworkProcess.ConnectOptions()
        options.group = loop
        options.timeout = connect.timeout ?? scenario.timeouts.connect
        options.handshakeTimeout = scenario.timeouts.handshake
        if let tls = connect.tls {
            let context = try makeContext(tls, at: location)
            options.tls = (context, try serverName(tls, host: host))
        }
        let name = connect.name
        let observer = observer(for: name)
        for (index, address) in addresses.enumerated() {
            targets[connect.name] = (ConnectionTarget(host: address, port: port, implicitTLS: connect.tls != nil), connect.tls)
            do {
                let process = try await NetworkProcess.connect(name: name, host: address, port: port, options: options, observer: observer)
                let connection = Connection(process: process, host: host)
                connection.address = address == host ? nil : address
                connection.port = port
                connection.implicitTLS = connect.tls != nil
                connection.mx = mx
                connection.tlsOptions = connect.tls
                connections[name] = connection
                current = name
                break
            } catch {
                if index + 1 < addresses.count {
                    emit(.note("\(host) at \(address) port \(port): \(error.message); trying its next address"))
                    continue
                }
                throw failure(error, at: location, expected: nil)
            }
        }
        if connect.tls?.verification == .dane, let connection = connections[name] {
            try await requireDANE(connection, at: location)
        }
    }

    /// Masks an engine event and passes it on as a run event.
    ///
    /// It runs on the connection's event loop, synchronously, so events keep their order and
    /// reach reporters before the step that caused them completes.
    nonisolated func observer(for name: String, accepted: Bool = false) -> @Sendable (ProcessEvent) -> Void {
        guard let emit = self.rawEmit else { return { _ in } }
        let masker = self.masker
        return { event in
            emit(.connection(name: name, event: masker.masked(ConnectionEvent(event, accepted: accepted), serverRole: accepted)))
        }
    }

    /// Where `connect` and `open` go: a named embedded server, the host and port written, or
    /// the default server (the one named `server`, or the only one), else the preset's port.
    func endpoint(
        keyword: String,
        server name: String?,
        host hostTemplate: Template?,
        port portTemplate: Template?,
        implicitTLS: Bool,
        at location: SourceLocation
    ) throws(Failure) -> (host: String, port: Int) {
        var target: (any RunningServer)?
        if let name {
            guard let server = servers[name] else {
                throw Failure(
                    .runtime, at: location,
                    "there is no embedded server named '\(name)' (known: \(servers.keys.sorted().joined(separator: ", ")))")
            }
            target = server
        } else if hostTemplate == nil {
            target = servers["server"] ?? (servers.count == 1 ? servers.values.first : nil)
        }
        let host: String
        if let hostTemplate {
            host = try expand(hostTemplate)
        } else if let target {
            host = target.host
        } else {
            throw Failure(
                .runtime, at: location, "'\(keyword)' needs 'host' (or 'server'): the scenario has no embedded server to default to")
        }
        let port: Int
        if let portTemplate {
            let text = try expand(portTemplate)
            guard let value = Int(text), (1...65535).contains(value) else {
                throw Failure(.runtime, at: portTemplate.location, "'\(text)' is not a TCP port (1 to 65535)")
            }
            port = value
        } else if let target, hostTemplate == nil {
            port = target.port
        } else if let preset = scenario.preset {
            port = implicitTLS ? (preset.implicitTLSPort ?? preset.port) : preset.port
        } else {
            throw Failure(.runtime, at: location, "'\(keyword)' needs 'port': there is no embedded server or preset to default to")
        }
        return (host, port)
    }

    @inline(never)
    func perform(_ open: Step.Open, at location: SourceLocation) async throws(Failure) {
        if let previous = connections.removeValue(forKey: open.name) {
            await previous.process.close()
        }
        let implicitTLS = open.type.implicitTLS
        var mx: MXChoice?
        if let template = open.mx { mx = try await mxTarget(template, at: location) }
        let (host, port) = try endpoint(
            keyword: "open",
            server: open.server,
            host: mx.map { Template($0.host, at: location) } ?? open.host,
            port: open.port ?? (mx != nil && scenario.preset == nil ? Template("25", at: location) : nil),
            implicitTLS: implicitTLS,
            at: location
        )
        let address = mx?.addresses.first ?? host
        let upgrades = open.type.mayUpgrade && open.starttlsCommand == nil
        // A shell connection talks to a command, not to HOST:PORT: nothing to repeat by hand.
        targets[open.name] =
            !open.type.isSocket
            ? nil
            : (
                ConnectionTarget(
                    host: address,
                    port: port,
                    implicitTLS: implicitTLS,
                    startTLSProtocol: upgrades
                        ? scenario.preset.map {
                            Reproducer.startTLSProtocol(preset: $0, command: Template($0.starttlsCommand, at: location))
                        } : nil
                ),
                implicitTLS || upgrades ? open.tls : nil
            )
        var parameters = try OpenStepMapping.parameters(open, host: host, scope: scope, timeouts: scenario.timeouts, at: location)
        parameters.group = loop
        if open.tls.insecure {
            insecure = true
            emit(.note("certificate verification is OFF for this connection (insecure: true)"))
        }
        parameters.observer = observer(for: open.name)
        let result: OpenStreamResult
        do {
            result = try await NetworkProcess.openStream(
                name: open.name,
                host: address,
                service: .port(port),
                parameters: parameters,
                table: ProcessTable()
            )
        } catch {
            if open.expectFailure {
                openResults[open.name] = ("plain", error.message)
                emit(.note("the open failed, as the step expects: \(error.message)"))
                return
            }
            throw failure(error, at: location, expected: nil)
        }
        openResults[open.name] = (result.type.rawValue, result.error)
        if result.discardedBytes > 0 {
            emit(.note("\(result.discardedBytes) plaintext bytes after the STARTTLS go-ahead were discarded"))
        }
        guard let process = result.process else {
            let why = result.error ?? "no connection resulted"
            if open.expectFailure {
                emit(.note("the open gave no connection, as the step expects: \(why)"))
                return
            }
            var error = Failure(.runtime, at: location, "open (type \(open.type)) gave no connection: \(why)")
            error.wait = result.failure?.wait.map(WaitKind.init)
            error.deadline = result.failure?.deadline
            throw error
        }
        if open.expectFailure {
            await process.close()
            throw Failure(
                .expectation, at: location, "the open gave a connection (type \(result.type.rawValue)), but the step expects it to fail")
        }
        let connection = Connection(process: process, host: host)
        connection.address = address == host ? nil : address
        connection.port = port
        connection.implicitTLS = implicitTLS
        connection.mx = mx
        connection.tlsOptions = implicitTLS || open.type.mayUpgrade ? open.tls : nil
        connection.greeting = result.greeting
        if let capabilities = result.capabilities {
            connection.latestCapabilities = capabilities
            if result.type == .tls {
                connection.capabilitiesAfterTLS = capabilities
            } else {
                connection.capabilitiesBeforeTLS = capabilities
            }
        }
        connections[open.name] = connection
        current = open.name
        set("open.type", result.type.rawValue)
        if result.type == .tls, open.tls.verification == .dane { try await requireDANE(connection, at: location) }
    }

    @inline(never)
    func perform(_ greeting: Step.Greeting, on step: Step) async throws(Failure) {
        let connection = try require(step)
        let pattern = try compile(greeting.pattern)
        do {
            let match = try await connection.process.expect(
                pattern,
                timeout: greeting.timeout ?? scenario.timeouts.expect,
                wait: .greeting
            )
            connection.greeting = match.matched
            // Named groups become variables, as in `expect`.
            for (name, index) in match.names where index < match.groups.count {
                if let bytes = match.groups[index] { set(name, String(decoding: bytes, as: UTF8.self)) }
            }
        } catch {
            throw failure(error, at: greeting.pattern.location, expected: greeting.pattern.source)
        }
    }

    @inline(never)
    func perform(_ capability: Step.Capability, on step: Step) async throws(Failure) {
        let connection = try require(step)
        let command = Array(try expand(capability.command).utf8)
        let end = try compile(capability.end)
        try await send(command, to: connection, at: step.location)
        do {
            let match = try await connection.process.expect(
                end,
                timeout: capability.timeout ?? scenario.timeouts.expect,
                wait: .capabilities
            )
            connection.latestCapabilities = match.matched
            if await connection.process.snapshot().tls == nil {
                connection.capabilitiesBeforeTLS = match.matched
            } else {
                connection.capabilitiesAfterTLS = match.matched
            }
        } catch {
            throw failure(error, at: capability.end.location, expected: capability.end.source)
        }
    }

    @inline(never)
    func perform(_ send: Step.Send, on step: Step) async throws(Failure) {
        let connection = try require(step)
        var pieces: [[UInt8]] = []
        for part in send.parts {
            switch part {
            case .text(let t): pieces.append(Array(try expand(t).utf8))
            case .line(let t): pieces.append(Array(try expand(t).utf8) + [13, 10])
            case .bytes(let b): pieces.append(b)
            case .base64(let t):
                let text = try expand(t)
                let encoded = Data(text.utf8).base64EncodedString()
                // The encoding of a secret is as secret as the secret: hide it wherever it shows.
                if masker.containsSecret(text) { masker.add(secret: encoded) }
                pieces.append(Array(encoded.utf8))
            }
        }
        if send.secret {
            for piece in pieces {
                masker.add(secret: String(decoding: piece, as: UTF8.self).trimmingCharacters(in: .newlines))
            }
        }
        guard let delay = send.delay else {
            // One write: the pieces leave together, as a pipelining client (or an attacker) sends them.
            try await self.send(pieces.flatMap { $0 }, to: connection, at: step.location)
            return
        }
        for (index, piece) in pieces.enumerated() {
            if index > 0 { try? await Task.sleep(for: delay) }
            try await self.send(piece, to: connection, at: step.location)
        }
    }

    func send(_ bytes: [UInt8], to connection: Connection, at location: SourceLocation) async throws(Failure) {
        do {
            try await connection.process.send(bytes)
        } catch {
            throw failure(error, at: location, expected: nil)
        }
    }

    @inline(never)
    func perform(_ expect: Step.Expect, on step: Step) async throws(Failure) {
        let connection = try require(step)
        let timeout = expect.timeout ?? scenario.timeouts.expect
        let spec: PatternSpec
        switch expect.condition {
        case .pattern(let pattern):
            spec = pattern
        case .silence(let period):
            do {
                try await connection.process.expectSilence(for: period)
            } catch {
                throw failure(error, at: step.location, expected: "nothing within \(period.secondsText)")
            }
            return
        case .peerCloses:
            do {
                try await connection.process.expectClose(timeout: timeout)
            } catch {
                throw failure(error, at: step.location, expected: "the peer closes the connection")
            }
            return
        }
        let pattern = try compile(spec)
        let match: StreamMatch
        do {
            match = try await connection.process.expect(pattern, timeout: timeout, idleTimeout: expect.idleTimeout)
        } catch {
            throw failure(error, at: spec.location, expected: spec.source)
        }
        // Named groups become variables.
        for (name, index) in match.names {
            if index < match.groups.count, let bytes = match.groups[index] {
                set(name, String(decoding: bytes, as: UTF8.self))
            }
        }
    }

    @inline(never)
    func perform(_ starttls: Step.StartTLS, on step: Step) async throws(Failure) {
        let connection = try require(step)
        let location = step.location
        if connection.accepted {
            try await serverStartTLS(starttls, connection: connection, at: location)
            return
        }
        if starttls.server != nil {
            throw Failure(.runtime, at: location, "'certificate' and 'key' are for 'starttls' on an accepted connection (the server side)")
        }
        // Stripping: a capability list from before TLS that does not offer STARTTLS.
        let before: StartTLSPolicy.Before
        do {
            before = try StartTLSPolicy.before(starttls, capabilitiesBeforeTLS: connection.capabilitiesBeforeTLS, at: location)
        } catch {
            set("starttls", "not-offered")
            throw error
        }
        if before == .notOffered {
            set("starttls", "not-offered")
            emit(.note("STARTTLS is not offered; going on in plain text (opportunistic)"))
            return
        }
        if let target = step.connection ?? current {
            targets[target]?.target.startTLSProtocol = Reproducer.startTLSProtocol(preset: scenario.preset, command: starttls.command)
            targets[target]?.tls = starttls.tls
        }
        connection.tlsOptions = starttls.tls
        let context = try makeContext(starttls.tls, at: location)
        let name = try serverName(starttls.tls, host: connection.host)
        let command = Array(try expand(starttls.command).utf8)
        let reply = try compile(starttls.reply)
        let success = try compile(starttls.success)
        do {
            _ = try await connection.process.startTLS(
                command: command,
                reply: reply,
                success: success,
                context: context,
                serverHostname: name,
                replyTimeout: starttls.timeout ?? scenario.timeouts.expect,
                handshakeTimeout: starttls.handshakeTimeout ?? scenario.timeouts.handshake
            )
        } catch {
            let after = StartTLSPolicy.after(error, step: starttls)
            if after == .expectedHandshakeFailure {
                set("starttls", "failed")
                if let reason = starttls.failureReason {
                    let text = StartTLSPolicy.reasonText(error)
                    if try compile(reason).firstMatch(in: Array(text.utf8)) == nil {
                        throw Failure(
                            .expectation,
                            at: reason.location,
                            "the TLS handshake failed, but not for the expected reason",
                            expected: "/\(reason.source)/",
                            actual: text
                        )
                    }
                }
                emit(.note("the TLS handshake failed, as the step expects: \(error.message)"))
                return
            }
            if after == .refusedOpportunistic || after == .refusedMandatory {
                set("starttls", "refused")
            }
            if after == .refusedOpportunistic {
                emit(.note("the server refused STARTTLS; going on in plain text (opportunistic)"))
                return
            }
            throw failure(error, at: location, expected: error.kind == .starttlsRefused ? starttls.success.source : nil)
        }
        set("starttls", "upgraded")
        if starttls.expectFailure {
            throw Failure(.expectation, at: location, "the TLS handshake succeeded, but the step expects it to fail")
        }
        if starttls.tls.verification == .dane { try await requireDANE(connection, at: location) }
    }

    @inline(never)
    func perform(_ assertion: Step.Assertion, on step: Step) async throws(Failure) {
        let connection = try? require(step)
        var facts = await self.facts(of: connection)
        facts.opened = openResults[step.connection ?? current ?? "main"]
        let check = FactCheck(
            compile: { spec throws(Failure) in try self.compile(spec) },
            expand: { template throws(Failure) in try self.scope.expand(template) },
            lookup: { self.scope.lookup($0) },
            hideSecrets: { self.masker.hideSecrets($0) }
        )
        for item in assertion.checks {
            switch item.fact {
            case .dane(let states): try await checkDANE(states, item, connection: connection)
            case .mtaSTS(let expected): try await checkMTASTS(expected, item, connection: connection)
            case .tlsRPT(let expected): try await checkTLSRPT(expected, item, connection: connection)
            default: try check.verify(item, facts)
            }
        }
    }

    /// What is known of a connection now.
    func facts(of connection: Connection?) async -> ConnectionFacts {
        var facts = ConnectionFacts()
        guard let connection else { return facts }
        let snapshot = await connection.process.snapshot()
        facts.status = snapshot.status.rawValue
        facts.tls = snapshot.tls.map(TLSFacts.init)
        facts.discardedBytes = snapshot.discardedBytes
        facts.greeting = connection.greeting
        facts.capabilitiesBeforeTLS = connection.capabilitiesBeforeTLS
        facts.capabilitiesAfterTLS = connection.capabilitiesAfterTLS
        facts.latestCapabilities = connection.latestCapabilities
        return facts
    }

    // MARK: Snapshots

    @inline(never)
    func perform(_ snapshot: Step.Snapshot, on step: Step) async throws(Failure) {
        let connection = try require(step)
        let facts = await self.facts(of: connection)
        let now = snapshot.facts.map { ($0, masker.hideSecrets(in: facts.snapshotValue($0))) }
        let path = SnapshotFile.path(scenarioFile: scenario.file, name: snapshot.name)
        let recorded = try? String(contentsOfFile: path, encoding: .utf8)
        switch SnapshotFile.decide(recorded: recorded, now: now, update: runner.updateSnapshots, ci: runner.environment["CI"]) {
        case .missingUnderCI(let environment):
            throw Failure(
                .assertion,
                at: step.location,
                "snapshot '\(snapshot.name)' has no file \(path); it is not written under CI=\(environment): write it with parley run --update-snapshots against a server known to be right, and commit it"
            )
        case .writeNew:
            try write(now, snapshot: snapshot, to: path, at: step.location)
            emit(.note("snapshot '\(snapshot.name)' written to \(path) (\(now.count) facts): commit it, later runs compare against it"))
        case .matches:
            emit(.note("snapshot '\(snapshot.name)' matches \(path) (\(now.count) facts)"))
        case .update(let differences):
            try write(now, snapshot: snapshot, to: path, at: step.location)
            emit(.note("snapshot '\(snapshot.name)' updated in \(path): \(differences.map(\.fact).joined(separator: ", "))"))
        case .differs(let differences):
            let changed = differences.map(\.fact).joined(separator: ", ")
            throw Failure(
                .assertion,
                at: step.location,
                "snapshot '\(snapshot.name)' differs from \(path) in \(differences.count) of \(now.count) facts (\(changed)); parley run --update-snapshots accepts the new values",
                expected: differences.map { "\($0.fact): \($0.recorded ?? "(not recorded)")" }.joined(separator: "; "),
                actual: differences.map { "\($0.fact): \($0.now ?? "")" }.joined(separator: "; ")
            )
        }
    }

    /// Writes a snapshot file, creating its folder.
    func write(_ facts: [SnapshotFile.Fact], snapshot: Step.Snapshot, to path: String, at location: SourceLocation) throws(Failure) {
        do {
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try SnapshotFile.render(facts, scenario: scenario.file, name: snapshot.name)
                .write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw Failure(.runtime, at: location, "cannot write the snapshot file \(path): \(error.localizedDescription)")
        }
    }

    /// A step's failure with what helps to look into it: the commands that repeat its
    /// connection by hand, and the variables the run had set (secrets masked).
    func describe(_ failure: Failure, at step: Step) -> Failure {
        let name: String?
        switch step.kind {
        case .connect(let connect): name = connect.name
        case .open(let open): name = open.name
        case .sleep, .set: name = nil
        default: name = step.connection ?? current
        }
        var target: ConnectionTarget?
        if let name, let recorded = targets[name] {
            target = recorded.target
            target?.tls = recorded.tls.flatMap { try? targetTLS($0, host: recorded.target.host, at: step.location) }
        }
        return failure.enriched(
            target: target,
            embeddedServers: servers.values.map { ($0.host, $0.port) },
            runtime: scope.runtime,
            secrets: Set(scenario.secrets),
            hide: { self.masker.hideSecrets(in: $0) }
        )
    }

    /// The TLS settings of a connection as `ConnectionTarget` keeps them.
    func targetTLS(_ options: TLSOptions, host: String, at location: SourceLocation) throws(Failure) -> ConnectionTarget.TLS {
        ConnectionTarget.TLS(
            caFile: try resolvePath(options.caFile, at: location),
            serverName: try serverName(options, host: host),
            alpn: options.alpn,
            priority: options.priority,
            insecure: options.insecure
        )
    }

    func require(_ step: Step) throws(Failure) -> Connection {
        let name = step.connection ?? current
        guard let name, let connection = connections[name] else {
            if let wanted = step.connection {
                throw Failure(.runtime, at: step.location, "there is no connection named '\(wanted)'")
            }
            throw Failure(.runtime, at: step.location, "there is no connection: add a 'connect' step first")
        }
        return connection
    }

    func compile(_ spec: PatternSpec) throws(Failure) -> BytePattern {
        let key = (spec.caseInsensitive ? "i:" : "s:") + spec.source
        if let cached = runner.caches.pattern(key) { return cached }
        do {
            let pattern = try BytePattern(spec.source, options: ScenarioRunner.patternOptions(caseInsensitive: spec.caseInsensitive))
            runner.caches.store(pattern, key)
            return pattern
        } catch {
            throw Failure(.runtime, at: spec.location, "bad regular expression: \(error.message) (at offset \(error.offset))")
        }
    }

    func resolvePath(_ raw: String?, at location: SourceLocation) throws(Failure) -> String? {
        try scope.resolvePath(raw, at: location)
    }

    func serverName(_ tls: TLSOptions, host: String) throws(Failure) -> String? {
        try scope.serverName(tls, host: host)
    }

    func makeContext(_ options: TLSOptions, at location: SourceLocation) throws(Failure) -> GnuTLSContext {
        let configuration = TLSContextFactory.configuration(
            options,
            caFile: try resolvePath(options.caFile, at: location),
            clientCertificate: try resolvePath(options.clientCertificate, at: location),
            clientKey: try resolvePath(options.clientKey, at: location)
        )
        if options.insecure {
            insecure = true
            emit(.note("certificate verification is OFF for this connection (insecure: true)"))
        }
        return try TLSContextFactory(caches: runner.caches).context(configuration, at: location)
    }

    func failure(_ error: NetworkError, at location: SourceLocation, expected: String?) -> Failure {
        Failure(error, at: location, expected: expected, hide: { self.masker.hideSecrets($0) })
    }
}
