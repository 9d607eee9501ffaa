// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServers
import ParleyCLI
import ParleyTestSupport
import Testing

/// Writes `count` small scenarios into a folder: each against its own embedded server, each
/// setting and asserting a variable unique to it, and every third one failing on purpose.
func writeSuite(_ folder: URL, count: Int) throws -> [String] {
    var files: [String] = []
    for index in 1...count {
        let fails = index % 3 == 0
        let text = """
            name: case \(index)
            tags: [\(index % 2 == 0 ? "even" : "odd")\(fails ? ", failing" : "")]
            server: {protocol: smtp, starttls: false}
            timeouts: {expect: 10s}
            steps:
              - connect:
              - expect: '^220 (?<host>\\S+) '
              - set: {mine: 'case-\(index)-${server.port}'}
              - send: {line: 'NOOP ${mine}'}
              - expect: '^250 '
              - assert: {variables: {host: mail.test, mine: 'case-\(index)-${server.port}'}}
            \(fails ? "  - assert: {tls: true}\n" : "")
            """
        let name = String(format: "case-%02d.yaml", index)
        try text.write(to: folder.appendingPathComponent(name), atomically: true, encoding: .utf8)
        files.append(folder.appendingPathComponent(name).path)
    }
    return files
}

@Suite("parley run: parallel jobs, shards and reports")
struct ParallelAndReportTests {
    @Test("shards of a suite cover every scenario exactly once", arguments: [1, 2, 3, 5, 12])
    func shardsCoverAll(_ total: Int) throws {
        let files = (1...11).map { String(format: "s%02d.yaml", $0) }
        var seen: [String] = []
        for index in 1...total {
            let shard = try #require(RunFrontend.Shard(parsing: "\(index)/\(total)"))
            seen += shard.select(files)
        }
        #expect(seen.sorted() == files)
        #expect(Set(seen).count == files.count)
    }

    @Test("bad shard specifications are refused")
    func badShards() {
        for text in ["0/3", "4/3", "1/0", "a/b", "1", "1/2/3", "-1/2"] {
            #expect(RunFrontend.Shard(parsing: text) == nil, "\(text)")
        }
    }

