// SPDX-License-Identifier: Apache-2.0
import Foundation
import Reporting
import Runner
import Scenario
import Testing

/// A run with every kind of event, every optional field both set and absent, a retried
/// scenario and a skipped one.
func fullRun() -> RunRecord {
    let start = Date(timeIntervalSince1970: 1_800_000_000.75)
    let place = SourceLocation(file: "dir/sub/b.yaml", line: 4, column: 13)
    let step = Step(.close, at: place)
    var failure = Failure(
        .runtime, at: place, "boom \u{1} é / \\ \"q\" <tag>",
        expected: "^250 ", actual: "x\ty", wait: .peerClose, deadline: .milliseconds(250),
        tail: [0, 1, 0xFF, 0x0D, 0x0A, 0xC3, 0xA9]
    )
    failure.variables = ["b": "2", "a": "1 / 2"]
    failure.reproduce = ["openssl s_client -connect h:25"]
    let certificate = CertificateFacts(
        subject: "CN=localhost,O=Parley", issuer: "CN=CA", subjectAlternativeNames: ["DNS:localhost", "IP:127.0.0.1"],
        notBefore: Date(timeIntervalSince1970: 1_700_000_000), notAfter: Date(timeIntervalSince1970: 2_000_000_000),
        sha256Fingerprint: "ab", serialNumber: "01"
    )
    let tls = TLSFacts(
        version: "TLS1.2", cipher: "TLS_X", group: "X25519", alpn: "h2", serverName: "localhost",
        peerCertificates: [certificate, certificate], verified: false, verificationProblems: ["signer not found"],
        clientCertificateRequested: true, clientCertificateSent: true, resumed: true
    )
    let events: [RunEvent] = [
        .scenarioStarted(name: "x", file: "dir/sub/b.yaml"),
        .serverStarted(protocol: "smtp", host: "127.0.0.1", port: 2525),
        .stepStarted(index: 0, step: step),
        .connection(name: "main", event: .connected(local: "127.0.0.1:1", remote: "127.0.0.1:2")),
        .connection(name: "main", event: .sent([], tls: false)),
        .connection(name: "main", event: .received(Array("220 ok\r\n".utf8) + [0xFF], tls: false)),
        .connection(name: "main", event: .handshakeStarted(serverName: nil)),
        .connection(name: "main", event: .handshakeStarted(serverName: "localhost")),
        .connection(name: "c2", event: .tlsEstablished(tls)),
        .connection(name: "c2", event: .tlsEstablished(TLSFacts(version: "TLS1.3", cipher: "C"))),
        .connection(name: "main", event: .discarded([1, 2, 3])),
        .connection(name: "main", event: .sent([0x51], tls: true)),
        .connection(name: "main", event: .closed(byPeer: true)),
        .note("a note / with a slash"),
        .stepPassed(index: 0, step: step),
        .stepFailed(index: 1, step: step, failure: failure),
    ]
    var result = ScenarioResult(
        name: "x / ü", file: "dir/sub/b.yaml", outcome: .failed, stepsPassed: 1, stepCount: 2,
        failure: failure, duration: .milliseconds(1015), insecure: false
    )
    result.tags = ["a", "b"]
    var retried = ScenarioRecord(file: "dir/sub/b.yaml", events: events, transcript: "", result: result, started: start)
    retried.earlierAttempts = [
        ScenarioResult(
            name: "x", file: "f", outcome: .error, stepsPassed: 0, stepCount: 2, failure: failure, duration: .milliseconds(123),
            insecure: false),
        ScenarioResult(
            name: "x", file: "f", outcome: .failed, stepsPassed: 0, stepCount: 2, failure: nil, duration: .seconds(3), insecure: false),
    ]
    var skippedResult = ScenarioResult(
        name: "s", file: "s.yaml", outcome: .skipped, stepsPassed: 0, stepCount: 0, failure: nil, duration: .zero, insecure: true)
    skippedResult.skipReason = "requires X"
    let skipped = ScenarioRecord(file: "s.yaml", events: [], transcript: "", result: skippedResult, started: start)
    return RunRecord(scenarios: [retried, skipped], started: start, duration: .seconds(12))
}

