// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServers
import Reporting
import Runner
import Scenario

/// `parley test-client --protocol P [--suite DIR] -- COMMAND ARGS`: runs a mail client under
/// test against each case of a suite of server scripts, one case at a time. For each case a
/// listener on 127.0.0.1 and a free port is opened, the command started with `{host}`, `{port}`,
/// `{ca-file}` and `{case}` substituted, its first connection given to the script, and the
/// case judged from the dialog (the script's steps) and from how the client exited (the case's
/// `client-exit`). One result per case, reported as `parley run` reports scenarios.
public struct TestClientFrontend: Sendable {
    /// The protocols with bundled suites.
    public enum ClientProtocol: String, Sendable, CaseIterable {
        case smtp, imap, pop3
    }

    /// The protocol whose bundled suite runs when `suite` is nil.
    public var clientProtocol: ClientProtocol
    /// The suite: a folder of cases or case files; nil: the bundled one for the protocol.
    public var suite: [String] = []
    /// The client's command line, before substitution.
    public var command: [String]
    /// The file `{ca-file}` names; nil: the test CA that signed the cases' certificates.
    public var caFile: String?
    /// `--var` values.
    public var variables: [String: String] = [:]
    /// Run only the cases with these tags.
    public var tags: [String] = []
    /// How long the client may take to connect after it starts.
    public var connectTimeout: Duration = .seconds(15)
    /// How long the client may take to exit after its dialog ended.
    public var exitTimeout: Duration = .seconds(10)
    /// Colour the transcripts.
    public var colour = false
    /// Report files, as `parley run` writes them.
    public var junitPath: String?
    public var jsonPath: String?
    public var htmlPath: String?
    /// The environment the client is started with (and where the bundled suites are looked for).
    public var environment = ProcessInfo.processInfo.environment
    /// The executable, for finding the installed suites.
    public var executable = InstalledFiles.executablePath()
    /// Where transcripts and the summary go.
    public var output: @Sendable (String) -> Void
    /// The cases that have finished, kept where a signal handler can reach them.
    public var ledger = RunLedger()
    /// The client running now, for a signal handler to stop.
    let running = RunningClient()

    /// A frontend for `command` against the bundled suite of `clientProtocol`.
    public init(clientProtocol: ClientProtocol, command: [String], output: @escaping @Sendable (String) -> Void) {
        self.clientProtocol = clientProtocol
        self.command = command
        self.output = output
    }

    /// The bundled suite's folder: `share/parley/suites/clients/P` beside the installed binary,
    /// else `suites/clients/P` under the working directory (a source checkout); nil when neither
    /// exists.
    func bundledSuite() -> String? {
        let installed = InstalledFiles.shareDirectory(executable: executable) + "/suites/clients/" + clientProtocol.rawValue
        let checkout = FileManager.default.currentDirectoryPath + "/suites/clients/" + clientProtocol.rawValue
        return [installed, checkout].first { FileManager.default.fileExists(atPath: $0) }
    }

    /// `{host}`, `{port}`, `{ca-file}` and `{case}` replaced in each argument.
    public static func substitute(_ arguments: [String], host: String, port: Int, caFile: String, case name: String) -> [String] {
        arguments.map { argument in
            argument.replacingOccurrences(of: "{host}", with: host)
                .replacingOccurrences(of: "{port}", with: String(port))
                .replacingOccurrences(of: "{ca-file}", with: caFile)
                .replacingOccurrences(of: "{case}", with: name)
        }
    }

