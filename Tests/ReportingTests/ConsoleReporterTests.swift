// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyTestSupport
import Reporting
import Runner
import Scenario
import Testing

/// Collects the reporter's output.
typealias Sink = TextCollector

let here = SourceLocation(file: "s.yaml", line: 7, column: 13)

@Suite("Console transcript")
struct ConsoleReporterTests {
    func render(_ events: [RunEvent]) -> String {
        let sink = Sink()
        let reporter = ConsoleReporter(colour: false) { sink.write($0) }
        events.forEach(reporter.handle)
        return sink.all
    }

    @Test("lines are marked by direction and TLS phase; chunks are joined into lines")
    func golden() {
        let session = TLSFacts(
            version: "TLS1.3",
            cipher: "TLS_AES_256_GCM_SHA384",
            group: "X25519",
            peerCertificates: [
                CertificateFacts(
                    subject: "CN=localhost",
                    issuer: "CN=Parley Test CA",
                    subjectAlternativeNames: ["DNS:localhost"],
                    notBefore: Date(timeIntervalSince1970: 0),
                    notAfter: Date(timeIntervalSince1970: 2_000_000_000),
                    sha256Fingerprint: "00",
                    serialNumber: "01"
                )
            ],
            verified: true
        )
        let text = render([
            .scenarioStarted(name: "demo", file: "s.yaml"),
            .connection(name: "main", event: .connected(local: "127.0.0.1:5000", remote: "127.0.0.1:25")),
            .connection(name: "main", event: .received(Array("220 hi".utf8), tls: false)),
            .connection(name: "main", event: .received(Array("\r\n".utf8), tls: false)),
            .connection(name: "main", event: .sent(Array("STARTTLS\r\n".utf8), tls: false)),
            .connection(name: "main", event: .received(Array("220 go\r\n".utf8), tls: false)),
            .connection(name: "main", event: .discarded(Array("250 X\r\n".utf8))),
            .connection(name: "main", event: .handshakeStarted(serverName: "localhost")),
            .connection(name: "main", event: .tlsEstablished(session)),
            .connection(name: "main", event: .sent(Array("QUIT\r\n".utf8), tls: true)),
            .connection(name: "main", event: .received(Array("221 bye\n\u{1B}\r\n".utf8), tls: true)),
            .connection(name: "main", event: .closed(byPeer: true)),
        ])
        let expected = """
            === scenario: demo (s.yaml)
            === connected to 127.0.0.1:25 (from 127.0.0.1:5000)
            <-  220 hi
             -> STARTTLS
            <-  220 go
            *** 7 plaintext bytes arrived after the STARTTLS go-ahead; discarded unread:
            <** 250 X
            === starting the TLS handshake with server name localhost
            === TLS started: TLS1.3, TLS_AES_256_GCM_SHA384, group X25519
            === peer certificate: CN=localhost (issuer CN=Parley Test CA; valid until 2033-05-18)
            === peer names: DNS:localhost
            === peer certificate verified (chain and host name)
            === client certificate not requested and not sent
             ~> QUIT
            <~  221 bye\\n
            <~  \\x1B
            === connection closed by the server

            """
        #expect(text == expected)
    }

    @Test("a partial line is printed when the direction changes, marked as having no line end")
    func partialLine() {
        let text = render([
            .connection(name: "main", event: .received(Array("Password: ".utf8), tls: false)),
            .connection(name: "main", event: .sent(Array("secret\r\n".utf8), tls: false)),
        ])
        #expect(text == "<-  Password:  (no line end)\n -> secret\n")
    }

    @Test("a failed step shows the place, the pattern, the deadline and the unmatched tail")
    func failure() {
        let step = Step(.close, at: here)
        let failure = Failure(
            .expectation,
            at: here,
            "timed out after 2s waiting for the expected pattern",
            expected: "^250 ",
            wait: .expect,
            deadline: .seconds(2),
            tail: Array("220 hi\r\n\u{FF}".utf8) + [0xFF]
        )
        let text = render([.stepFailed(index: 3, step: step, failure: failure)])
        #expect(
            text == """
                *** s.yaml:7:13: step 'close' failed: timed out after 2s waiting for the expected pattern
                ***   expected: ^250 
                ***   deadline: expect (2s)
                ***   received and not matched (last 11 bytes):
                ***     220 hi\\r\\n
                ***     ÿ\\xFF

                """)
    }

    @Test("the result line says PASS or FAIL, and marks insecure runs")
    func resultLine() {
        let passed = ScenarioResult(
            name: "ok", file: "s.yaml", outcome: .passed, stepsPassed: 3, stepCount: 3,
            failure: nil, duration: .milliseconds(12), insecure: true
        )
        #expect(render([.scenarioFinished(passed)]) == "PASS ok (3 steps, 0.012s) [INSECURE: verification off]\n\n")
        let failed = ScenarioResult(
            name: "bad", file: "s.yaml", outcome: .failed, stepsPassed: 1, stepCount: 3,
            failure: nil, duration: .seconds(2), insecure: false
        )
        #expect(render([.scenarioFinished(failed)]) == "FAIL bad (step 2 of 3, 2.000s)\n\n")
    }
}

@Suite("Byte rendering")
struct ByteTextTests {
    @Test("printable UTF-8 stays, controls and invalid bytes are escaped, nothing is dropped")
    func escaping() {
        #expect(ByteText.escaped(Array("héllo\t\\".utf8)) == "héllo\\t\\\\")
        #expect(ByteText.escaped([0x00, 0x41, 0xC3, 0x28, 0xED, 0xA0, 0x80]) == "\\x00A\\xC3(\\xED\\xA0\\x80")
        #expect(ByteText.line(Array("a\r\n".utf8)[...]) == "a")
        #expect(ByteText.line(Array("a\n".utf8)[...]) == "a\\n")
    }
}