    @Test("4 jobs run 9 scenarios in isolation: results and transcripts in file order, failures exact")
    func parallelIsolation() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try writeSuite(folder, count: 9)
        let output = Output()
        let reportPath = folder.appendingPathComponent("run.json").path
        var frontend = RunFrontend(paths: [folder.path]) { output.write($0) }
        frontend.jobs = 4
        frontend.jsonPath = reportPath
        let status = await frontend.run()
        #expect(status == 1, "\(output.all)")
        #expect(output.all.hasSuffix("6 passed, 3 failed\n"))
        // Transcripts print whole and in file order.
        let order = output.all.components(separatedBy: "\n").filter { $0.hasPrefix("=== scenario: ") }
        #expect(order == (1...9).map { "=== scenario: case \($0) (\(folder.path)/case-\(String(format: "%02d", $0)).yaml)" })
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: reportPath))) as? [String: Any]
        let scenarios = try #require(json?["scenarios"] as? [[String: Any]])
        #expect(scenarios.map { $0["outcome"] as? String } == (1...9).map { $0 % 3 == 0 ? "failed" : "passed" })
    }

    @Test("a shard runs only its slice and says so")
    func shardRun() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try writeSuite(folder, count: 5)
        let output = Output()
        var frontend = RunFrontend(paths: [folder.path]) { output.write($0) }
        frontend.shard = RunFrontend.Shard(parsing: "2/2")
        let status = await frontend.run()
        #expect(status == 0, "\(output.all)")
        #expect(output.all.contains("=== shard 2/2: 2 of 5 scenarios"))
        #expect(output.all.contains("=== scenario: case 2 "))
        #expect(output.all.contains("=== scenario: case 4 "))
        #expect(!output.all.contains("=== scenario: case 1 "))
        #expect(output.all.hasSuffix("2 passed, 0 failed\n"))
    }

    @Test("--tag runs the scenarios with any of the tags, --skip-tag leaves some out, and shards split what is left")
    func tagSelection() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try writeSuite(folder, count: 7)
        func run(tags: [String] = [], skip: [String] = [], shard: String? = nil) async -> (Int32, String) {
            let output = Output()
            var frontend = RunFrontend(paths: [folder.path]) { output.write($0) }
            frontend.tags = tags
            frontend.skipTags = skip
            frontend.shard = shard.flatMap(RunFrontend.Shard.init(parsing:))
            return (await frontend.run(), output.all)
        }
        func ran(_ text: String) -> [Int] {
            (1...7).filter { text.contains("=== scenario: case \($0) ") }
        }
        let (odd, oddText) = await run(tags: ["odd"])
        #expect(odd == 1, "case 3 fails on purpose")
        #expect(ran(oddText) == [1, 3, 5, 7])
        #expect(oddText.contains("=== tags: 4 of 7 scenarios (--tag odd)\n"))
        #expect(oddText.hasSuffix("3 passed, 1 failed\n"))
        let (passing, passingText) = await run(skip: ["failing"])
        #expect(passing == 0, "\(passingText)")
        #expect(ran(passingText) == [1, 2, 4, 5, 7])
        let (both, bothText) = await run(tags: ["odd", "even"], skip: ["failing"], shard: "2/2")
        #expect(both == 0)
        #expect(bothText.contains("=== tags: 5 of 7 scenarios (--tag odd, --tag even, --skip-tag failing)\n"))
        #expect(bothText.contains("=== shard 2/2: 2 of 5 scenarios"))
        #expect(ran(bothText) == [2, 5])
        let (typo, typoText) = await run(tags: ["evn"])
        #expect(typo == 2)
        #expect(typoText == "error: no scenario has the tag 'evn'; did you mean 'even'? (the tags in these files: even, failing, odd)\n")
    }

    @Test("each scenario's tags are in the JSON report and as a JUnit property")
    func tagsInReports() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try writeSuite(folder, count: 3)
        let output = Output()
        var frontend = RunFrontend(paths: [folder.path]) { output.write($0) }
        frontend.jsonPath = folder.appendingPathComponent("run.json").path
        frontend.junitPath = folder.appendingPathComponent("junit.xml").path
        _ = await frontend.run()
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("run.json"))) as? [String: Any]
        let scenarios = try #require(json?["scenarios"] as? [[String: Any]])
        #expect(scenarios.map { $0["tags"] as? [String] } == [["odd"], ["even"], ["odd", "failing"]])
        let junit = try String(contentsOf: folder.appendingPathComponent("junit.xml"), encoding: .utf8)
        #expect(junit.contains("<property name=\"tags\" value=\"odd,failing\"/>"))
        #expect(junit.components(separatedBy: "<property name=\"tags\"").count == 4)
    }

    @Test("--junit writes a report with one suite per scenario; --tap prints TAP instead of transcripts")
    func junitAndTap() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try writeSuite(folder, count: 3)
        let junit = folder.appendingPathComponent("junit.xml").path
        let output = Output()
        var frontend = RunFrontend(paths: [folder.path]) { output.write($0) }
        frontend.junitPath = junit
        frontend.tap = true
        let status = await frontend.run()
        #expect(status == 1)
        #expect(output.all.hasPrefix("TAP version 14\n1..3\nok 1 - case 1\nok 2 - case 2\nnot ok 3 - case 3\n"))
        #expect(!output.all.contains("=== scenario"))
        #expect(output.all.hasSuffix("# 2 passed, 1 failed\n"))
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.components(separatedBy: "<testsuite ").count - 1 == 3)
        #expect(xml.contains("<testsuites name=\"parley\" tests=\"3\" failures=\"1\" errors=\"0\""))
        #expect(!FileManager.default.fileExists(atPath: junit + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"))
    }

    @Test("a report file that exists is replaced whole")
    func replaceReport() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try writeSuite(folder, count: 1)
        let json = folder.appendingPathComponent("out.json").path
        try String(repeating: "old ", count: 10_000).write(toFile: json, atomically: true, encoding: .utf8)
        for _ in 0..<2 {
            var frontend = RunFrontend(paths: [folder.appendingPathComponent("case-01.yaml").path]) { _ in }
            frontend.jsonPath = json
            #expect(await frontend.run() == 0)
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
            #expect((object?["summary"] as? [String: Int])?["passed"] == 1)
        }
    }

    @Test("wire data kept for the JSON report is bounded; the transcript shows a budget per step")
    func boundedReports() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("flood.yaml").path
        try """
        name: flood
        server: {protocol: smtp, starttls: false, faults: [flood=8388608]}
        steps:
          - connect:
          - expect: '^FLOOD-END\\r\\n'
          - expect: '^220 '
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let json = folder.appendingPathComponent("flood.json").path
        let output = Output()
        var frontend = RunFrontend(paths: [file]) { output.write($0) }
        frontend.jsonPath = json
        #expect(await frontend.run() == 0, "\(output.all.suffix(2000))")
        #expect(output.all.utf8.count < 200_000)
        #expect(output.all.contains("more bytes of wire data in this step, not shown (the first 65536 were)"))
        let size = try FileManager.default.attributesOfItem(atPath: json)[.size] as? Int ?? 0
        #expect(size < 4 * 1024 * 1024)
        let text = try String(contentsOfFile: json, encoding: .utf8)
        #expect(text.contains("bytes of wire data are left out of this report (the first 1048576 are in it)"))
    }

    @Test("requires: skipped without the variable (in every report), run with it")
    func requiredVariables() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("real.yaml").path
        try """
        name: real server
        requires: [PARLEY_TEST_HOST]
        steps:
          - connect: {host: '${PARLEY_TEST_HOST}', port: '${PARLEY_TEST_PORT}'}
          - expect: '^220 '
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let junit = folder.appendingPathComponent("junit.xml").path
        let output = Output()
        var frontend = RunFrontend(paths: [file]) { output.write($0) }
        frontend.junitPath = junit
        #expect(await frontend.run() == 0)
        #expect(
            output.all.contains("SKIP real server: requires PARLEY_TEST_HOST (set with --var NAME=VALUE, --var-file or the environment)"))
        #expect(output.all.hasSuffix("0 passed, 0 failed, 1 skipped\n"))
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.contains("<skipped message=\"requires PARLEY_TEST_HOST"))
        let tap = Output()
        var tapFrontend = RunFrontend(paths: [file]) { tap.write($0) }
        tapFrontend.tap = true
        _ = await tapFrontend.run()
        #expect(tap.all.contains("ok 1 - real server # SKIP requires PARLEY_TEST_HOST"))
        // With the variables, it runs (against a fake server started here).
        try await withFakeSMTPServer(FakeSMTPServer.Configuration()) { server in
            let ran = Output()
            var withVars = RunFrontend(
                paths: [file], variables: ["PARLEY_TEST_HOST": server.host, "PARLEY_TEST_PORT": String(server.port)]
            ) { ran.write($0) }
            withVars.jobs = 1
            #expect(await withVars.run() == 0, "\(ran.all)")
            #expect(ran.all.hasSuffix("1 passed, 0 failed\n"))
        }
    }

    @Test("check validates without running: 0 for valid files, 2 with every problem for invalid ones")
    func check() throws {
        let output = Output()
        let ok = RunFrontend(paths: [root.appendingPathComponent("scenarios").path]) { output.write($0) }.check()
        #expect(ok == 0, "\(output.all)")
        #expect(output.all.contains("scenario files are valid"))
        let bad = Output()
        let malformed = root.appendingPathComponent("Tests/ScenarioTests/Malformed").path
        let status = RunFrontend(paths: [malformed]) { bad.write($0) }.check()
        #expect(status == 2)
        let count = try FileManager.default.contentsOfDirectory(atPath: malformed).filter { $0.hasSuffix(".yaml") }.count
        #expect(count >= 40)
        #expect(bad.all.contains("\(count) of \(count) scenario files have errors; nothing was run"))
    }

    @Test("one invalid file among valid ones: exit 2 and nothing runs")
    func invalidStopsEverything() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try writeSuite(folder, count: 2)
        try "steps: [{expct: x}]\n".write(to: folder.appendingPathComponent("zz-bad.yaml"), atomically: true, encoding: .utf8)
        let output = Output()
        let status = await RunFrontend(paths: [folder.path]) { output.write($0) }.run()
        #expect(status == 2)
        #expect(!output.all.contains("=== scenario:"))
        #expect(output.all.contains("zz-bad.yaml:1:10: error: unknown key 'expct' in a step"))
    }
}

