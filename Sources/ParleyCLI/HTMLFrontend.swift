// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServerProvider
import NetworkStream
import Reporting
import Runner
import Scenario

/// `parley run --html FILE` and `--html-teaching DIR`: the HTML report of a run, and the
/// teaching pages (one per scenario, the same on every run, comments beside the steps).
extension RunFrontend {
    /// Writes the HTML report and the teaching pages the options ask for; returns the worst
    /// status of the writes.
    func writeHTML(_ run: RunRecord, interruption: String?) -> Int32 {
        var status = Status.passed
        if let htmlPath {
            var options = htmlOptions(run)
            options.interruption = interruption
            status = max(status, write(HTMLReporter.render(run, options: options), to: htmlPath))
        }
        if let teachingFolder {
            status = max(status, writeTeaching(run, to: teachingFolder))
        }
        return status
    }

    /// The summary's options and each scenario's timeouts.
    func htmlOptions(_ run: RunRecord) -> HTMLReporter.Options {
        var options = HTMLReporter.Options()
        options.title = "Parley run: " + paths.joined(separator: " ")
        options.parleyVersion = ParleyVersion.string
        options.timeouts = Self.timeouts(run)
        var settings = [HTMLReporter.Setting("scenarios", paths.joined(separator: " ")), .init("jobs", "\(jobs)")]
        if retries > 0 { settings.append(.init("retries", "\(retries)")) }
        if let shard { settings.append(.init("shard", shard.description)) }
        if let matrix { settings.append(.init("matrix", "\(matrix.name)=\(matrix.file)")) }
        if !tags.isEmpty { settings.append(.init("tags", tags.joined(separator: ", "))) }
        if !skipTags.isEmpty { settings.append(.init("skipped tags", skipTags.joined(separator: ", "))) }
        if updateSnapshots { settings.append(.init("snapshots", "updated (--update-snapshots)")) }
        if let resolver { settings.append(.init("resolver", resolver)) }
        // Names only: a value given on the command line may be a secret.
        if !variables.isEmpty { settings.append(.init("variables set", variables.keys.sorted().joined(separator: ", "))) }
        options.settings = settings
        return options
    }

    /// One page per scenario in `folder`, named after the scenario file, and an index.
    func writeTeaching(_ run: RunRecord, to folder: String) -> Int32 {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            output("error: cannot create \(folder): \(error)\n")
            return Status.runtimeError
        }
        var status = Status.passed
        var pages: [(String, String)] = []
        let timeouts = Self.timeouts(run)
        for record in run.scenarios {
            var options = HTMLReporter.Options()
            options.teaching = true
            options.title = record.result.name
            options.timeouts = timeouts
            if let bytes = FileManager.default.contents(atPath: record.file) {
                options.comments[record.file] = StepComments.parse(Array(bytes))
            }
            let name = ((record.file as NSString).lastPathComponent as NSString).deletingPathExtension + ".html"
            let page = RunRecord(scenarios: [record], started: record.started, duration: record.result.duration)
            status = max(status, write(HTMLReporter.render(page, options: options), to: folder + "/" + name))
            pages.append((name, record.result.name))
        }
        status = max(status, write(HTMLReporter.teachingIndex(pages), to: folder + "/index.html"))
        return status
    }

    /// Each scenario file's timeouts, read again (the records keep only events).
    static func timeouts(_ run: RunRecord) -> [String: Timeouts] {
        var timeouts: [String: Timeouts] = [:]
        let loader = ScenarioRunner.loader(serverProvider: MailServerProvider())
        for file in Set(run.scenarios.map(\.file)) {
            if let scenario = try? loader.load(path: file) { timeouts[file] = scenario.timeouts }
        }
        return timeouts
    }
}

extension LoadFrontend {
    /// The load run as the HTML report reads it.
    static func loadRecord(_ scenario: Scenario, _ tally: Tally, figures: Figures) -> LoadRecord {
        let steps = zip(scenario.steps, tally.steps).map { step, latency in
            LoadRecord.StepLatency(keyword: step.keyword, location: step.location, latency: latency)
        }
        var record = LoadRecord(
            name: scenario.name, file: scenario.file, sessions: figures.sessions, concurrency: figures.concurrency,
            passed: figures.passed, wall: figures.wall, errors: figures.errors, steps: steps,
            session: tally.session, timeline: tally.timeline)
        record.notes = [
            "socket options: TCP_NODELAY on (SwiftNIO's default)"
                + (NetworkProcess.setsQuickAckAfterFlush ? ", TCP_QUICKACK set after each flush" : "")
        ]
        return record
    }

    /// Writes the load run's HTML report.
    func writeHTML(_ record: LoadRecord, to path: String) -> Int32 {
        var options = HTMLReporter.Options()
        options.title = "Parley load run: \(record.name)"
        options.parleyVersion = ParleyVersion.string
        options.settings = [.init("command", "parley run --repeat \(sessions) --concurrency \(concurrency) \(file)")]
        if !variables.isEmpty { options.settings.append(.init("variables set", variables.keys.sorted().joined(separator: ", "))) }
        do {
            try Data(HTMLReporter.render(load: record, options: options).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            return RunFrontend.Status.passed
        } catch {
            output("error: cannot write \(path): \(error.localizedDescription)\n")
            return RunFrontend.Status.runtimeError
        }
    }
}
