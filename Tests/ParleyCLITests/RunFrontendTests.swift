// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyCLI
import ParleyTestSupport
import Testing

/// The repository's root.
let root = SourceTree.root

/// Collects output text (the frontends' output and error sinks).
typealias Output = TextCollector

/// A scratch folder for one test, removed afterwards by the caller.
func scratchFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("parley-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// The bundled scenario, with its relative paths made absolute so a copy runs anywhere.
func bundledScenarioCopy() throws -> String {
    let text = try String(contentsOf: root.appendingPathComponent("scenarios/smtp-starttls.yaml"), encoding: .utf8)
    return text.replacingOccurrences(of: "../fixtures/", with: root.path + "/fixtures/")
        // Generous deadlines for the steps that must pass, whatever the machine's load.
        .replacingOccurrences(
            of: "  connect: 5s\n  expect: 5s\n  handshake: 5s\n", with: "  connect: 30s\n  expect: 30s\n  handshake: 30s\n")
}

@Suite("parley run (frontend)")
struct RunFrontendTests {
    @Test("the bundled scenarios pass and the summary says so; exit 0")
    func bundled() async throws {
        let output = Output()
        let status = await RunFrontend(paths: [root.appendingPathComponent("scenarios").path]) { output.write($0) }.run()
        #expect(status == 0, "\(output.all)")
        #expect(output.all.contains("PASS SMTP STARTTLS with a verified certificate"))
        #expect(output.all.contains(" -> STARTTLS"))
        #expect(output.all.contains("=== TLS started: TLS1.3"))
        #expect(output.all.contains(" ~> EHLO client.test"))
        // Every example runs against its embedded server and passes: nothing is skipped.
        let files = try RunFrontendTestsSupport.bundledCount()
        #expect(output.all.hasSuffix("\(files) passed, 0 failed\n"))
    }

    @Test("--var CA_FILE=relative/path is relative to the working directory; without CA_FILE the system store is used")
    func commandLinePathsFromWorkingDirectory() async throws {
        // The test CA's path as a shell user in the working directory would type it.
        let cwd = FileManager.default.currentDirectoryPath + "/"
        let ca = FixtureCertificates.path("ca.pem")
        guard ca.hasPrefix(cwd) else { return }  // run from outside the source tree: nothing to show
        let relative = String(ca.dropFirst(cwd.count))
        let folder = try scratchFolder()
        let scenario = folder.appendingPathComponent("suite.yaml")
        try """
        name: trust from the command line
        server: {protocol: smtp, certificate: \(FixtureCertificates.path("server.pem")), key: \(FixtureCertificates.path("server-key.pem"))}
        steps:
          - connect: {host: '${server.host}', port: '${server.port}'}
          - expect: '^220 '
          - send: {line: EHLO client.test}
          - expect: '^250 '
          - starttls: {ca-file: '${CA_FILE:-}', server-name: localhost}
        """.write(to: scenario, atomically: true, encoding: .utf8)
        let given = Output()
        let status = await RunFrontend(paths: [scenario.path], variables: ["CA_FILE": relative]) { given.write($0) }.run()
        #expect(status == 0, "the path \(relative) is found from \(cwd), not from \(folder.path): \(given.all)")
        // Without CA_FILE: the system trust store, which does not know the test CA.
        let none = Output()
        let refused = await RunFrontend(paths: [scenario.path]) { none.write($0) }.run()
        #expect(refused != 0)
        #expect(none.all.contains("issuer") || none.all.contains("signer"), "\(none.all)")
    }

    @Test("the suites for a user's own servers are skipped without their variables, and say which")
    func suitesNeedVariables() async throws {
        let output = Output()
        let status = await RunFrontend(paths: [root.appendingPathComponent("suites/conformance").path]) { output.write($0) }.run()
        #expect(status == 0, "\(output.all)")
        #expect(output.all.contains("SKIP SMTP: STARTTLS offered"), "\(output.all)")
        #expect(output.all.contains("SMTP_HOST"))
        let count = try RunFrontendTestsSupport.bundledCount(folder: "suites/conformance")
        #expect(output.all.hasSuffix("0 passed, 0 failed, \(count) skipped\n"))
    }

    @Test("a copy with a wrong expect exits 1 and shows file:line:col and the unmatched data")
    func wrongExpect() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let original = try bundledScenarioCopy()
        // NOOP's reply never says "Bye": the expect waits out its own short deadline (the other
        // steps keep the scenario's 5 s, so a busy machine cannot fail them first).
        let broken =
            original
            .replacingOccurrences(of: "line: NOOP\n  - expect: '^250 '", with: "line: NOOP\n  - expect: {pattern: '^250 Bye', timeout: 1s}")
        #expect(broken != original)
        let file = folder.appendingPathComponent("broken.yaml").path
        try broken.write(toFile: file, atomically: true, encoding: .utf8)
        // The line and column of the broken pattern, as an editor counts them.
        let lines = broken.components(separatedBy: "\n")
        let line = try #require(lines.firstIndex { $0.contains("'^250 Bye'") }) + 1
        let column = try #require(lines[line - 1].range(of: "'^250 Bye'")).lowerBound.utf16Offset(in: lines[line - 1]) + 1
        let output = Output()
        let status = await RunFrontend(paths: [file]) { output.write($0) }.run()
        #expect(status == 1, "\(output.all)")
        #expect(
            output.all.contains("*** \(file):\(line):\(column): step 'expect' failed: timed out after 1s waiting for the expected pattern"))
        #expect(output.all.contains("***   expected: ^250 Bye"))
        #expect(output.all.contains("***   deadline: expect (1s)"))
        #expect(output.all.contains("***     250 2.0.0 OK\\r\\n"))
        #expect(output.all.hasSuffix("0 passed, 1 failed\n"))
    }

    @Test("a scenario with file errors exits 2 and reports each at file:line:col with a caret")
    func loadErrors() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("bad.yaml").path
        try "steps:\n  - expect: 'ab(c'\n  - sned: x\n".write(toFile: file, atomically: true, encoding: .utf8)
        let output = Output()
        let status = await RunFrontend(paths: [file]) { output.write($0) }.run()
        #expect(status == 2)
        #expect(output.all.contains("\(file):2:18: error: bad regular expression \"ab(c\": missing closing parenthesis"))
        #expect(output.all.contains("\(file):3:5: error: unknown key 'sned' in a step; did you mean 'send'?"))
        #expect(output.all.contains("    - sned: x\n      ^\n"))
    }

    @Test("a missing path exits 2 with its name")
    func missingPath() async {
        let output = Output()
        let status = await RunFrontend(paths: ["/nonexistent/parley.yaml"]) { output.write($0) }.run()
        #expect(status == 2)
        #expect(output.all.contains("no such file or folder: /nonexistent/parley.yaml"))
    }
}