@Suite("JSON report (Codable)")
struct JSONReportTests {
    @Test("the report decodes (JSONDecoder) into the values it was written from, every event and field included")
    func roundTrip() throws {
        for run in [sampleRun(), fullRun()] {
            let text = JSONReporter.render(run, parleyVersion: "9.9", interruption: "SIGTERM")
            let decoded = try JSONOutput.decoder().decode(JSONReport.self, from: Data(text.utf8))
            // Dates are written to the second.
            var expected = JSONReport(run, parleyVersion: "9.9", interruption: "SIGTERM")
            expected.started = Date(timeIntervalSince1970: expected.started.timeIntervalSince1970.rounded(.down))
            for index in expected.scenarios.indices {
                let started = expected.scenarios[index].started.timeIntervalSince1970
                expected.scenarios[index].started = Date(timeIntervalSince1970: started.rounded(.down))
            }
            #expect(decoded == expected)
        }
        let decoded = try JSONOutput.decoder().decode(JSONReport.self, from: Data(JSONReporter.render(fullRun(), parleyVersion: "1").utf8))
        #expect(decoded.interrupted == nil)
        let scenario = try #require(decoded.scenarios.first)
        #expect(scenario.failure?.tail?.bytes == [0, 1, 0xFF, 0x0D, 0x0A, 0xC3, 0xA9])
        #expect(scenario.events.count == 15, "scenario start and end are not events in the report")
        guard case .connection("main", .received(let bytes, tls: false)) = scenario.events[4] else {
            Issue.record("\(scenario.events[4])")
            return
        }
        #expect(bytes.bytes == Array("220 ok\r\n".utf8) + [0xFF])
        #expect(bytes.text == "220 ok\\r\\n\\xFF")
    }

