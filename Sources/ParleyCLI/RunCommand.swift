// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation

/// `parley run PATH...`: runs scenarios and prints their transcripts.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run scenario files (or every .yaml and .yml file under a folder) and print transcripts.",
        discussion: exitStatusHelp
    )

    @Argument(help: "Scenario files, or folders to search for *.yaml and *.yml files.")
    var paths: [String]

    @Option(name: .customLong("var"), help: ArgumentHelp("Set a variable for ${NAME} references.", valueName: "NAME=VALUE"))
    var variables: [String] = []

    @Option(
        help: ArgumentHelp(
            "Read variables from a file of NAME=VALUE lines (repeatable; --var wins over it).",
            valueName: "FILE"
        )
    )
    var varFile: [String] = []

    @Option(help: "Run this many scenarios at once (default: the number of cores).")
    var jobs: Int?

    @Option(
        help: ArgumentHelp(
            "Run only slice I of N of the sorted scenarios (times the --matrix values) (default: CI_NODE_INDEX/CI_NODE_TOTAL when set).",
            valueName: "I/N"
        )
    )
    var shard: String?

    @Option(
        help: ArgumentHelp(
            "Run each scenario once per line of FILE, with the line as variable NAME (blank lines and # comments skipped).",
            valueName: "NAME=FILE"
        )
    )
    var matrix: String?

    @Option(
        help: ArgumentHelp(
            "DNS resolver for MX, DANE, MTA-STS and TLS-RPT look-ups (default: PARLEY_RESOLVER, else the system's).",
            valueName: "ADDR[:PORT]"
        )
    )
    var resolver: String?

    @Option(
        help: ArgumentHelp(
            "DNSSEC trust anchor (DS or DNSKEY records) for those look-ups (default: PARLEY_TRUST_ANCHOR, else /usr/share/dns/root.key).",
            valueName: "FILE"
        )
    )
    var trustAnchor: String?

    @Option(help: ArgumentHelp("Run only the scenarios with this tag (repeatable: any of them).", valueName: "TAG"))
    var tag: [String] = []

    @Option(help: ArgumentHelp("Leave out the scenarios with this tag (repeatable).", valueName: "TAG"))
    var skipTag: [String] = []

    @Option(
        help: ArgumentHelp(
            "Run a scenario that fails again, up to N more times; the last attempt counts, every attempt is reported.",
            valueName: "N"
        )
    )
    var retries = 0

    @Flag(help: "Let snapshot steps write their files (new or changed facts pass) instead of failing on a change.")
    var updateSnapshots = false

    @Option(help: ArgumentHelp("Write a JUnit XML report.", valueName: "FILE"))
    var junit: String?

    @Option(help: ArgumentHelp("Write a JSON report of every event and result.", valueName: "FILE"))
    var json: String?

    @Option(
        help: ArgumentHelp(
            "Write a self-contained HTML report: sequence diagrams, or in load mode latency and throughput charts.",
            valueName: "FILE"
        )
    )
    var html: String?

    @Option(
        help: ArgumentHelp(
            "Write one teaching page per scenario into DIR (no times or ports; the file's comments beside the steps).",
            valueName: "DIR"
        )
    )
    var htmlTeaching: String?

    @Flag(help: "Print TAP (version 14) instead of transcripts.")
    var tap = false

    @Option(
        name: .customLong("repeat"),
        help: ArgumentHelp("Load mode: run the one scenario this many times and report throughput and latency percentiles.", valueName: "N")
    )
    var repeatCount: Int?

    @Option(help: ArgumentHelp("Load mode: sessions in flight at once (default 1).", valueName: "C"))
    var concurrency: Int?

    @Option(
        name: .customLong("duration"),
        help: ArgumentHelp(
            "Load mode: start no session after this many seconds (--repeat is then the most sessions); figures per minute in --json.",
            valueName: "SECONDS")
    )
    var durationSeconds: Double?

    @Flag(help: "Never colour the output (NO_COLOR in the environment does the same).")
    var noColor = false

    func validate() throws {
        for item in variables where !item.contains("=") {
            throw ValidationError("--var takes NAME=VALUE, not '\(item)'")
        }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        guard (0...100).contains(retries) else { throw ValidationError("--retries takes 0 to 100, not \(retries)") }
        if let shard, RunFrontend.Shard(parsing: shard) == nil {
            throw ValidationError("--shard takes I/N with 1 <= I <= N, not '\(shard)'")
        }
        _ = try environmentShard()
        if let matrix {
            let parts = matrix.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ValidationError("--matrix takes NAME=FILE, not '\(matrix)'")
            }
        }
        if let repeatCount {
            guard repeatCount >= 1 else { throw ValidationError("--repeat must be at least 1") }
            guard paths.count == 1 else { throw ValidationError("--repeat runs one scenario file; \(paths.count) were given") }
            if junit != nil || tap || shard != nil || !tag.isEmpty || !skipTag.isEmpty || retries > 0 || matrix != nil {
                throw ValidationError(
                    "--repeat reports figures, not test results: leave out --junit, --tap, --shard, --tag, --skip-tag, --retries and --matrix"
                )
            }
        }
        if repeatCount != nil, htmlTeaching != nil {
            throw ValidationError("--html-teaching draws scenarios, not load runs: use --html with --repeat")
        }
        if let concurrency {
            guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
            guard repeatCount != nil else { throw ValidationError("--concurrency goes with --repeat") }
        }
        if let durationSeconds {
            guard durationSeconds > 0 else { throw ValidationError("--duration must be more than 0 seconds") }
            guard repeatCount != nil else { throw ValidationError("--duration goes with --repeat") }
        }
    }

    /// The shard named by CI_NODE_INDEX and CI_NODE_TOTAL (GitLab's parallel jobs), if both are set.
    func environmentShard() throws -> RunFrontend.Shard? {
        let environment = ProcessInfo.processInfo.environment
        guard let index = environment["CI_NODE_INDEX"], let total = environment["CI_NODE_TOTAL"] else { return nil }
        guard let shard = RunFrontend.Shard(parsing: "\(index)/\(total)") else {
            throw ValidationError("CI_NODE_INDEX=\(index) and CI_NODE_TOTAL=\(total) do not name a shard (1 <= index <= total)")
        }
        return shard
    }

    func run() async throws {
        var parsed: [String: String] = [:]
        for path in varFile {
            do {
                parsed.merge(try VariableFile.read(path)) { _, later in later }
            } catch {
                FileHandle.standardOutput.write(Data("\(error)\n".utf8))
                throw ExitCode(RunFrontend.Status.invalid)
            }
        }
        for item in variables {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            parsed[String(parts[0])] = String(parts[1])
        }
        if let repeatCount {
            var load = LoadFrontend(file: paths[0], sessions: repeatCount, concurrency: concurrency ?? 1) { text in
                FileHandle.standardOutput.write(Data(text.utf8))
            }
            load.variables = parsed
            load.jsonPath = json
            load.htmlPath = html
            load.duration = durationSeconds.map { .nanoseconds(Int64($0 * 1e9)) }
            let status = await load.run()
            if status != 0 { throw ExitCode(status) }
            return
        }
        let environment = ProcessInfo.processInfo.environment
        let colour = !noColor && !tap && environment["NO_COLOR"] == nil && isatty(STDOUT_FILENO) == 1
        var frontend = RunFrontend(paths: paths, variables: parsed, colour: colour) { text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        frontend.jobs = jobs ?? ProcessInfo.processInfo.activeProcessorCount
        frontend.shard = try shard.flatMap(RunFrontend.Shard.init(parsing:)) ?? environmentShard()
        frontend.retries = retries
        frontend.resolver = resolver
        frontend.trustAnchor = trustAnchor
        if let matrix {
            let parts = matrix.split(separator: "=", maxSplits: 1)
            frontend.matrix = (String(parts[0]), String(parts[1]))
        }
        frontend.updateSnapshots = updateSnapshots
        frontend.tags = tag
        frontend.skipTags = skipTag
        frontend.junitPath = junit
        frontend.jsonPath = json
        frontend.htmlPath = html
        frontend.teachingFolder = htmlTeaching
        frontend.tap = tap
        if isatty(STDERR_FILENO) == 1 {
            frontend.progress = { text in FileHandle.standardError.write(Data(text.utf8)) }
        }
        // Interrupted: write complete reports for what finished, then exit 128 + signal.
        let interruptible = frontend
        onTermination { signal in
            Foundation.exit(interruptible.writeInterrupted(signal: signal))
        }
        let status = await frontend.run()
        if status != 0 { throw ExitCode(status) }
    }
}

/// `parley check PATH...`: validates scenario files without running them.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate scenario files without running them.",
        discussion: "Exit status: 0 every file is valid; 2 a file has errors (each printed as file:line:col)."
    )

    @Argument(help: "Scenario files, or folders to search for *.yaml and *.yml files.")
    var paths: [String]

    func run() throws {
        let frontend = RunFrontend(paths: paths) { text in FileHandle.standardOutput.write(Data(text.utf8)) }
        let status = frontend.check()
        if status != 0 { throw ExitCode(status) }
    }
}

extension RunFrontend {
    /// Loads every file and reports the result: `parley check`.
    public func check() -> Int32 {
        guard let scenarios = loadAll() else { return Status.invalid }
        output("\(scenarios.count) scenario files are valid\n")
        return Status.passed
    }
}
