// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServerProvider
import MailServers
import NetworkStream
import Reporting
import Runner
public import Scenario

/// `parley run --repeat N --concurrency C FILE`: runs one scenario many times and reports
/// throughput, per-step latency percentiles and errors by class.
public struct LoadFrontend: Sendable {
    /// The scenario file.
    public var file: String
    /// How many sessions to run.
    public var sessions: Int
    /// How many sessions are in flight at once.
    public var concurrency: Int
    /// `--var` values.
    public var variables: [String: String] = [:]
    /// Where to write the figures as JSON, if anywhere.
    public var jsonPath: String?
    /// Where to write the HTML report (latency and throughput charts), if anywhere.
    public var htmlPath: String?
    /// Where text goes.
    public var output: @Sendable (String) -> Void

    /// Creates a load run.
    public init(file: String, sessions: Int, concurrency: Int, output: @escaping @Sendable (String) -> Void) {
        self.file = file
        self.sessions = sessions
        self.concurrency = concurrency
        self.output = output
    }

    /// Latency figures of one step (or of whole sessions).
    public struct Latency: Sendable, Equatable {
        public var count: Int
        public var p50: Duration
        public var p90: Duration
        public var p99: Duration
        public var max: Duration

        /// Nearest-rank percentiles of `samples`; nil when there are none.
        public init?(_ samples: [Duration]) {
            guard !samples.isEmpty else { return nil }
            let sorted = samples.sorted()
            func rank(_ p: Double) -> Duration {
                sorted[Swift.max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1)]
            }
            count = sorted.count
            p50 = rank(0.50)
            p90 = rank(0.90)
            p99 = rank(0.99)
            max = sorted[sorted.count - 1]
        }
    }

    /// The figures of a load run.
    public struct Figures: Sendable {
        public var sessions: Int
        public var concurrency: Int
        public var wall: Duration
        public var passed: Int
        /// Failed sessions by class: `expectation (expect)`, `runtime (connect)`, ...
        public var errors: [String: Int]
        /// Per step, in scenario order: keyword, place, latency.
        public var steps: [(keyword: String, location: SourceLocation, latency: Latency?)]
        /// Whole sessions.
        public var session: Latency?

        /// Sessions per second of wall time.
        public var rate: Double { Double(sessions) / Swift.max(wall.seconds, 1e-9) }
    }

    /// Loads the scenario, runs the sessions, prints the figures and returns the exit status.
    public func run() async -> Int32 {
        let scenario: Scenario
        do {
            scenario = try ScenarioRunner.loader(serverProvider: MailServerProvider()).load(path: file)
        } catch {
            output(error.description)
            return RunFrontend.Status.invalid
        }
        let runner = ScenarioRunner(variables: variables, serverProvider: MailServerProvider())
        let pool: ServerPool
        do {
            pool = try await runner.startServers(for: scenario)
        } catch {
            output("*** \(error)\n")
            return RunFrontend.Status.runtimeError
        }
        let clock = ContinuousClock()
        let began = clock.now
        // `concurrency` workers, each living on one event loop (round robin over the engine's
        // loops) and running sessions one after another until `sessions` have started: no task
        // is created per session and no thread is woken between a session's steps.
        let lanes = RunLane.all()
        // How many sessions are left to start; a worker takes one at a time.
        let remaining = Locked(sessions)
        // When each session finished, in bounded buckets, for the throughput chart.
        let finished = Locked(ThroughputTimeline())
        let take: @Sendable () -> Bool = {
            remaining.withLock { left in
                guard left > 0 else { return false }
                left -= 1
                return true
            }
        }
        let results = await withTaskGroup(of: [ScenarioResult].self) { group in
            for worker in 0..<Swift.min(concurrency, sessions) {
                let lane = lanes[worker % lanes.count]
                group.addTask(executorPreference: lane.taskExecutor) {
                    var mine: [ScenarioResult] = []
                    while take() {
                        mine.append(await runner.run(scenario, servers: pool, lane: lane, emit: nil))
                        let offset = clock.now - began
                        finished.withLock { $0.record(at: offset) }
                    }
                    return mine
                }
            }
            var results: [ScenarioResult] = []
            results.reserveCapacity(sessions)
            for await some in group {
                results.append(contentsOf: some)
            }
            return results
        }
        let wall = clock.now - began
        await pool.stop()
        let figures = Self.figures(scenario, results, wall: wall, concurrency: concurrency)
        output(Self.table(scenario, figures))
        if let jsonPath {
            let json = Self.json(figures)
            do {
                try Data(json.utf8).write(to: URL(fileURLWithPath: jsonPath), options: .atomic)
            } catch {
                output("error: cannot write \(jsonPath): \(error.localizedDescription)\n")
                return RunFrontend.Status.runtimeError
            }
        }
        if let htmlPath {
            let record = Self.loadRecord(scenario, results, figures: figures, timeline: finished.withLock { $0 })
            let status = writeHTML(record, to: htmlPath)
            if status != 0 { return status }
        }
        if results.contains(where: { $0.outcome == .error }) { return RunFrontend.Status.runtimeError }
        if results.contains(where: { $0.outcome == .failed }) { return RunFrontend.Status.failed }
        return RunFrontend.Status.passed
    }

    /// Figures from the sessions' results.
    static func figures(_ scenario: Scenario, _ results: [ScenarioResult], wall: Duration, concurrency: Int) -> Figures {
        var errors: [String: Int] = [:]
        for result in results {
            guard let failure = result.failure, result.outcome != .passed else { continue }
            let key = failure.kind.rawValue + (failure.wait.map { " (\($0.rawValue))" } ?? "")
            errors[key, default: 0] += 1
        }
        let steps = scenario.steps.enumerated().map { index, step in
            let samples = results.compactMap { $0.stepDurations.count > index ? $0.stepDurations[index] : nil }
            return (step.keyword, step.location, Latency(samples))
        }
        let sessions = results.filter { $0.outcome == .passed }.map(\.duration)
        return Figures(
            sessions: results.count,
            concurrency: concurrency,
            wall: wall,
            passed: results.filter { $0.outcome == .passed }.count,
            errors: errors,
            steps: steps,
            session: Latency(sessions)
        )
    }

    /// The figures as a table for people.
    static func table(_ scenario: Scenario, _ f: Figures) -> String {
        var out = "=== load: \(scenario.name) (\(scenario.file))\n"
        out += String(
            format: "=== %d sessions, concurrency %d, %.3f s wall, %.1f sessions/s, %d passed\n",
            f.sessions, f.concurrency, f.wall.seconds, f.rate, f.passed
        )
        out += "=== socket options: TCP_NODELAY on (SwiftNIO's default)"
        out += NetworkProcess.setsQuickAckAfterFlush ? ", TCP_QUICKACK set after each flush\n" : "\n"
        if f.errors.isEmpty {
            out += "=== errors: none\n"
        } else {
            for (key, count) in f.errors.sorted(by: { $0.key < $1.key }) {
                out += "*** errors: \(count) \(key)\n"
            }
        }
        out += "step                               count      p50      p90      p99      max\n"
        for (index, step) in f.steps.enumerated() {
            let label = "\(index + 1) \(step.keyword) (line \(step.location.line))"
            out += row(label, step.latency)
        }
        out += row("session (passed)", f.session)
        return out
    }

    static func row(_ label: String, _ latency: Latency?) -> String {
        let padded = label.count >= 32 ? String(label.prefix(32)) : label + String(repeating: " ", count: 32 - label.count)
        guard let l = latency else { return padded + "      0        -        -        -        -\n" }
        let cells = [l.p50, l.p90, l.p99, l.max].map { value -> String in
            let text = milliseconds(value)
            return String(repeating: " ", count: Swift.max(1, 9 - text.count)) + text
        }
        return padded + String(format: " %7d", l.count) + cells.joined() + "\n"
    }

    /// A duration in milliseconds, `12.3ms`.
    static func milliseconds(_ d: Duration) -> String {
        String(format: "%.2fms", d.seconds * 1000)
    }

    /// The figures as JSON: one object `load` (see README, "Load mode").
    static func json(_ f: Figures) -> String {
        let report = LoadReport(
            load: .init(
                sessions: f.sessions,
                concurrency: f.concurrency,
                wallSeconds: f.wall.seconds,
                sessionsPerSecond: f.rate,
                passed: f.passed,
                errors: f.errors,
                socket: .init(tcpNoDelay: true, tcpQuickAckAfterFlush: NetworkProcess.setsQuickAckAfterFlush),
                session: f.session.map(LoadReport.Latency.init),
                steps: f.steps.enumerated().map { index, step in
                    .init(index: index, keyword: step.keyword, line: step.location.line, latency: step.latency.map(LoadReport.Latency.init))
                }
            )
        )
        let data = (try? JSONOutput.encoder(pretty: true).encode(report)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// Load mode's JSON document. Absent latencies (no sample) are written as `null`.
struct LoadReport: Encodable {
    struct Latency: Encodable {
        var count: Int
        var p50: Double
        var p90: Double
        var p99: Double
        var max: Double

        init(_ latency: LoadFrontend.Latency) {
            count = latency.count
            p50 = latency.p50.seconds * 1000
            p90 = latency.p90.seconds * 1000
            p99 = latency.p99.seconds * 1000
            max = latency.max.seconds * 1000
        }

        enum CodingKeys: String, CodingKey {
            case count
            case p50 = "p50_ms"
            case p90 = "p90_ms"
            case p99 = "p99_ms"
            case max = "max_ms"
        }
    }

    struct Socket: Encodable {
        var tcpNoDelay: Bool
        var tcpQuickAckAfterFlush: Bool

        enum CodingKeys: String, CodingKey {
            case tcpNoDelay = "tcp_nodelay"
            case tcpQuickAckAfterFlush = "tcp_quickack_after_flush"
        }
    }

    struct Step: Encodable {
        var index: Int
        var keyword: String
        var line: Int
        @NullWhenAbsent var latency: Latency?

        enum CodingKeys: String, CodingKey {
            case index, keyword, line, latency
        }
    }

    struct Load: Encodable {
        var sessions: Int
        var concurrency: Int
        var wallSeconds: Double
        var sessionsPerSecond: Double
        var passed: Int
        var errors: [String: Int]
        var socket: Socket
        @NullWhenAbsent var session: Latency?
        var steps: [Step]

        enum CodingKeys: String, CodingKey {
            case sessions, concurrency, passed, errors, socket, session, steps
            case wallSeconds = "wall_seconds"
            case sessionsPerSecond = "sessions_per_second"
        }
    }

    var load: Load
}
