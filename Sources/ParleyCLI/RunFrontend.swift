// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServerProvider
import NetworkStream
import Reporting
import Runner
import Scenario

/// What `parley run` does, without a process around it: load, run, report, and choose the exit
/// status. Tests drive this directly.
public struct RunFrontend: Sendable {
    /// Exit statuses of `parley run` and `parley check`.
    public enum Status {
        /// Every scenario passed (or, for `check`, every file is valid).
        public static let passed: Int32 = 0
        /// An expectation or assertion failed.
        public static let failed: Int32 = 1
        /// An invalid scenario or bad usage: nothing was run.
        public static let invalid: Int32 = 2
        /// A connection or runtime error that the scenario did not expect.
        public static let runtimeError: Int32 = 3
        /// Interrupted by SIGINT (130 = 128 + 2); SIGTERM gives 143.
        public static let interrupted: Int32 = 130
    }

    /// One slice of a suite spread over machines: `index` of `total`, 1-based.
    public struct Shard: Sendable, Hashable, CustomStringConvertible {
        /// This slice, from 1 to `total`.
        public var index: Int
        /// How many slices there are.
        public var total: Int

        /// Parses `I/N`.
        public init?(parsing text: String) {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, (1...n).contains(i) else {
                return nil
            }
            index = i
            total = n
        }

        /// The items of this slice: every `total`-th item of the list, starting at `index`.
        /// The slices of one list are disjoint and together hold every item.
        public func select<Item>(_ items: [Item]) -> [Item] {
            items.enumerated().filter { $0.offset % total == index - 1 }.map(\.element)
        }

        public var description: String { "\(index)/\(total)" }
    }

    /// Files or folders named on the command line.
    public var paths: [String]
    /// `--var` values.
    public var variables: [String: String] = [:]
    /// Whether to use ANSI colours in the transcript.
    public var colour = false
    /// How many scenarios run at once.
    public var jobs = 1
    /// The slice of the suite to run, if any.
    public var shard: Shard?
    /// `--matrix NAME=FILE`: each scenario runs once per value in FILE, as the variable NAME.
    public var matrix: (name: String, file: String)?
    /// `--resolver`: the DNS resolver for domain checks (else PARLEY_RESOLVER, else the system's).
    public var resolver: String?
    /// `--trust-anchor`: the DNSSEC trust anchor file (else PARLEY_TRUST_ANCHOR, else the root's).
    public var trustAnchor: String?
    /// The environment (PARLEY_RESOLVER, PARLEY_TRUST_ANCHOR, `${NAME}` fallbacks).
    public var environment = ProcessInfo.processInfo.environment
    /// `--tag`: run only the scenarios with at least one of these tags (every one when empty).
    public var tags: [String] = []
    /// `--skip-tag`: leave out the scenarios with any of these tags.
    public var skipTags: [String] = []
    /// `--retries`: how many more times a scenario that failed or ended in an error runs; its
    /// last attempt counts, and every attempt stays in its transcript and reports.
    public var retries = 0
    /// `--update-snapshots`: `snapshot` steps write their files instead of failing on a change.
    public var updateSnapshots = false
    /// Where to write JUnit XML, if anywhere.
    public var junitPath: String?
    /// Where to write the JSON report, if anywhere.
    public var jsonPath: String?
    /// Where to write the HTML report, if anywhere.
    public var htmlPath: String?
    /// Where to write the teaching pages (one per scenario, the same on every run), if anywhere.
    public var teachingFolder: String?
    /// Print TAP instead of transcripts.
    public var tap = false
    /// Where standard output goes.
    public var output: @Sendable (String) -> Void
    /// Where progress goes (standard error on a terminal), if anywhere.
    public var progress: (@Sendable (String) -> Void)?
    /// Where finished scenarios are recorded as they finish, so that an interrupted run can
    /// still write its reports (see ``writeInterrupted(_:signal:)``).
    public var ledger = RunLedger()

