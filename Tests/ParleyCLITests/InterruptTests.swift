// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyTestSupport
import Testing

@Suite("parley run, interrupted")
struct InterruptTests {
    @Test(
        "SIGINT and SIGTERM leave complete JUnit and JSON reports for what finished, and exit 128 + signal", arguments: [SIGINT, SIGTERM])
    func interrupted(_ signalNumber: Int32) throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try """
        name: quick
        server: {protocol: smtp, starttls: false}
        steps:
          - connect:
          - expect: '^220 '
        """.write(to: folder.appendingPathComponent("a-quick.yaml"), atomically: true, encoding: .utf8)
        try """
        name: stuck
        server: {protocol: smtp, starttls: false}
        steps:
          - connect:
          - expect: {pattern: '^599 never', timeout: 60s}
        """.write(to: folder.appendingPathComponent("b-stuck.yaml"), atomically: true, encoding: .utf8)
        let junit = folder.appendingPathComponent("junit.xml").path
        let json = folder.appendingPathComponent("run.json").path
        let (status, output) = try interrupt(
            ["run", "--jobs", "1", "--junit", junit, "--json", json, folder.path], with: signalNumber,
            once: { $0.contains("PASS quick") && $0.contains("scenario: stuck") })
        #expect(status == 128 + signalNumber, "\(output)")
        #expect(output.contains("interrupted by \(signalNumber == SIGINT ? "SIGINT" : "SIGTERM") after 1 of 2 scenarios"))
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.hasSuffix("</testsuites>\n"))
        #expect(xml.contains("<testsuites name=\"parley\" tests=\"1\" failures=\"0\" errors=\"0\""))
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        #expect(report?["interrupted"] as? String == (signalNumber == SIGINT ? "SIGINT" : "SIGTERM"))
        #expect((report?["scenarios"] as? [[String: Any]])?.count == 1)
    }
}

@Suite("parley test-client, interrupted")
struct TestClientInterruptTests {
    @Test("SIGTERM stops the running client and leaves a complete JSON report of the cases that finished")
    func interrupted() throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let json = folder.appendingPathComponent("clients.json").path
        let root = SourceTree.root
        let client = root.appendingPathComponent("ci/clients/mail_client.py").path
        // The first case gets a client that behaves; the second one that never connects.
        let script = "if [ \"$1\" = starttls-refused ]; then exec python3 \(client) smtp 127.0.0.1 \"$2\" \"$3\"; else exec sleep 61; fi"
        let arguments = [
            "test-client", "--protocol", "smtp", "--json", json,
            "--suite", root.appendingPathComponent("suites/clients/smtp/starttls-refused.yaml").path,
            "--suite", root.appendingPathComponent("suites/clients/smtp/starttls-not-offered.yaml").path,
            "--", "sh", "-c", script, "sh", "{case}", "{port}", "{ca-file}",
        ]
        // Once the first case passed, the second case's client is running 0.3 s later.
        let (status, output) = try interrupt(
            arguments, with: SIGTERM, once: { $0.contains("PASS client (SMTP): STARTTLS refused") }, after: 0.3)
        #expect(status == 128 + SIGTERM, "\(output)")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        #expect(report?["interrupted"] as? String == "SIGTERM")
        #expect((report?["scenarios"] as? [[String: Any]])?.count == 1)
        // The second case's client (`sleep 61`, which inherited the ignored SIGTERM) is gone.
        let pids = try ExternalProcess.run(executable: "/usr/bin/pgrep", arguments: ["-f", "^sleep 61$"])
        #expect(pids.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "still running: \(pids.output)")
    }
}

/// Runs `parley ARGUMENTS`, sends it `signal` once its output satisfies `once` (and `after`
/// seconds more), and returns its exit status and output; every wait is bounded.
func interrupt(
    _ arguments: [String], with signal: Int32, once: @escaping @Sendable (String) -> Bool, after: Double = 0
) throws -> (Int32, String) {
    let process = Process()
    process.executableURL = try ExecutableTests().executable()
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let output = Output()
    let seen = DispatchSemaphore(value: 0)
    pipe.fileHandleForReading.readabilityHandler = { handle in
        let data = handle.availableData
        guard !data.isEmpty else { return }
        output.write(String(decoding: data, as: UTF8.self))
        if once(output.all) { seen.signal() }
    }
    try process.run()
    defer { if process.isRunning { process.terminate() } }
    #expect(seen.wait(timeout: .now() + 30) == .success, "\(output.all)")
    if after > 0 { Thread.sleep(forTimeInterval: after) }
    kill(process.processIdentifier, signal)
    let deadline = Date().addingTimeInterval(15)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    #expect(!process.isRunning)
    process.waitUntilExit()
    pipe.fileHandleForReading.readabilityHandler = nil
    return (process.terminationStatus, output.all)
}
