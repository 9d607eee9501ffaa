// SPDX-License-Identifier: Apache-2.0
import Foundation
import Reporting
import Runner
import Scenario

/// `parley serve --script FILE`: a fake server for any client, whose every connection runs the
/// server script (its steps start with the client as the current connection); one verdict line
/// per connection on standard output, the dialog's transcript on standard error.
public struct ScriptServeFrontend: Sendable {
    /// The script.
    public var file: String
    /// The address and port to listen on (0: a free one).
    public var host = "127.0.0.1"
    public var port = 0
    /// Stop after this many connections and exit with their verdict (0 when every one passed,
    /// 1 when one failed, 3 on an error); nil serves until a signal.
    public var connections: Int?
    /// How long to wait for each next client when `connections` is set.
    public var acceptTimeout: Duration = .seconds(300)
    /// `--var` values.
    public var variables: [String: String] = [:]
    /// The verdict lines (standard output).
    public var output: @Sendable (String) -> Void
    /// The transcripts (standard error).
    public var transcript: @Sendable (String) -> Void

    /// A frontend for the script at `file`.
    public init(file: String, output: @escaping @Sendable (String) -> Void, transcript: @escaping @Sendable (String) -> Void) {
        self.file = file
        self.output = output
        self.transcript = transcript
    }

    /// The script, or nil when it cannot serve (the reason printed).
    func load() -> Scenario? {
        let scenario: Scenario
        do {
            scenario = try ScenarioRunner.loader(serverProvider: nil).load(path: file)
        } catch {
            output(error.description)
            return nil
        }
        if let step = scenario.listenOrAccept {
            output(
                "\(step.location): error: a script for 'parley serve --script' runs once per connection, with the client as its connection: leave out '\(step.keyword)'\n"
            )
            return nil
        }
        return scenario
    }

    /// Serves; returns the exit status.
    public func run() async -> Int32 {
        guard let scenario = load() else { return RunFrontend.Status.invalid }
        let listener: ClientListener
        do {
            listener = try await ClientListener.start(host: host, port: port)
        } catch {
            output("error: \(error)\n")
            return RunFrontend.Status.runtimeError
        }
        output("listening on \(listener.host):\(listener.port) (script \(scenario.name))\n")
        let runner = ScenarioRunner(variables: variables)
        let transcript = self.transcript
        let output = self.output
        let worst = await withTaskGroup(of: Int32.self) { group -> Int32 in
            var served = 0
            while connections.map({ served < $0 }) ?? true {
                guard let client = await listener.next(timeout: connections == nil ? .seconds(3600) : acceptTimeout) else {
                    if connections == nil { continue }
                    output("no client within \(acceptTimeout) after \(served) of \(connections ?? 0) connections\n")
                    group.addTask { RunFrontend.Status.failed }
                    break
                }
                served += 1
                let number = served
                group.addTask {
                    let reporter = ConsoleReporter(colour: false) { transcript($0) }
                    let result = await runner.run(scenario, client: client) { reporter.handle($0) }
                    output(Self.verdict(result, number: number, peer: client.peer))
                    switch result.outcome {
                    case .passed, .skipped: return RunFrontend.Status.passed
                    case .failed: return RunFrontend.Status.failed
                    case .error: return RunFrontend.Status.runtimeError
                    }
                }
            }
            var worst = RunFrontend.Status.passed
            for await status in group where status == RunFrontend.Status.runtimeError || worst == RunFrontend.Status.passed {
                worst = status
            }
            return worst
        }
        await listener.stop()
        return worst
    }

    /// One connection's verdict: `connection N from PEER: PASS NAME (...)`, or where it failed.
    static func verdict(_ result: ScenarioResult, number: Int, peer: String) -> String {
        let head = "connection \(number) from \(peer): "
        switch result.outcome {
        case .passed, .skipped:
            return head + "PASS \(result.name) (\(result.stepsPassed) steps)\n"
        case .failed, .error:
            let word = result.outcome == .failed ? "FAIL" : "ERROR"
            let failure = result.failure
            return head + "\(word) \(result.name): \(failure.map { "\($0.location): \($0.message)" } ?? "no failure recorded")\n"
        }
    }
}

extension Scenario {
    /// The first `listen` or `accept` step: a server script played with a client it is given
    /// (`serve --script`, `test-client`) has none.
    var listenOrAccept: Step? {
        steps.first { step in
            switch step.kind {
            case .listen, .accept: true
            default: false
            }
        }
    }
}
