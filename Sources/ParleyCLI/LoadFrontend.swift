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
    /// Start no session after this long (`--duration`); nil: run all `sessions`.
    public var duration: Duration?
    /// Where text goes.
    public var output: @Sendable (String) -> Void

    /// Creates a load run.
    public init(file: String, sessions: Int, concurrency: Int, output: @escaping @Sendable (String) -> Void) {
        self.file = file
        self.sessions = sessions
        self.concurrency = concurrency
        self.output = output
    }

    /// Latency figures of one step (or of whole sessions), read off a ``LatencyHistogram``:
    /// percentiles within 0.1 % of the exact nearest-rank ones, the maximum exact.
    public struct Latency: Sendable, Equatable {
        public var count: Int
        public var p50: Duration
        public var p90: Duration
        public var p99: Duration
        public var max: Duration

        /// The figures of `histogram`; nil when it is empty.
        init?(_ histogram: LatencyHistogram) {
            guard histogram.count > 0, let p50 = histogram.duration(at: 0.50), let p90 = histogram.duration(at: 0.90),
                let p99 = histogram.duration(at: 0.99), let max = histogram.duration(at: 1)
            else { return nil }
            count = histogram.count
            self.p50 = p50
            self.p90 = p90
            self.p99 = p99
            self.max = max
        }

        /// The figures of `samples`; nil when there are none.
        public init?(_ samples: some Sequence<Duration>) {
            self.init(LatencyHistogram(samples))
        }
    }

    /// What a load run keeps of its sessions as they finish: counts, histograms and the
    /// throughput timeline, never the sessions' results themselves, so a run of any length
    /// stays in the same memory.
    struct Tally: Sendable {
        var sessions = 0
        var passed = 0
        var failed = 0
        var erred = 0
        var errors: [String: Int] = [:]
        var steps: [LatencyHistogram]
        var session = LatencyHistogram()
        var timeline = ThroughputTimeline()
        /// Whole passed sessions of each minute of the run before the current one, as figures
        /// (a soak's first and last minutes are compared); the current minute as a histogram.
        var minutes: [Latency?] = []
        var thisMinute = LatencyHistogram()

        init(steps: Int) {
            self.steps = Array(repeating: LatencyHistogram(), count: steps)
        }

        /// Counts one session that finished `offset` after the run began.
        mutating func record(_ result: ScenarioResult, at offset: Duration) {
            sessions += 1
            switch result.outcome {
            case .passed:
                passed += 1
                session.record(result.duration)
                let minute = Int(offset.seconds / 60)
                while minutes.count < minute {
                    minutes.append(Latency(thisMinute))
                    thisMinute = LatencyHistogram()
                }
                thisMinute.record(result.duration)
            case .failed: failed += 1
            case .error: erred += 1
            case .skipped: break
            }
            if let failure = result.failure, result.outcome != .passed {
                let key = failure.kind.rawValue + (failure.wait.map { " (\($0.rawValue))" } ?? "")
                errors[key, default: 0] += 1
            }
            for (index, duration) in result.stepDurations.prefix(steps.count).enumerated() {
                steps[index].record(duration)
            }
            timeline.record(at: offset)
        }

        /// Every minute's figures, the last (perhaps partial) one included.
        var allMinutes: [Latency?] { minutes + [Latency(thisMinute)] }
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
        /// Whole passed sessions by minute of the run (nil: none passed in that minute).
        public var minutes: [Latency?] = []

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
        // What the finished sessions leave: counts and histograms, in bounded memory.
        let tally = Locked(Tally(steps: scenario.steps.count))
        let deadline = duration.map { began + $0 }
        let take: @Sendable () -> Bool = {
            if let deadline, clock.now >= deadline { return false }
            return remaining.withLock { left in
                guard left > 0 else { return false }
                left -= 1
                return true
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<Swift.min(concurrency, sessions) {
                let lane = lanes[worker % lanes.count]
                group.addTask(executorPreference: lane.taskExecutor) {
                    while take() {
                        let result = await runner.run(scenario, servers: pool, lane: lane, emit: nil)
                        let offset = clock.now - began
                        tally.withLock { $0.record(result, at: offset) }
                    }
                }
            }
        }
        let wall = clock.now - began
        await pool.stop()
        let done = tally.withLock { $0 }
        let figures = Self.figures(scenario, done, wall: wall, concurrency: concurrency)
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
            let record = Self.loadRecord(scenario, done, figures: figures)
            let status = writeHTML(record, to: htmlPath)
            if status != 0 { return status }
        }
        if done.erred > 0 { return RunFrontend.Status.runtimeError }
        if done.failed > 0 { return RunFrontend.Status.failed }
        return RunFrontend.Status.passed
    }

    /// Figures from the tally of the sessions.
    static func figures(_ scenario: Scenario, _ tally: Tally, wall: Duration, concurrency: Int) -> Figures {
        Figures(
            sessions: tally.sessions,
            concurrency: concurrency,
            wall: wall,
            passed: tally.passed,
            errors: tally.errors,
            steps: zip(scenario.steps, tally.steps).map { step, latency in (step.keyword, step.location, Latency(latency)) },
            session: Latency(tally.session),
            minutes: tally.allMinutes
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
                },
                minutes: f.minutes.enumerated().map { index, latency in
                    .init(minute: index, session: latency.map(LoadReport.Latency.init))
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

    /// Whole passed sessions of one minute of the run (the first is minute 0).
    struct Minute: Encodable {
        var minute: Int
        @NullWhenAbsent var session: Latency?

        enum CodingKeys: String, CodingKey {
            case minute, session
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
        var minutes: [Minute]

        enum CodingKeys: String, CodingKey {
            case sessions, concurrency, passed, errors, socket, session, steps, minutes
            case wallSeconds = "wall_seconds"
            case sessionsPerSecond = "sessions_per_second"
        }
    }

    var load: Load
}
