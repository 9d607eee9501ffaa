// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyTestSupport
import Reporting
import Runner
import Scenario
import Testing

/// A small run: one passing scenario (with TLS, marked insecure) and one failing one whose
/// transcript and tail hold control bytes and markup.
func sampleRun() -> RunRecord {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let step = Step(.close, at: SourceLocation(file: "b.yaml", line: 3, column: 5))
    let failure = Failure(
        .expectation,
        at: SourceLocation(file: "b.yaml", line: 4, column: 13),
        "timed out after 1s waiting for the expected pattern",
        expected: "^250 <ok> & \"done\"",
        wait: .expect,
        deadline: .seconds(1),
        tail: [0x32, 0x32, 0x30, 0x00, 0x1B, 0x0D, 0x0A, 0xFF]
    )
    let passed = ScenarioRecord(
        file: "scenarios/a.yaml",
        events: [
            .connection(name: "c1", event: .sent(Array("EHLO x\r\n".utf8), tls: false)),
            .connection(name: "c1", event: .tlsEstablished(TLSFacts(version: "TLS1.3", cipher: "TLS_AES_128_GCM_SHA256"))),
        ],
        transcript: " -> EHLO x\n",
        result: ScenarioResult(
            name: "a", file: "scenarios/a.yaml", outcome: .passed, stepsPassed: 2, stepCount: 2,
            failure: nil, duration: .milliseconds(15), insecure: true
        ),
        started: start
    )
    let failed = ScenarioRecord(
        file: "b.yaml",
        events: [.stepFailed(index: 1, step: step, failure: failure)],
        transcript: "<-  220 \u{1B}[31m\r\n",
        result: ScenarioResult(
            name: "b # second", file: "b.yaml", outcome: .failed, stepsPassed: 1, stepCount: 2,
            failure: failure, duration: .seconds(1), insecure: false
        ),
        started: start
    )
    return RunRecord(scenarios: [passed, failed], started: start, duration: .milliseconds(1015))
}

/// Runs Debian's python3 (which has python3-junitparser) on a script; returns status and output.
func python(_ script: String, input: String) throws -> (Int32, String) {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parley-report-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let file = folder.appendingPathComponent("report")
    try input.write(to: file, atomically: true, encoding: .utf8)
    let finished = try ExternalProcess.run(executable: "/usr/bin/python3", arguments: ["-c", script, file.path])
    return (finished.status ?? -1, finished.output)
}