    @Test("Python's json reads the report with the documented fields, absent values as null")
    func documentedFields() throws {
        let script = #"""
            import json, sys
            report = json.load(open(sys.argv[1]))
            def keys(o): return ",".join(sorted(o))
            print("top", keys(report))
            print("summary", keys(report["summary"]))
            scenario = report["scenarios"][0]
            print("scenario", keys(scenario))
            print("attempt", keys(scenario["earlier_attempts"][1]), scenario["earlier_attempts"][1]["failure"])
            print("failure", keys(scenario["failure"]))
            print("location", keys(scenario["failure"]["location"]))
            print("bytes", keys(scenario["failure"]["tail"]))
            seen = set()
            for event in scenario["events"]:
                kind = event["type"]
                if kind in seen: continue
                seen.add(kind)
                print("event", kind, keys(event))
                if kind == "tls-established":
                    print("tls", keys(event["tls"]))
                    print("certificate", keys(event["tls"]["peer"][0]))
            skipped = report["scenarios"][1]
            print("skipped", skipped["skip_reason"], skipped["failure"], skipped["events"], report["interrupted"])
            print("null", scenario["skip_reason"], scenario["events"][5]["server_name"])
            """#
        let (status, output) = try python(script, input: JSONReporter.render(fullRun(), parleyVersion: "9.9"))
        #expect(status == 0, "\(output)")
        #expect(
            output == """
                top duration,interrupted,parley,scenarios,started,summary
                summary errors,failed,passed,scenarios,skipped
                scenario attempts,duration,earlier_attempts,events,failure,file,insecure,name,outcome,skip_reason,started,steps,steps_passed,tags
                attempt duration,failure,outcome None
                failure actual,deadline,expected,kind,location,message,reproduce,tail,variables,wait
                location column,file,line
                bytes base64,length,text
                event server-started host,port,protocol,type
                event step-started step,type
                event connected connection,local,remote,type
                event sent connection,data,tls,type
                event received connection,data,tls,type
                event handshake-started connection,server_name,type
                event tls-established connection,tls,type
                tls alpn,cipher,client_certificate_requested,client_certificate_sent,group,peer,resumed,server_name,verification,verified,version
                certificate issuer,not_after,not_before,san,serial,sha256,subject
                event discarded connection,data,type
                event closed by_peer,connection,type
                event note text,type
                event step-passed step,type
                event step-failed failure,step,type
                skipped requires X None [] None
                null None None

                """)
    }

    @Test("the report's text: indented, keys sorted, slashes not escaped, dates to the second in UTC, a newline at the end")
    func golden() {
        let start = Date(timeIntervalSince1970: 1_800_000_000.75)
        let record = ScenarioRecord(
            file: "dir/a.yaml",
            events: [.connection(name: "main", event: .sent(Array("EHLO x\r\n".utf8), tls: false))],
            transcript: "",
            result: ScenarioResult(
                name: "a", file: "dir/a.yaml", outcome: .passed, stepsPassed: 1, stepCount: 1, failure: nil, duration: .milliseconds(15),
                insecure: false),
            started: start
        )
        let text = JSONReporter.render(RunRecord(scenarios: [record], started: start, duration: .milliseconds(1015)), parleyVersion: "9.9")
        #expect(
            text == """
                {
                  "duration" : 1.015,
                  "interrupted" : null,
                  "parley" : "9.9",
                  "scenarios" : [
                    {
                      "attempts" : 1,
                      "duration" : 0.015,
                      "earlier_attempts" : [

                      ],
                      "events" : [
                        {
                          "connection" : "main",
                          "data" : {
                            "base64" : "RUhMTyB4DQo=",
                            "length" : 8,
                            "text" : "EHLO x\\\\r\\\\n"
                          },
                          "tls" : false,
                          "type" : "sent"
                        }
                      ],
                      "failure" : null,
                      "file" : "dir/a.yaml",
                      "insecure" : false,
                      "name" : "a",
                      "outcome" : "passed",
                      "skip_reason" : null,
                      "started" : "2027-01-15T08:00:00Z",
                      "steps" : 1,
                      "steps_passed" : 1,
                      "tags" : [

                      ]
                    }
                  ],
                  "started" : "2027-01-15T08:00:00Z",
                  "summary" : {
                    "errors" : 0,
                    "failed" : 0,
                    "passed" : 1,
                    "scenarios" : 1,
                    "skipped" : 0
                  }
                }

                """)
    }

    @Test("JSON and JUnit write a run's start with the one ISO 8601 form")
    func timestamps() throws {
        let run = sampleRun()
        #expect(JSONOutput.timestamp(run.started) == "2027-01-15T08:00:00Z")
        #expect(JUnitReporter.render(run).contains(#"timestamp="2027-01-15T08:00:00Z""#))
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(JSONReporter.render(run, parleyVersion: "1").utf8)) as? [String: Any])
        #expect(object["started"] as? String == "2027-01-15T08:00:00Z")
    }

    @Test("the report's tls object: the facts with the chain as peer, no provider; decodes back")
    func tlsObject() throws {
        let facts = try #require(
            fullRun().scenarios[0].events.compactMap { event -> TLSFacts? in
                if case .connection(_, .tlsEstablished(let facts)) = event { return facts }
                return nil
            }.first)
        let json = TLSFactsJSON(facts)
        #expect(json.provider == nil)
        #expect(json.peer == .chain(facts.peerCertificates.map(CertificateJSON.init)))
        let text = try JSONOutput.string(json, pretty: false)
        #expect(!text.contains("provider"))
        #expect(try JSONOutput.decoder().decode(TLSFactsJSON.self, from: Data(text.utf8)) == json)
        let leaf = TLSFactsJSON(facts, provider: "builtin", leafOnly: true)
        let leafText = try JSONOutput.string(leaf, pretty: false)
        #expect(leafText.contains(#""provider":"builtin""#))
        #expect(try JSONOutput.decoder().decode(TLSFactsJSON.self, from: Data(leafText.utf8)) == leaf)
        let none = TLSFactsJSON(TLSFacts(version: "TLS1.3", cipher: "C"), leafOnly: true)
        #expect(try JSONOutput.string(none, pretty: false).contains(#""peer":null"#))
        #expect(try JSONOutput.decoder().decode(TLSFactsJSON.self, from: Data(JSONOutput.string(none, pretty: false).utf8)) == none)
    }
}