    /// Creates a frontend with the defaults: one job, all files, transcripts only.
    public init(paths: [String], variables: [String: String] = [:], colour: Bool = false, output: @escaping @Sendable (String) -> Void) {
        self.paths = paths
        self.variables = variables
        self.colour = colour
        self.output = output
    }

    /// One run of a scenario: with a matrix value and an MX host when it has them. Its name in
    /// every report says which.
    struct Unit: Sendable {
        /// The scenario, named with its value and host.
        var scenario: Scenario
        /// Variables this run adds (the matrix value).
        var variables: [String: String] = [:]
        /// The MX host this run goes to.
        var mx: MXChoice?
    }

    /// Loads every scenario, runs them, writes the reports, and returns the exit status.
    public func run() async -> Int32 {
        guard let loaded = loadAll(), let scenarios = selectByTags(loaded) else { return Status.invalid }
        var units = scenarios.map { Unit(scenario: $0) }
        if let matrix {
            guard let values = readMatrix(matrix.file) else { return Status.invalid }
            units = Self.product(units, name: matrix.name, values: values)
            output("=== matrix \(matrix.name): \(values.count) values from \(matrix.file), \(units.count) runs\n")
        }
        if let shard {
            let all = units.count
            units = shard.select(units)
            output("=== shard \(shard): \(units.count) of \(all) \(matrix == nil ? "scenarios" : "runs")\n")
        }
        let lookups = DomainLookups(resolver: resolver, trustAnchor: trustAnchor, environment: environment)
        if resolver != nil || trustAnchor != nil, let problem = lookups.check() {
            output("parley: \(problem)\n")
            return Status.invalid
        }
        let runner = {
            var runner = ScenarioRunner(variables: variables, environment: environment, serverProvider: MailServerProvider())
            runner.updateSnapshots = updateSnapshots
            runner.domainLookups = lookups
            return runner
        }()
        units = await expandMX(units, runner: runner)
        ledger.begin(total: units.count)
        if tap { output(TAPReporter.header(count: units.count)) }
        _ = await runAll(units, runner: runner)
        // An interrupt that came first has written the reports already.
        guard let run = ledger.finish() else { return Status.interrupted }
        return report(run, interruption: nil)
    }

    /// Every unit once per value, in unit order then value order.
    static func product(_ units: [Unit], name: String, values: [String]) -> [Unit] {
        units.flatMap { unit in
            values.map { value in
                var copy = unit
                copy.variables[name] = value
                copy.scenario.name += " [\(name)=\(value)]"
                return copy
            }
        }
    }

    /// The values of a matrix file: one per line, trimmed; blank lines and `#` comments skipped.
    func readMatrix(_ path: String) -> [String]? {
        guard let data = FileManager.default.contents(atPath: path) else {
            output("parley: --matrix: cannot read \(path)\n")
            return nil
        }
        let values = Self.matrixValues(Array(data))
        if values.isEmpty {
            output("parley: --matrix: \(path) has no values (one per line; # starts a comment)\n")
            return nil
        }
        return values
    }

