// SPDX-License-Identifier: Apache-2.0
public import Foundation
public import Runner
import Scenario

/// Everything one scenario left behind: its events, its transcript and its result. The machine
/// reports are written from these.
public struct ScenarioRecord: Sendable {
    /// The scenario's file.
    public var file: String
    /// Every event, in order.
    public var events: [RunEvent]
    /// The console transcript, without colour.
    public var transcript: String
    /// How it ended.
    public var result: ScenarioResult
    /// When it started.
    public var started: Date
    /// The console transcript with colour, for a terminal (the same as `transcript` without).
    public var colouredTranscript: String
    /// The results of the attempts before this one that failed (`parley run --retries`), in
    /// order; `result` is the last attempt's. Their transcripts come first in `transcript`.
    public var earlierAttempts: [ScenarioResult] = []

    /// How many times the scenario ran.
    public var attempts: Int { earlierAttempts.count + 1 }

    /// Creates a record.
    public init(file: String, events: [RunEvent], transcript: String, result: ScenarioResult, started: Date) {
        self.file = file
        self.events = events
        self.transcript = transcript
        self.result = result
        self.started = started
        self.colouredTranscript = transcript
    }
}

/// A whole run: the records of every scenario, in the order the files were named.
public struct RunRecord: Sendable {
    /// The scenarios, in file order.
    public var scenarios: [ScenarioRecord]
    /// When the run started.
    public var started: Date
    /// How long it took.
    public var duration: Duration

    /// Creates a run record.
    public init(scenarios: [ScenarioRecord], started: Date, duration: Duration) {
        self.scenarios = scenarios
        self.started = started
        self.duration = duration
    }

    /// How many scenarios passed only on a later attempt (flaky, or a server that came back).
    public var passedOnRetry: Int {
        scenarios.filter { $0.result.outcome == .passed && !$0.earlierAttempts.isEmpty }.count
    }

    /// How many scenarios ended each way.
    public var counts: (passed: Int, failed: Int, errors: Int, skipped: Int) {
        let outcomes = scenarios.map(\.result.outcome)
        return (
            outcomes.filter { $0 == .passed }.count,
            outcomes.filter { $0 == .failed }.count,
            outcomes.filter { $0 == .error }.count,
            outcomes.filter { $0 == .skipped }.count
        )
    }
}

extension Duration {
    /// Seconds as a floating-point number (reports and load mode's figures).
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

extension Failure {
    /// The variables the run had set, as the transcript and JUnit show them: `name="value"`,
    /// sorted by name; nil when there are none.
    var variablesText: String? {
        guard !variables.isEmpty else { return nil }
        return variables.sorted { $0.key < $1.key }.map { "\($0.key)=\(quoted($0.value))" }.joined(separator: ", ")
    }
}