@Suite("parley run --retries")
struct RetryTests {
    /// A scenario whose server is a shell command that refuses the first `failures` times and
    /// greets after that, counting its runs in a file.
    func flakyScenario(in folder: URL, failures: Int) throws -> String {
        let counter = folder.appendingPathComponent("count").path
        let text = """
            name: flaky
            steps:
              - open:
                  type: shell
                  host: localhost
                  port: 25
                  no-greeting: true
                  shell-command: "n=$(cat \(counter) 2>/dev/null || echo 0); n=$((n+1)); echo $n > \(counter); if [ $n -le \(failures) ]; then printf '554 go away\\\\r\\\\n'; else printf '220 welcome\\\\r\\\\n'; sleep 5; fi"
              - expect: {pattern: '^220 ', timeout: 10s}
            """
        let path = folder.appendingPathComponent("flaky.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func run(_ path: String, retries: Int, folder: URL) async -> (Int32, String) {
        let output = Output()
        var frontend = RunFrontend(paths: [path]) { output.write($0) }
        frontend.retries = retries
        frontend.junitPath = folder.appendingPathComponent("junit.xml").path
        frontend.jsonPath = folder.appendingPathComponent("run.json").path
        return (await frontend.run(), output.all)
    }

    @Test("a scenario that fails once passes on its second attempt: exit 0, every attempt reported, flaky in JUnit")
    func passesOnRetry() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (status, output) = await run(try flakyScenario(in: folder, failures: 1), retries: 2, folder: folder)
        #expect(status == 0, "\(output)")
        #expect(output.components(separatedBy: "=== scenario: flaky").count == 3, "two attempts")
        #expect(output.contains("<-  554 go away\n"))
        #expect(output.contains("=== attempt 1 of 3 failed; running the scenario again\n"))
        #expect(output.contains("=== passed on attempt 2 of 3\n"))
        #expect(output.hasSuffix("1 passed, 0 failed, 1 passed only on a retry\n"))
        let junit = try String(contentsOf: folder.appendingPathComponent("junit.xml"), encoding: .utf8)
        #expect(junit.contains("<property name=\"attempts\" value=\"2\"/>"))
        #expect(junit.components(separatedBy: "<flakyFailure ").count == 2)
        #expect(!junit.contains("<failure "))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("run.json"))) as? [String: Any]
        let scenario = try #require((json?["scenarios"] as? [[String: Any]])?.first)
        #expect(scenario["outcome"] as? String == "passed")
        #expect(scenario["attempts"] as? Int == 2)
        let earlier = try #require(scenario["earlier_attempts"] as? [[String: Any]])
        #expect(earlier.map { $0["outcome"] as? String } == ["failed"])
        // JUnit's time is that of both attempts, as JSON gives them one by one.
        let suite = try #require(junit.split(separator: "\n").first { $0.contains("<testsuite ") })
        let time = try #require(Double(suite.split(separator: "time=\"")[1].prefix { $0 != "\"" }))
        let durations = earlier.compactMap { $0["duration"] as? Double } + [scenario["duration"] as? Double ?? 0]
        #expect(abs(time - durations.reduce(0, +)) < 0.002, "\(time) vs \(durations)")
    }