    /// The values in a matrix file's bytes.
    public static func matrixValues(_ bytes: [UInt8]) -> [String] {
        bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).compactMap { line in
            let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return text.isEmpty || text.hasPrefix("#") ? nil : text
        }
    }

    /// Units whose scenario names a mail domain (`mx:`) become one unit per MX host, resolved
    /// before the run starts (so every report knows its count); a domain without usable MX
    /// hosts stays one unit, whose run says why.
    func expandMX(_ units: [Unit], runner: ScenarioRunner) async -> [Unit] {
        let needs = units.indices.filter { units[$0].scenario.mxDomain != nil }
        guard !needs.isEmpty else { return units }
        var choices: [Int: [MXChoice]] = [:]
        await withTaskGroup(of: (Int, [MXChoice]).self) { group in
            var next = 0
            func start() {
                let index = needs[next]
                next += 1
                var unitRunner = runner
                unitRunner.variables.merge(units[index].variables) { _, unit in unit }
                let scenario = units[index].scenario
                group.addTask { (index, await unitRunner.mxChoices(for: scenario)) }
            }
            while next < min(needs.count, max(jobs, 1)) { start() }
            for await (index, found) in group {
                choices[index] = found
                if next < needs.count { start() }
            }
        }
        return units.enumerated().flatMap { index, unit -> [Unit] in
            guard let hosts = choices[index], !hosts.isEmpty else { return [unit] }
            return hosts.map { host in
                var copy = unit
                copy.mx = host
                copy.scenario.name += " [MX \(host.host)]"
                return copy
            }
        }
    }

    /// The scenarios that `tags` and `skipTags` select, announced when either is given; nil (with
    /// the reason printed) when a `--tag` names a tag that no scenario has, so that a misspelt
    /// tag cannot pass a CI job by running nothing. Shards are taken from what this keeps.
    func selectByTags(_ scenarios: [Scenario]) -> [Scenario]? {
        guard !tags.isEmpty || !skipTags.isEmpty else { return scenarios }
        let known = Set(scenarios.flatMap(\.tags))
        let unknown = tags.filter { !known.contains($0) }
        if !unknown.isEmpty {
            let list = known.isEmpty ? "none" : known.sorted().joined(separator: ", ")
            for tag in unknown {
                let hint = nearest(tag, in: known.sorted()).map { "; did you mean '\($0)'?" } ?? ""
                output("error: no scenario has the tag '\(tag)'\(hint) (the tags in these files: \(list))\n")
            }
            return nil
        }
        let selected = scenarios.filter { scenario in
            (tags.isEmpty || scenario.tags.contains(where: tags.contains)) && !scenario.tags.contains(where: skipTags.contains)
        }
        let options = tags.map { "--tag \($0)" } + skipTags.map { "--skip-tag \($0)" }
        output("=== tags: \(selected.count) of \(scenarios.count) scenarios (\(options.joined(separator: ", ")))\n")
        return selected
    }

    /// Writes the reports for an interrupted run: complete, valid files for the scenarios that
    /// finished. Returns the exit status to use: 128 + the signal's number.
    ///
    /// - Parameter signal: the signal that interrupted the run (SIGINT, SIGTERM).
    public func writeInterrupted(signal: Int32) -> Int32 {
        guard let run = ledger.finish() else { return 128 + signal }
        let name = signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)"
        output("\n*** interrupted by \(name) after \(run.scenarios.count) of \(ledger.total) scenarios\n")
        _ = report(run, interruption: name)
        return 128 + signal
    }

    /// Writes the report files and the summary line; returns the exit status.
    func report(_ run: RunRecord, interruption: String?) -> Int32 {
        var status = exitStatus(run)
        if let junitPath {
            status = max(status, write(JUnitReporter.render(run), to: junitPath))
        }
        if let jsonPath {
            let json = JSONReporter.render(run, parleyVersion: ParleyVersion.string, interruption: interruption)
            status = max(status, write(json, to: jsonPath))
        }
        status = max(status, writeHTML(run, interruption: interruption))
        let counts = run.counts
        var summary = "\(counts.passed) passed, \(counts.failed) failed"
        if counts.skipped > 0 { summary += ", \(counts.skipped) skipped" }
        if counts.errors > 0 { summary += ", \(counts.errors) errors" }
        if run.passedOnRetry > 0 { summary += ", \(run.passedOnRetry) passed only on a retry" }
        output((tap ? "# " : "") + summary + "\n")
        return status
    }

    /// Loads every file, printing every problem of every file; nil when any file is invalid.
    func loadAll() -> [Scenario]? {
        let files: [String]
        do {
            files = try Self.scenarioFiles(paths)
        } catch {
            output("error: \(error)\n")
            return nil
        }
        if files.isEmpty {
            output("error: no scenario files (*.yaml, *.yml) in \(paths.joined(separator: ", "))\n")
            return nil
        }
        var scenarios: [Scenario] = []
        var invalid = 0
        for file in files {
            do {
                scenarios.append(try ScenarioRunner.loader(serverProvider: MailServerProvider()).load(path: file))
            } catch {
                invalid += 1
                output(error.description)
            }
        }
        if invalid > 0 {
            output("\(invalid) of \(files.count) scenario files have errors; nothing was run\n")
            return nil
        }
        return scenarios
    }

    /// What a record must keep once its transcript is printed: the events for the JSON and
    /// HTML reports and the teaching pages, the plain transcript for JUnit's `system-out`;
    /// without any report only its result, so a run over many scenarios (a matrix over a
    /// thousand domains) keeps a few hundred bytes a scenario instead of its whole dialog.
    func keptOncePrinted(_ record: ScenarioRecord) -> ScenarioRecord {
        var kept = record
        if jsonPath == nil && htmlPath == nil && teachingFolder == nil { kept.events = [] }
        if junitPath == nil && jsonPath == nil && htmlPath == nil && teachingFolder == nil { kept.transcript = "" }
        kept.colouredTranscript = ""
        return kept
    }

    /// Runs the scenarios, at most `jobs` at a time; returns their records in file order (once
    /// printed, each holds what ``keptOncePrinted(_:)`` keeps).
    func runAll(_ units: [Unit], runner: ScenarioRunner) async -> [ScenarioRecord] {
        let live = jobs <= 1 && !tap
        let board = ProgressBoard(total: units.count, sink: progress)
        return await withTaskGroup(of: (Int, ScenarioRecord).self) { group in
            var records = [ScenarioRecord?](repeating: nil, count: units.count)
            var next = 0
            var printed = 0
            func start(_ index: Int) {
                let unit = units[index]
                let scenario = unit.scenario
                var runner = runner
                runner.variables.merge(unit.variables) { _, unit in unit }
                runner.mxChoice = unit.mx
                group.addTask {
                    let record = await Self.runAttempts(
                        scenario,
                        retries: retries,
                        runner: runner,
                        colour: colour,
                        live: live ? output : nil
                    )
                    return (index, record)
                }
            }
            while next < min(max(1, jobs), units.count) {
                start(next)
                next += 1
            }
            for await (index, record) in group {
                records[index] = record
                ledger.record(record, at: index)
                board.finished()
                if next < units.count {
                    start(next)
                    next += 1
                }
                // Print in file order as soon as every earlier scenario is done.
                while printed < units.count, let done = records[printed] {
                    printed += 1
                    if tap {
                        output(TAPReporter.point(printed, done))
                    } else if !live {
                        output(colour ? done.colouredTranscript : done.transcript)
                    }
                    let kept = keptOncePrinted(done)
                    records[printed - 1] = kept
                    ledger.record(kept, at: printed - 1)
                }
            }
            board.stop()
            return records.compactMap { $0 }
        }
    }

    /// Runs a scenario, and again while it fails or ends in an error, up to `retries` more
    /// times. The record is the last attempt's, with the earlier attempts' results kept and their
    /// transcripts (each followed by a line that says so) before its own.
    static func runAttempts(
        _ scenario: Scenario,
        retries: Int,
        runner: ScenarioRunner,
        colour: Bool,
        live: (@Sendable (String) -> Void)?
    ) async -> ScenarioRecord {
        var earlier: [ScenarioRecord] = []
        var record = await runOne(scenario, runner: runner, colour: colour, live: live)
        while [.failed, .error].contains(record.result.outcome), earlier.count < retries {
            let note =
                "=== attempt \(earlier.count + 1) of \(retries + 1) \(record.result.outcome == .error ? "ended in an error" : "failed"); running the scenario again\n\n"
            live?(note)
            record.transcript += note
            record.colouredTranscript += note
            earlier.append(record)
            record = await runOne(scenario, runner: runner, colour: colour, live: live)
        }
        guard !earlier.isEmpty else { return record }
        let verdict = record.result.outcome == .passed ? "passed on attempt" : "ended on attempt"
        let last = "=== \(verdict) \(earlier.count + 1) of \(retries + 1)\n\n"
        live?(last)
        record.transcript = earlier.map(\.transcript).joined() + record.transcript + last
        record.colouredTranscript = earlier.map(\.colouredTranscript).joined() + record.colouredTranscript + last
        record.earlierAttempts = earlier.map(\.result)
        record.started = earlier[0].started
        return record
    }

    /// Runs one scenario, recording its events and transcript.
    /// `execute` runs the scenario in place of `runner.run(scenario)`, sending its events to
    /// the function it is given (`parley test-client` runs a case with its client so).
    static func runOne(
        _ scenario: Scenario,
        runner: ScenarioRunner,
        colour: Bool,
        live: (@Sendable (String) -> Void)?,
        execute: (@Sendable (@escaping @Sendable (RunEvent) -> Void) async -> ScenarioResult)? = nil
    ) async -> ScenarioRecord {
        let collector = Collector()
        let plain = ConsoleReporter(colour: false) { collector.append(text: $0) }
        let coloured = ConsoleReporter(colour: colour) { text in
            collector.append(coloured: text)
            live?(text)
        }
        let started = Date()
        let emit: @Sendable (RunEvent) -> Void = { event in
            collector.append(event: event)
            plain.handle(event)
            coloured.handle(event)
        }
        let result: ScenarioResult
        if let execute {
            result = await execute(emit)
        } else {
            result = await runner.run(scenario, emit: emit)
        }
        if let note = collector.elisionNote() { collector.append(event: note) }
        var record = ScenarioRecord(
            file: scenario.file,
            events: collector.events,
            transcript: collector.text,
            result: result,
            started: started
        )
        record.colouredTranscript = collector.coloured
        return record
    }

    /// The exit status for a run: 3 for any runtime error, else 1 for any failure, else 0.
    func exitStatus(_ run: RunRecord) -> Int32 {
        let counts = run.counts
        if counts.errors > 0 { return Status.runtimeError }
        if counts.failed > 0 { return Status.failed }
        return Status.passed
    }

    /// Writes a report through a temporary file and a rename, so a reader never sees half of it.
    func write(_ text: String, to path: String) -> Int32 {
        let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
            // rename(2) replaces the old report atomically.
            guard rename(temporary, path) == 0 else {
                throw CLIError(String(cString: strerror(errno)))
            }
            return Status.passed
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            output("error: cannot write the report \(path): \(error)\n")
            return Status.runtimeError
        }
    }

    /// The scenario files named by `paths`: files as given, folders searched for `*.yaml` and
    /// `*.yml`, each folder's files in name order.
    ///
    /// - Throws: when a path does not exist.
    static func scenarioFiles(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        let manager = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CLIError("no such file or folder: \(path)")
            }
            if !isDirectory.boolValue {
                files.append(path)
                continue
            }
            var found: [String] = []
            if let walker = manager.enumerator(atPath: path) {
                while let item = walker.nextObject() as? String {
                    if item.hasSuffix(".yaml") || item.hasSuffix(".yml") {
                        found.append(path.hasSuffix("/") ? path + item : path + "/" + item)
                    }
                }
            }
            files += found.sorted()
        }
        var seen = Set<String>()
        return files.filter { seen.insert($0).inserted }
    }
}