@Suite("parley executable")
struct ExecutableTests {
    /// The built `parley` next to the test bundle.
    func executable() throws -> URL {
        URL(fileURLWithPath: try #require(parleyExecutable()))
    }

    /// Runs the executable with a deadline (60 s); returns its exit status and output (stdout
    /// and stderr, interleaved).
    func runParley(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String) {
        let run = try ExternalProcess.run(
            executable: try executable().path,
            arguments: arguments,
            environment: environment.isEmpty ? nil : environment,
            seconds: 60
        )
        guard let status = run.status else {
            Issue.record("parley \(arguments) did not finish within 60 s")
            return (-1, run.output)
        }
        return (status, run.output)
    }

    @Test("parley run of the bundled scenario exits 0; with a file error it exits 2")
    func exitStatus() throws {
        let (ok, text) = try runParley(["run", "--no-color", root.appendingPathComponent("scenarios/smtp-starttls.yaml").path])
        #expect(ok == 0, "\(text)")
        #expect(text.contains("1 passed, 0 failed"))
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let bad = folder.appendingPathComponent("bad.yaml").path
        try "name: [unclosed\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let (status, output) = try runParley(["run", bad])
        #expect(status == 2, "\(output)")
        #expect(output.contains("\(bad):"))
    }

    @Test("CI_NODE_INDEX and CI_NODE_TOTAL pick the shard when --shard is not given")
    func shardFromEnvironment() throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["a", "b", "c"] {
            try "name: \(name)\nserver: {protocol: smtp, starttls: false}\nsteps: [connect: , expect: '^220 ']\n"
                .write(to: folder.appendingPathComponent("\(name).yaml"), atomically: true, encoding: .utf8)
        }
        let (status, output) = try runParley(["run", folder.path], environment: ["CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "2"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("=== shard 2/2: 1 of 3 scenarios"))
        #expect(output.contains("=== scenario: b "))
        let (bad, message) = try runParley(["run", folder.path], environment: ["CI_NODE_INDEX": "3", "CI_NODE_TOTAL": "2"])
        #expect(bad == 2)
        #expect(message.contains("CI_NODE_INDEX=3 and CI_NODE_TOTAL=2 do not name a shard"))
    }

    @Test("bad usage exits 2, like an invalid scenario")
    func usage() throws {
        let (status, output) = try runParley(["run", "--var", "novalue", "x.yaml"])
        #expect(status == 2, "\(output)")
        #expect(output.contains("--var takes NAME=VALUE"))
        let (load, message) = try runParley(["run", "--repeat", "2", "--tag", "smtp", "x.yaml"])
        #expect(load == 2, "\(message)")
        #expect(message.contains("leave out --junit, --tap, --shard, --tag, --skip-tag, --retries and --matrix"))
    }
}

/// Facts about the bundled scenarios folder.
enum RunFrontendTestsSupport {
    /// How many scenario files scenarios/ (or a folder in it) holds.
    static func bundledCount(folder relative: String = "scenarios") throws -> Int {
        let folder = root.appendingPathComponent(relative).path
        var count = 0
        if let walker = FileManager.default.enumerator(atPath: folder) {
            while let item = walker.nextObject() as? String {
                if item.hasSuffix(".yaml") || item.hasSuffix(".yml") { count += 1 }
            }
        }
        return count
    }
}

@Suite("parley run --html (frontend)")
struct HTMLFrontendTests {
    @Test("--html writes the page beside --json: one data-event element per JSON event; the AUTH line masked")
    func htmlReport() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var frontend = RunFrontend(paths: [root.appendingPathComponent("scenarios/submission-auth.yaml").path]) { _ in }
        frontend.htmlPath = folder.appendingPathComponent("run.html").path
        frontend.jsonPath = folder.appendingPathComponent("run.json").path
        let status = await frontend.run()
        #expect(status == 0)
        let html = try String(contentsOfFile: folder.appendingPathComponent("run.html").path, encoding: .utf8)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("run.json"))) as? [String: Any]
        let scenarios = try #require(json?["scenarios"] as? [[String: Any]])
        let events = scenarios.map { ($0["events"] as? [Any])?.count ?? 0 }.reduce(0, +)
        #expect(html.components(separatedBy: " data-event=").count - 1 == events)
        #expect(html.contains("AUTH PLAIN ****\\r\\n"))
        // base64 of "\0alice\0secret", the initial response before masking.
        #expect(!html.contains("AGFsaWNlAHNlY3JldA=="))
        #expect(html.contains("Submission with STARTTLS and AUTH PLAIN"))
    }

    @Test("--html-teaching writes one page per scenario and an index, the same bytes on a second run")
    func teachingPages() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var pages: [String] = []
        for run in ["a", "b"] {
            var frontend = RunFrontend(paths: [root.appendingPathComponent("scenarios/teaching/smtp-starttls-explained.yaml").path]) { _ in
            }
            frontend.teachingFolder = folder.appendingPathComponent(run).path
            #expect(await frontend.run() == 0)
            pages.append(
                try String(contentsOfFile: folder.appendingPathComponent("\(run)/smtp-starttls-explained.html").path, encoding: .utf8))
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("\(run)/index.html").path))
        }
        #expect(pages[0] == pages[1])
        #expect(pages[0].contains("EHLO asks which extensions the server has"))
    }
}