@Suite("Machine reports")
struct MachineReportTests {
    @Test("JUnit XML: one suite per scenario, failure with details, escaped control bytes")
    func junitGolden() {
        let xml = JUnitReporter.render(sampleRun())
        #expect(
            xml.hasPrefix(
                #"<?xml version="1.0" encoding="UTF-8"?>"#
                    + "\n<testsuites name=\"parley\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" time=\"1.015\">"))
        #expect(xml.contains(#"<property name="insecure" value="true"/>"#))
        #expect(xml.contains(#"<testcase classname="scenarios.a" name="a" file="scenarios/a.yaml" time="0.015">"#))
        #expect(
            xml.contains(
                #"<failure message="timed out after 1s waiting for the expected pattern" type="expectation">b.yaml:4:13: timed out after 1s waiting for the expected pattern"#
            ))
        #expect(xml.contains("expected: ^250 &lt;ok&gt; &amp; \"done\""))
        #expect(xml.contains("received and not matched: 220\\x00\\x1B\\r\\n\\xFF</failure>"))
        // ESC in the transcript cannot appear in XML 1.0, even as a reference.
        #expect(xml.contains("<system-out>&lt;-  220 \\x1B[31m&#13;\n</system-out>"))
        #expect(!xml.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
    }

    @Test("JUnit XML is read by a real consumer (junitparser) with the right counts and failure")
    func junitConsumer() throws {
        let script = """
            import sys
            from junitparser import JUnitXml, Failure
            xml = JUnitXml.fromfile(sys.argv[1])
            cases = [c for s in xml for c in s]
            print(len(cases), sum(1 for c in cases if not c.is_passed))
            for c in cases:
                for r in c.result:
                    print(type(r).__name__, r.type, r.message)
            print(xml.failures if hasattr(xml, 'failures') else '')
            """
        let (status, output) = try python(script, input: JUnitReporter.render(sampleRun()))
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.first == "2 1")
        #expect(lines.contains("Failure expectation timed out after 1s waiting for the expected pattern"))
    }

    @Test("JUnit XML is well-formed for xmllint")
    func junitWellFormed() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parley-xml-\(UUID().uuidString).xml")
        defer { try? FileManager.default.removeItem(at: folder) }
        try JUnitReporter.render(sampleRun()).write(to: folder, atomically: true, encoding: .utf8)
        let finished = try ExternalProcess.run(executable: "/usr/bin/xmllint", arguments: ["--noout", folder.path])
        #expect(finished.status == 0, "\(finished.output)")
    }

    @Test("JSON: summary, results, failures and every event with exact bytes")
    func json() throws {
        let text = JSONReporter.render(sampleRun(), parleyVersion: "9.9")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["parley"] as? String == "9.9")
        let summary = try #require(object["summary"] as? [String: Int])
        #expect(summary == ["scenarios": 2, "passed": 1, "failed": 1, "errors": 0, "skipped": 0])
        let scenarios = try #require(object["scenarios"] as? [[String: Any]])
        #expect(scenarios.map { $0["outcome"] as? String } == ["passed", "failed"])
        #expect(scenarios[0]["insecure"] as? Bool == true)
        let events = try #require(scenarios[0]["events"] as? [[String: Any]])
        let sent = try #require(events.first?["data"] as? [String: Any])
        #expect(sent["text"] as? String == "EHLO x\\r\\n")
        #expect(sent["base64"] as? String == Data("EHLO x\r\n".utf8).base64EncodedString())
        #expect((events[1]["tls"] as? [String: Any])?["version"] as? String == "TLS1.3")
        let failure = try #require(scenarios[1]["failure"] as? [String: Any])
        #expect(failure["wait"] as? String == "expect")
        #expect(failure["deadline"] as? Double == 1)
        #expect((failure["location"] as? [String: Any])?["line"] as? Int == 4)
        let tail = try #require(failure["tail"] as? [String: Any])
        #expect(Data(base64Encoded: tail["base64"] as? String ?? "") == Data([0x32, 0x32, 0x30, 0x00, 0x1B, 0x0D, 0x0A, 0xFF]))
    }

    @Test("a failure's variables and commands to try by hand are in JUnit, JSON and the transcript")
    func reproduceAndVariables() throws {
        var run = sampleRun()
        var failure = try #require(run.scenarios[1].result.failure)
        failure.variables = ["code": "220", "note": "a \"b\""]
        failure.reproduce = ["openssl s_client -connect h:25 -starttls smtp", "gnutls-cli --starttls-proto=smtp --port 25 h"]
        run.scenarios[1].result.failure = failure
        let xml = JUnitReporter.render(run)
        #expect(
            xml.contains(
                "\nvariables: code=\"220\", note=\"a \\\"b\\\"\"\ntry by hand: openssl s_client -connect h:25 -starttls smtp\ntry by hand: gnutls-cli --starttls-proto=smtp --port 25 h</failure>"
            ))
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(JSONReporter.render(run, parleyVersion: "9.9").utf8)) as? [String: Any])
        let scenarios = try #require(object["scenarios"] as? [[String: Any]])
        let json = try #require(scenarios[1]["failure"] as? [String: Any])
        #expect(json["variables"] as? [String: String] == ["code": "220", "note": "a \"b\""])
        #expect(json["reproduce"] as? [String] == failure.reproduce)
        let step = Step(.close, at: SourceLocation(file: "b.yaml", line: 3, column: 5))
        let sink = Sink()
        ConsoleReporter(colour: false) { sink.write($0) }.handle(.stepFailed(index: 1, step: step, failure: failure))
        let text = sink.all
        #expect(
            text.hasSuffix(
                """
                ***   variables: code="220", note="a \\"b\\""
                ***   try by hand: openssl s_client -connect h:25 -starttls smtp
                ***            or: gnutls-cli --starttls-proto=smtp --port 25 h

                """))
    }

    @Test("TAP 14: plan, ok and not ok with a YAML block; # escaped in descriptions")
    func tapGolden() {
        let text = TAPReporter.render(sampleRun())
        #expect(
            text == """
                TAP version 14
                1..2
                ok 1 - a # verification off
                not ok 2 - b \\# second
                  ---
                  message: "timed out after 1s waiting for the expected pattern"
                  severity: fail
                  kind: expectation
                  at:
                    file: "b.yaml"
                    line: 4
                    column: 13
                  expected: "^250 <ok> & \\"done\\""
                  wait: expect
                  deadline: 1s
                  received: "220\\\\x00\\\\x1B\\\\r\\\\n\\\\xFF"
                  ...

                """)
    }
}