/// The scenarios of a run that have finished, kept where a signal handler can reach them.
public final class RunLedger: @unchecked Sendable {
    private let lock = NSLock()
    private var records: [Int: ScenarioRecord] = [:]
    private var started = Date()
    private var began = ContinuousClock.now
    private var finished = false
    private var _total = 0

    /// Creates an empty ledger.
    public init() {}

    /// How many scenarios the run has.
    public var total: Int { lock.withLock { _total } }

    /// Marks the start of a run of `total` scenarios.
    func begin(total: Int) {
        lock.withLock {
            _total = total
            started = Date()
            began = ContinuousClock.now
        }
    }

    /// Records a finished scenario.
    func record(_ record: ScenarioRecord, at index: Int) {
        lock.withLock { records[index] = record }
    }

    /// The run so far, in file order, exactly once: nil for the second caller (so a normal end
    /// and an interrupt never both write the reports).
    func finish() -> RunRecord? {
        lock.withLock {
            guard !finished else { return nil }
            finished = true
            let ordered = records.keys.sorted().compactMap { records[$0] }
            return RunRecord(scenarios: ordered, started: started, duration: ContinuousClock.now - began)
        }
    }
}

/// Gathers one scenario's events and transcripts from whichever thread emits them.
///
/// Wire bytes kept for the JSON report are bounded: past ``wireBudget`` bytes per scenario the
/// data of wire events is left out and counted, so a gigabyte response does not become a
/// gigabyte report.
private final class Collector: @unchecked Sendable {
    /// Wire bytes kept per scenario.
    static let wireBudget = 1024 * 1024

