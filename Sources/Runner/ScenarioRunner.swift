// SPDX-License-Identifier: Apache-2.0
import Foundation
internal import GnuTLSNIO
internal import Logging
internal import MailFixtures
internal import NetworkStream
internal import Patterns
public import Scenario

/// Runs a scenario's steps on the connection engine and reports each as an event.
///
/// A scenario runs lock-step: each step finishes (or fails) before the next starts, and the first
/// failing step ends the scenario. Embedded servers are started before the first step and
/// stopped after the last, whatever happened.
public struct ScenarioRunner: Sendable {
    /// Variables given on the command line (`--var k=v`); they win over the environment.
    public var variables: [String: String]
    /// The environment `${NAME}` falls back to.
    public var environment: [String: String]

    /// Creates a runner.
    public init(variables: [String: String] = [:], environment: [String: String]? = nil) {
        self.variables = variables
        self.environment = environment ?? ProcessInfo.processInfo.environment
    }

    /// The loader to use with this runner: it checks every pattern with PCRE2 at load time.
    public static var loader: ScenarioLoader {
        ScenarioLoader { source, caseInsensitive in
            do throws(PatternError) {
                _ = try BytePattern(source, options: patternOptions(caseInsensitive: caseInsensitive))
                return nil
            } catch {
                return (error.message, error.offset)
            }
        }
    }

    /// Runs one scenario.
    ///
    /// - Parameters:
    ///   - scenario: the scenario.
    ///   - emit: receives every event; it may be called from any thread, one call at a time.
    /// - Returns: how the scenario ended.
    public func run(_ scenario: Scenario, emit: @escaping @Sendable (RunEvent) -> Void) async -> ScenarioResult {
        let clock = ContinuousClock()
        let start = clock.now
        emit(.scenarioStarted(name: scenario.name, file: scenario.file))
        var execution = Execution(scenario: scenario, runner: self, emit: emit)
        let failure = await execution.run()
        let result = ScenarioResult(
            name: scenario.name,
            file: scenario.file,
            outcome: failure.map { $0.kind == .runtime ? .error : .failed } ?? .passed,
            stepsPassed: execution.stepsPassed,
            stepCount: scenario.steps.count,
            failure: failure,
            duration: clock.now - start,
            insecure: execution.insecure
        )
        emit(.scenarioFinished(result))
        return result
    }

    /// PCRE2 options for scenario patterns: `^` and `$` work at line boundaries, as in Emacs.
    static func patternOptions(caseInsensitive: Bool) -> BytePattern.Options {
        caseInsensitive ? [.multiline, .caseInsensitive] : [.multiline]
    }
}

/// The state of one scenario run.
private struct Execution {
    let scenario: Scenario
    let runner: ScenarioRunner
    let emit: @Sendable (RunEvent) -> Void

    var server: FakeSMTPServer?
    var process: NetworkProcess?
    var connectHost: String?
    var stepsPassed = 0
    var insecure = false

    init(scenario: Scenario, runner: ScenarioRunner, emit: @escaping @Sendable (RunEvent) -> Void) {
        self.scenario = scenario
        self.runner = runner
        self.emit = emit
    }

    /// Runs every step; returns the failure that stopped the run, if any.
    mutating func run() async -> Failure? {
        var failure: Failure?
        if let spec = scenario.server {
            do {
                server = try await startServer(spec)
            } catch {
                failure = error
            }
        }
        if failure == nil {
            for (index, step) in scenario.steps.enumerated() {
                emit(.stepStarted(index: index, step: step))
                do {
                    try await perform(step)
                    stepsPassed += 1
                    emit(.stepPassed(index: index, step: step))
                } catch {
                    emit(.stepFailed(index: index, step: step, failure: error))
                    failure = error
                    break
                }
            }
        }
        if let process {
            await process.close()
        }
        if let server {
            try? await server.stop()
        }
        return failure
    }

    // MARK: Embedded server

    func startServer(_ spec: EmbeddedServer) async throws(Failure) -> FakeSMTPServer {
        var configuration = FakeSMTPServer.Configuration()
        configuration.hostname = spec.hostname
        configuration.offerStartTLS = spec.starttls
        if spec.starttls, let certificate = spec.certificate, let key = spec.key {
            do {
                configuration.tls = try GnuTLSContext(
                    configuration: .server(certificateChainFile: certificate, privateKeyFile: key)
                )
            } catch {
                throw Failure(.runtime, at: spec.location, "cannot load the embedded server's certificate: \(error)")
            }
        }
        do {
            // The transcript already shows the dialog; the server's own log would repeat it.
            let quiet = Logger(label: "parley.embedded-server") { _ in SwiftLogNoOpLogHandler() }
            let server = try await FakeSMTPServer.start(configuration, logger: quiet)
            emit(.serverStarted(protocol: spec.protocol.rawValue, host: server.host, port: server.port))
            return server
        } catch {
            throw Failure(.runtime, at: spec.location, "cannot start the embedded \(spec.protocol.rawValue) server: \(error)")
        }
    }