    /// Runs every case; returns the exit status (as `parley run`'s).
    public func run() async -> Int32 {
        let paths: [String]
        if suite.isEmpty {
            guard let folder = bundledSuite() else {
                output(
                    "error: no bundled \(clientProtocol.rawValue) client suite (looked in \(InstalledFiles.shareDirectory(executable: executable))/suites/clients and ./suites/clients): give --suite DIR\n"
                )
                return RunFrontend.Status.invalid
            }
            paths = [folder]
        } else {
            paths = suite
        }
        guard ClientProcess.find(command.first ?? "", path: environment["PATH"]) != nil else {
            output("error: client command '\(command.first ?? "")' not found (on PATH or as a path)\n")
            return RunFrontend.Status.invalid
        }
        let reports = reportFrontend(paths)
        guard let loaded = reports.loadAll(), let cases = reports.selectByTags(loaded) else { return RunFrontend.Status.invalid }
        for scenario in cases {
            if let step = scenario.listenOrAccept {
                output("\(step.location): error: a client case runs with the client as its connection: leave out '\(step.keyword)'\n")
                return RunFrontend.Status.invalid
            }
        }
        let trust: String
        do {
            trust = try caFile ?? InstalledFiles.testCAFile(executable: executable, environment: environment)
        } catch {
            output("error: cannot write the test CA for {ca-file}: \(error.localizedDescription)\n")
            return RunFrontend.Status.runtimeError
        }
        output("=== client: \(command.joined(separator: " ")) (\(cases.count) cases, {ca-file} = \(trust))\n")
        reports.ledger.begin(total: cases.count)
        for (index, scenario) in cases.enumerated() {
            let record = await runCase(scenario, caFile: trust)
            reports.ledger.record(record, at: index)
            if !colour { output(record.transcript) } else { output(record.colouredTranscript) }
        }
        guard let run = reports.ledger.finish() else { return RunFrontend.Status.interrupted }
        return reports.report(run, interruption: nil)
    }

    /// The frontend that loads the cases and writes the reports, sharing this one's ledger.
    func reportFrontend(_ paths: [String]) -> RunFrontend {
        var reports = RunFrontend(paths: paths, variables: variables, colour: colour, output: output)
        reports.tags = tags
        reports.junitPath = junitPath
        reports.jsonPath = jsonPath
        reports.htmlPath = htmlPath
        reports.ledger = ledger
        return reports
    }

    /// On SIGINT or SIGTERM: stops the running client, writes the reports of the cases that
    /// finished, and returns 128 + the signal.
    public func writeInterrupted(signal: Int32) -> Int32 {
        running.terminate()
        return reportFrontend(suite.isEmpty ? [bundledSuite() ?? ""] : suite).writeInterrupted(signal: signal)
    }

    /// One case: listener, client, script, exit.
    func runCase(_ scenario: Scenario, caFile: String) async -> ScenarioRecord {
        let runner = ScenarioRunner(variables: variables, environment: environment)
        let caseName = URL(fileURLWithPath: scenario.file).deletingPathExtension().lastPathComponent
        return await RunFrontend.runOne(scenario, runner: runner, colour: colour, live: nil) { emit in
            await judge(scenario, runner: runner, caseName: caseName, caFile: caFile, emit: emit)
        }
    }