    private let lock = NSLock()
    private var _events: [RunEvent] = []
    private var _text = ""
    private var _coloured = ""
    private var keptWire = 0
    private var elidedWire = 0

    func append(event: RunEvent) {
        lock.withLock {
            guard case .connection(let name, let wire) = event else {
                _events.append(event)
                return
            }
            let bytes: [UInt8]
            switch wire {
            case .sent(let b, _), .received(let b, _), .discarded(let b): bytes = b
            default:
                _events.append(event)
                return
            }
            let room = max(0, Self.wireBudget - keptWire)
            guard bytes.count > room else {
                keptWire += bytes.count
                _events.append(event)
                return
            }
            elidedWire += bytes.count - room
            keptWire += room
            guard room > 0 else { return }
            let kept = Array(bytes.prefix(room))
            switch wire {
            case .sent(_, let tls): _events.append(.connection(name: name, event: .sent(kept, tls: tls)))
            case .received(_, let tls): _events.append(.connection(name: name, event: .received(kept, tls: tls)))
            default: _events.append(.connection(name: name, event: .discarded(kept)))
            }
        }
    }

    /// A note for the report when wire data was left out, once.
    func elisionNote() -> RunEvent? {
        lock.withLock {
            elidedWire > 0
                ? .note("\(elidedWire) bytes of wire data are left out of this report (the first \(Self.wireBudget) are in it)")
                : nil
        }
    }
    func append(text: String) { lock.withLock { _text += text } }
    func append(coloured: String) { lock.withLock { _coloured += coloured } }
    var events: [RunEvent] { lock.withLock { _events } }
    var text: String { lock.withLock { _text } }
    var coloured: String { lock.withLock { _coloured } }
}

/// Prints "N of M scenarios done" once a second, after the first second, to a terminal.
private final class ProgressBoard: @unchecked Sendable {
    private let lock = NSLock()
    private var done = 0
    private var stopped = false
    private let total: Int
    private let sink: (@Sendable (String) -> Void)?

    init(total: Int, sink: (@Sendable (String) -> Void)?) {
        self.total = total
        self.sink = sink
        guard sink != nil, total > 1 else { return }
        Task.detached { [self] in
            try? await Task.sleep(for: .seconds(1))
            while let line = self.line() {
                sink?(line)
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func line() -> String? {
        lock.withLock { stopped ? nil : "parley: \(done) of \(total) scenarios done\n" }
    }

    func finished() { lock.withLock { done += 1 } }
    func stop() { lock.withLock { stopped = true } }
}

/// A command-line problem, shown as its message.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