    @Test("a scenario that keeps failing runs 1 + retries times and fails: exit 1, reruns in JUnit")
    func keepsFailing() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (status, output) = await run(try flakyScenario(in: folder, failures: 5), retries: 2, folder: folder)
        #expect(status == 1, "\(output)")
        #expect(output.components(separatedBy: "=== scenario: flaky").count == 4, "three attempts")
        #expect(output.contains("=== ended on attempt 3 of 3\n"))
        #expect(output.hasSuffix("0 passed, 1 failed\n"))
        let junit = try String(contentsOf: folder.appendingPathComponent("junit.xml"), encoding: .utf8)
        #expect(junit.components(separatedBy: "<rerunFailure ").count == 3)
        #expect(junit.components(separatedBy: "<failure ").count == 2)
    }

    @Test("without --retries, and for a scenario that passes, there is one attempt")
    func oneAttempt() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try flakyScenario(in: folder, failures: 1)
        let (failed, once) = await run(path, retries: 0, folder: folder)
        #expect(failed == 1)
        #expect(once.components(separatedBy: "=== scenario: flaky").count == 2)
        let (passed, again) = await run(path, retries: 3, folder: folder)
        #expect(passed == 0)
        #expect(again.components(separatedBy: "=== scenario: flaky").count == 2, "it passed at once, nothing to retry")
        #expect(!again.contains("attempt"))
    }
}