    /// Runs the case and returns its result, emitting its events.
    func judge(
        _ scenario: Scenario, runner: ScenarioRunner, caseName: String, caFile: String, emit: @escaping @Sendable (RunEvent) -> Void
    ) async -> ScenarioResult {
        let started = ContinuousClock.now
        func ended(_ kind: Failure.Kind, _ outcome: ScenarioResult.Outcome, _ message: String) -> ScenarioResult {
            let location = scenario.steps.first?.location ?? SourceLocation(file: scenario.file, line: 1, column: 1)
            var result = ScenarioResult(
                name: scenario.name, file: scenario.file, outcome: outcome, stepsPassed: 0, stepCount: scenario.steps.count,
                failure: Failure(kind, at: location, message), duration: ContinuousClock.now - started, insecure: false)
            result.tags = scenario.tags
            return result
        }
        let listener: ClientListener
        do {
            listener = try await ClientListener.start(host: "127.0.0.1", port: 0)
        } catch {
            emit(.scenarioStarted(name: scenario.name, file: scenario.file))
            let result = ended(.runtime, .error, error.description)
            emit(.scenarioFinished(result))
            return result
        }
        let arguments = Self.substitute(command, host: listener.host, port: listener.port, caFile: caFile, case: caseName)
        let client: ClientProcess
        do {
            client = try ClientProcess(arguments, environment: environment)
            running.set(client)
        } catch {
            await listener.stop()
            emit(.scenarioStarted(name: scenario.name, file: scenario.file))
            let result = ended(.runtime, .error, "\(error)")
            emit(.scenarioFinished(result))
            return result
        }
        // The client's connection, unless it exits (or the deadline passes) first.
        var accepted: AcceptedClient?
        let connectBy = ContinuousClock.now + connectTimeout
        while accepted == nil, ContinuousClock.now < connectBy {
            let exited = client.ended != nil
            accepted = await listener.next(timeout: .milliseconds(exited ? 50 : 200))
            if exited { break }
        }
        guard let accepted else {
            await listener.stop()
            emit(.scenarioStarted(name: scenario.name, file: scenario.file))
            emit(.note("client: \(arguments.joined(separator: " "))"))
            let result: ScenarioResult
            if let exit = client.ended {
                emit(.note("client output:\n\(client.output)"))
                result = ended(
                    .runtime, .error,
                    "the client exited with \(Self.describe(exit)) before it connected to \(listener.host):\(listener.port)")
            } else {
                await client.kill()
                emit(.note("client output:\n\(client.output)"))
                result = ended(
                    .expectation, .failed,
                    "the client did not connect to \(listener.host):\(listener.port) within \(connectTimeout) (killed)")
            }
            emit(.scenarioFinished(result))
            return result
        }
        // The script's run; its finish is held back until the client's exit is judged.
        let forward: @Sendable (RunEvent) -> Void = { event in
            if case .scenarioFinished = event { return }
            emit(event)
            if case .scenarioStarted = event { emit(.note("client: \(arguments.joined(separator: " "))")) }
        }
        var result = await runner.run(scenario, client: accepted) { forward($0) }
        await listener.stop()
        let exited = await client.waitForExit(timeout: exitTimeout)
        if !exited { await client.kill() }
        running.set(nil)
        let output = client.output.trimmingCharacters(in: .whitespacesAndNewlines)
        if !output.isEmpty { emit(.note("client output:\n\(output)")) }
        let wanted = scenario.clientExit ?? .any
        if let exit = client.ended, exited {
            emit(.note("the client exited with \(Self.describe(exit))"))
            if result.outcome == .passed, let problem = Self.exitProblem(exit, wanted: wanted) {
                result.outcome = .failed
                result.failure = Failure(.expectation, at: Self.location(scenario), problem)
            }
        } else {
            let note = "the client did not exit within \(exitTimeout) after its dialog ended (killed)"
            emit(.note(note))
            if result.outcome == .passed, wanted != .any {
                result.outcome = .failed
                result.failure = Failure(.expectation, at: Self.location(scenario), note)
            }
        }
        result.duration = ContinuousClock.now - started
        emit(.scenarioFinished(result))
        return result
    }

    /// What is wrong with an exit, or nil when it is what the case asks for.
    static func exitProblem(_ exit: (status: Int32, signalled: Bool), wanted: Scenario.ClientExit) -> String? {
        let succeeded = exit.status == 0 && !exit.signalled
        switch wanted {
        case .any: return nil
        case .success:
            return succeeded ? nil : "the dialog went as it should, but the client exited with \(describe(exit)) (the case expects success)"
        case .failure:
            return succeeded
                ? "the client exited with status 0, as if it had succeeded: it must report a failure here (client-exit: failure)" : nil
        }
    }

    /// `status N` or `signal N`.
    static func describe(_ exit: (status: Int32, signalled: Bool)) -> String {
        exit.signalled ? "signal \(exit.status)" : "status \(exit.status)"
    }

    /// Where a failure about the client's exit points: the `client-exit` line when there is one.
    static func location(_ scenario: Scenario) -> SourceLocation {
        scenario.clientExitLocation ?? scenario.steps.last?.location ?? SourceLocation(file: scenario.file, line: 1, column: 1)
    }
}

/// The client of the case running now, for a signal handler.
final class RunningClient: @unchecked Sendable {
    private let lock = NSLock()
    private var client: ClientProcess?

    func set(_ client: ClientProcess?) { lock.withLock { self.client = client } }

    /// Kills the running client (and its process group, when it leads one).
    func terminate() { lock.withLock { client }?.terminateNow() }
}