    // MARK: Steps

    mutating func perform(_ step: Step) async throws(Failure) {
        switch step.kind {
        case .connect(let connect): try await perform(connect, at: step.location)
        case .send(let send): try await perform(send, at: step.location)
        case .expect(let expect): try await perform(expect, at: step.location)
        case .starttls(let starttls): try await perform(starttls, at: step.location)
        case .assert(let assertion): try await perform(assertion, at: step.location)
        case .close:
            let open = try requireProcess(at: step.location)
            await open.close()
        }
    }

    mutating func perform(_ connect: Step.Connect, at location: SourceLocation) async throws(Failure) {
        if let previous = process {
            await previous.close()
            process = nil
        }
        let host: String
        if let template = connect.host {
            host = try expand(template)
        } else if let server {
            host = server.host
        } else {
            throw Failure(.runtime, at: location, "'connect' needs 'host': the scenario has no embedded server")
        }
        let port: Int
        if let template = connect.port {
            let text = try expand(template)
            guard let value = Int(text), (0...65535).contains(value) else {
                throw Failure(.runtime, at: template.location, "'\(text)' is not a TCP port (0 to 65535)")
            }
            port = value
        } else if let server {
            port = server.port
        } else {
            throw Failure(.runtime, at: location, "'connect' needs 'port': the scenario has no embedded server")
        }
        var options = NetworkProcess.ConnectOptions()
        options.timeout = connect.timeout ?? scenario.timeouts.connect
        options.handshakeTimeout = scenario.timeouts.handshake
        if let tls = connect.tls {
            let context = try makeContext(tls, at: location)
            options.tls = (context, try serverName(tls, host: host))
        }
        connectHost = host
        let emit = self.emit
        do {
            process = try await NetworkProcess.connect(name: "c1", host: host, port: port, options: options) { event in
                emit(.connection(name: "c1", event: event))
            }
        } catch {
            throw failure(error, at: location, expected: nil)
        }
    }

    mutating func perform(_ send: Step.Send, at location: SourceLocation) async throws(Failure) {
        let open = try requireProcess(at: location)
        var bytes = Array(try expand(send.data).utf8)
        if send.appendCRLF { bytes += [13, 10] }
        do {
            try await open.send(bytes)
        } catch {
            throw failure(error, at: location, expected: nil)
        }
    }

    mutating func perform(_ expect: Step.Expect, at location: SourceLocation) async throws(Failure) {
        let open = try requireProcess(at: location)
        let pattern = try compile(expect.pattern)
        do {
            _ = try await open.expect(pattern, timeout: expect.timeout ?? scenario.timeouts.expect)
        } catch {
            throw failure(error, at: expect.pattern.location, expected: expect.pattern.source)
        }
    }

    mutating func perform(_ starttls: Step.StartTLS, at location: SourceLocation) async throws(Failure) {
        let open = try requireProcess(at: location)
        let context = try makeContext(starttls.tls, at: location)
        let name = try serverName(starttls.tls, host: connectHost ?? "")
        let command = Array(try expand(starttls.command).utf8)
        let reply = try compile(starttls.reply)
        let success = try compile(starttls.success)
        do {
            _ = try await open.startTLS(
                command: command,
                reply: reply,
                success: success,
                context: context,
                serverHostname: name,
                replyTimeout: starttls.timeout ?? scenario.timeouts.expect,
                handshakeTimeout: starttls.handshakeTimeout ?? scenario.timeouts.handshake
            )
        } catch {
            if starttls.expectFailure, error.kind == .tls {
                emit(.note("the TLS handshake failed, as the step expects: \(error.message)"))
                return
            }
            throw failure(error, at: location, expected: error.kind == .starttlsRefused ? starttls.success.source : nil)
        }
        if starttls.expectFailure {
            throw Failure(.expectation, at: location, "the TLS handshake succeeded, but the step expects it to fail")
        }
    }

