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
        let process = Process()
        process.executableURL = try ExecutableTests().executable()
        process.arguments = ["run", "--jobs", "1", "--junit", junit, "--json", json, folder.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = Output()
        let seenPass = DispatchSemaphore(value: 0)
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else { return }
            output.write(String(decoding: data, as: UTF8.self))
            if output.all.contains("PASS quick") && output.all.contains("scenario: stuck") { seenPass.signal() }
        }
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        #expect(seenPass.wait(timeout: .now() + 30) == .success, "\(output.all)")
        kill(process.processIdentifier, signalNumber)
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        #expect(!process.isRunning)
        process.waitUntilExit()
        pipe.fileHandleForReading.readabilityHandler = nil
        #expect(process.terminationStatus == 128 + signalNumber, "\(output.all)")
        #expect(output.all.contains("interrupted by \(signalNumber == SIGINT ? "SIGINT" : "SIGTERM") after 1 of 2 scenarios"))
        let xml = try String(contentsOfFile: junit, encoding: .utf8)
        #expect(xml.hasSuffix("</testsuites>\n"))
        #expect(xml.contains("<testsuites name=\"parley\" tests=\"1\" failures=\"0\" errors=\"0\""))
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        #expect(report?["interrupted"] as? String == (signalNumber == SIGINT ? "SIGINT" : "SIGTERM"))
        #expect((report?["scenarios"] as? [[String: Any]])?.count == 1)
    }
}