    mutating func perform(_ assertion: Step.Assertion, at location: SourceLocation) async throws(Failure) {
        let snapshot = await process?.snapshot()
        for check in assertion.checks {
            switch check.fact {
            case .status(let expected):
                let actual = snapshot?.status.rawValue ?? "closed"
                if actual != expected { throw mismatch(check, "status", expected, actual) }
            case .tls(let expected):
                let actual = snapshot?.tls != nil && snapshot?.status == .open
                if actual != expected { throw mismatch(check, "tls", "\(expected)", "\(actual)") }
            case .verified(let expected):
                guard let tls = snapshot?.tls else {
                    throw Failure(.assertion, at: check.location, "'verified' needs a TLS session, and there is none", expected: "\(expected)")
                }
                if tls.verified != expected {
                    let why = tls.verificationProblems.isEmpty ? "" : " (\(tls.verificationProblems.joined(separator: ", ")))"
                    throw mismatch(check, "verified", "\(expected)", "\(tls.verified)\(why)")
                }
            case .tlsVersion(let expected):
                guard let tls = snapshot?.tls else {
                    throw Failure(.assertion, at: check.location, "'tls-version' needs a TLS session, and there is none", expected: expected)
                }
                if tls.protocolVersion != expected { throw mismatch(check, "tls-version", expected, tls.protocolVersion) }
            case .discardedBytes(let expected):
                let actual = snapshot?.discardedBytes ?? 0
                if actual != expected { throw mismatch(check, "discarded-bytes", "\(expected)", "\(actual)") }
            }
        }
    }

    // MARK: Helpers

    func mismatch(_ check: Step.Check, _ name: String, _ expected: String, _ actual: String) -> Failure {
        Failure(
            .assertion,
            at: check.location,
            "assertion failed: \(name) is \(actual), expected \(expected)",
            expected: expected,
            actual: actual
        )
    }

    func requireProcess(at location: SourceLocation) throws(Failure) -> NetworkProcess {
        guard let process else {
            throw Failure(.runtime, at: location, "there is no connection: add a 'connect' step first")
        }
        return process
    }

    func expand(_ template: Template) throws(Failure) -> String {
        let variables = runner.variables
        let environment = runner.environment
        let server = self.server
        do {
            return try template.expand { name in
                if let value = variables[name] { return value }
                switch name {
                case "server.host": return server?.host
                case "server.port": return server.map { String($0.port) }
                default: return environment[name]
                }
            }
        } catch {
            throw Failure(.runtime, at: error.location, error.message)
        }
    }

    func compile(_ spec: PatternSpec) throws(Failure) -> BytePattern {
        do {
            return try BytePattern(spec.source, options: ScenarioRunner.patternOptions(caseInsensitive: spec.caseInsensitive))
        } catch {
            throw Failure(.runtime, at: spec.location, "bad regular expression: \(error.message) (at offset \(error.offset))")
        }
    }

    func serverName(_ tls: TLSOptions, host: String) throws(Failure) -> String? {
        if let template = tls.serverName { return try expand(template) }
        return host.isEmpty ? nil : host
    }

    mutating func makeContext(_ options: TLSOptions, at location: SourceLocation) throws(Failure) -> GnuTLSContext {
        var configuration = TLSConfiguration.client(
            trustRoots: options.caFile.map { .file($0) } ?? .system,
            verifyPeer: !options.insecure
        )
        if options.insecure {
            insecure = true
            emit(.note("certificate verification is OFF for this connection (insecure: true)"))
        }
        if let priority = options.priority { configuration.priority = priority }
        configuration.alpn = options.alpn
        configuration.certificateChainFile = options.clientCertificate
        configuration.privateKeyFile = options.clientKey
        do {
            return try GnuTLSContext(configuration: configuration)
        } catch {
            throw Failure(.runtime, at: location, "cannot set up TLS: \(error)")
        }
    }

    func failure(_ error: NetworkError, at location: SourceLocation, expected: String?) -> Failure {
        Failure(
            Self.kind(of: error),
            at: location,
            error.message,
            expected: expected,
            wait: error.wait,
            deadline: error.deadline,
            tail: error.kind == .starttlsRefused || !error.tail.isEmpty || error.wait == .expect ? error.tail : nil
        )
    }
}

extension Execution {
    /// Whether an engine error means "the dialog did not go as the scenario expects" or "the
    /// connection itself broke".
    static func kind(of error: NetworkError) -> Failure.Kind {
        switch error.kind {
        case .timeout:
            return error.wait == .connect || error.wait == .handshake ? .runtime : .expectation
        case .closedByPeer:
            return error.wait == .handshake || error.wait == nil ? .runtime : .expectation
        case .starttlsRefused:
            return .expectation
        case .connectFailed, .notOpen, .tls, .bufferLimit, .busy:
            return .runtime
        }
    }
}

extension Failure: Error {}
