// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailServers
import NetworkStream
import ParleyTestSupport
import Reporting
import Runner
import Testing

@testable import ParleyCLI

/// The probe and the run report write TLS facts with one type (TLSFactsJSON) and one text
/// rendering (TLSFacts.summaryLines): the same facts give the same fields and the same words.
@Suite("parley probe and the run report: one rendering of TLS facts")
struct ProbeTLSFactsTests {
    let ca = FixtureCertificates.path("ca.pem")

    /// A session with every fact set: a chain of two, ALPN, problems, a client certificate.
    func session(certificates: Int = 2) -> TLSSessionInfo {
        let leaf = CertificateInfo(
            subject: "CN=localhost,O=Parley", issuer: "CN=Parley Test CA", subjectAlternativeNames: ["DNS:localhost", "IP:127.0.0.1"],
            notBefore: Date(timeIntervalSince1970: 1_700_000_000), notAfter: Date(timeIntervalSince1970: 2_000_000_000),
            sha256Fingerprint: String(repeating: "ab", count: 32), serialNumber: "01"
        )
        let root = CertificateInfo(
            subject: "CN=Parley Test CA", issuer: "CN=Parley Test CA", subjectAlternativeNames: [],
            notBefore: Date(timeIntervalSince1970: 1_600_000_000), notAfter: Date(timeIntervalSince1970: 2_100_000_000),
            sha256Fingerprint: String(repeating: "cd", count: 32), serialNumber: "02"
        )
        return TLSSessionInfo(
            protocolVersion: "TLS1.2", cipherSuite: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", keyExchangeGroup: "SECP256R1",
            alpn: "smtp", serverName: "localhost", peerCertificates: Array([leaf, root].prefix(certificates)),
            verified: false, verificationProblems: ["signer not found", "host name mismatch"],
            clientCertificateRequested: true, clientCertificateSent: true, resumed: true
        )
    }

    /// The JSON report's `tls` object for one `tls-established` event of `facts`.
    func reportTLS(_ facts: TLSFacts) throws -> [String: Any] {
        let record = ScenarioRecord(
            file: "t.yaml",
            events: [.connection(name: "main", event: .tlsEstablished(facts))],
            transcript: "",
            result: ScenarioResult(
                name: "t", file: "t.yaml", outcome: .passed, stepsPassed: 1, stepCount: 1, failure: nil, duration: .zero, insecure: false),
            started: Date(timeIntervalSince1970: 0)
        )
        let text = JSONReporter.render(
            RunRecord(scenarios: [record], started: Date(timeIntervalSince1970: 0), duration: .zero), parleyVersion: "t")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        let event = try #require(((report["scenarios"] as? [[String: Any]])?.first?["events"] as? [[String: Any]])?.first)
        return try #require(event["tls"] as? [String: Any])
    }

    /// The probe's `tls` object for `session`.
    func probeTLS(_ session: TLSSessionInfo, provider: StreamParameters.TLSProvider = .builtin) throws -> [String: Any] {
        var result = OpenStreamResult(process: nil, type: .tls)
        result.tls = session
        result.tlsProvider = provider
        return try #require(try object(ProbeJSON(result, snapshot: nil).rendered())["tls"] as? [String: Any])
    }

    @Test("the same facts: the same fields with the same values; the probe adds provider and keeps the leaf as peer")
    func sameFields() throws {
        for count in [2, 1, 0] {
            let session = session(certificates: count)
            let report = try reportTLS(TLSFacts(session))
            var probe = try probeTLS(session, provider: .external)
            #expect(probe.removeValue(forKey: "provider") as? String == "external")
            #expect(Set(probe.keys) == Set(report.keys))
            // Every field but peer is the same JSON.
            for key in report.keys where key != "peer" {
                let a = try JSONSerialization.data(withJSONObject: ["v": report[key]!], options: .sortedKeys)
                let b = try JSONSerialization.data(withJSONObject: ["v": probe[key]!], options: .sortedKeys)
                #expect(a == b, "\(key): \(String(decoding: a, as: UTF8.self)) vs \(String(decoding: b, as: UTF8.self))")
            }
            // The report's peer is the chain; the probe's is its first certificate, the same object.
            let chain = try #require(report["peer"] as? [[String: Any]])
            #expect(chain.count == count)
            if let first = chain.first {
                let leaf = try #require(probe["peer"] as? [String: Any])
                #expect(
                    try JSONSerialization.data(withJSONObject: leaf, options: .sortedKeys)
                        == JSONSerialization.data(withJSONObject: first, options: .sortedKeys))
                #expect(leaf["not_after"] as? String == "2033-05-18T03:33:20Z")
            } else {
                #expect(probe["peer"] is NSNull)
            }
        }
    }

    @Test("the values are one type: the probe's tls decodes as TLSFactsJSON equal to the report's but for provider and peer")
    func sameType() throws {
        let session = session()
        var result = OpenStreamResult(process: nil, type: .tls)
        result.tls = session
        let text = ProbeJSON(result, snapshot: nil).rendered()
        let start = try #require(text.range(of: #""tls":"#)?.upperBound)
        let end = try #require(text.range(of: #","type":"#, options: .backwards)?.lowerBound)
        let probe = try JSONOutput.decoder().decode(TLSFactsJSON.self, from: Data(text[start..<end].utf8))
        var report = TLSFactsJSON(TLSFacts(session))
        #expect(probe.provider == "builtin")
        report.provider = "builtin"
        guard case .chain(let chain) = report.peer else {
            Issue.record("the report's peer is the chain")
            return
        }
        report.peer = .leaf(chain.first)
        #expect(probe == report)
    }

    @Test("the probe's text prints the transcript's TLS lines for the same facts")
    func sameWords() throws {
        let session = session()
        var result = OpenStreamResult(process: nil, type: .tls)
        result.tls = session
        let text = ProbeFrontend.text(result, snapshot: nil)
        let sink = Output()
        ConsoleReporter(colour: false) { sink.write($0) }.handle(.connection(name: "main", event: .tlsEstablished(TLSFacts(session))))
        #expect(text == "process: none\ntype: tls\n" + sink.all)
        #expect(
            sink.all == """
                === TLS started: TLS1.2, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, group SECP256R1, ALPN smtp
                === peer certificate: CN=localhost,O=Parley (issuer CN=Parley Test CA; valid until 2033-05-18)
                === peer names: DNS:localhost, IP:127.0.0.1
                *** peer certificate NOT verified: signer not found, host name mismatch
                === client certificate requested and sent

                """)
    }

    @Test("probe without --json against the fake server: the transcript's TLS lines, verified or the problems")
    func textAgainstServer() async throws {
        var configuration = FakeSMTPServer.Configuration()
        configuration.tls = try FixtureCertificates.serverContext()
        try await withFakeSMTPServer(configuration) { server in
            let verified = await probe(["127.0.0.1", "\(server.port)", "--preset", "smtp", "--ca-file", ca, "--server-name", "localhost"])
            #expect(verified.status == 0, "\(verified.output)\(verified.error)")
            let lines = verified.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(lines.first == "process: probe (open, network)")
            #expect(lines.contains("type: tls"))
            #expect(lines.contains("greeting: \"220 mail.test ESMTP Parley fake server\\r\\n\""))
            #expect(lines.contains { $0.hasPrefix("=== TLS started: TLS1.3, ") && $0.contains(", group ") }, "\(verified.output)")
            #expect(lines.contains { $0.hasPrefix("=== peer certificate: ") && $0.contains("(issuer ") && $0.contains("; valid until ") })
            #expect(lines.contains { $0.hasPrefix("=== peer names: ") && $0.contains("DNS:mail.test") })
            #expect(lines.contains("=== peer certificate verified (chain and host name)"))
            #expect(lines.suffix(2) == ["=== client certificate not requested and not sent", ""])
            let insecure = await probe(["127.0.0.1", "\(server.port)", "--preset", "smtp", "--type", "starttls", "--insecure"])
            #expect(insecure.status == 0)
            #expect(insecure.output.contains("\n*** peer certificate NOT verified: signer not found"), "\(insecure.output)")
            #expect(!insecure.output.contains("=== peer certificate verified"))
        }
    }

    @Test("against one server, the probe's tls and a run report's tls have the same fields and the same facts")
    func probeAndRunAgree() async throws {
        var configuration = FakeSMTPServer.Configuration()
        configuration.tls = try FixtureCertificates.serverContext()
        try await withFakeSMTPServer(configuration) { server in
            let run = await probe([
                "127.0.0.1", "\(server.port)", "--preset", "smtp", "--ca-file", ca, "--server-name", "localhost", "--json",
            ])
            #expect(run.status == 0, "\(run.output)\(run.error)")
            var probed = try #require(try object(run.output)["tls"] as? [String: Any])
            let folder = try scratchFolder()
            defer { try? FileManager.default.removeItem(at: folder) }
            let file = folder.appendingPathComponent("tls.yaml")
            try """
            name: tls facts
            steps:
              - connect: {host: 127.0.0.1, port: \(server.port)}
              - expect: '^220 '
              - send: {line: EHLO localhost}
              - expect: '^250 [^\\r\\n]*\\r\\n'
              - starttls: {ca-file: '\(ca)', server-name: localhost}
              - assert: {tls: true, verified: true}
            """.write(to: file, atomically: true, encoding: .utf8)
            let output = Output()
            var frontend = RunFrontend(paths: [file.path]) { output.write($0) }
            frontend.jsonPath = folder.appendingPathComponent("run.json").path
            #expect(await frontend.run() == 0, "\(output.all)")
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("run.json"))) as? [String: Any])
            let events = try #require((report["scenarios"] as? [[String: Any]])?.first?["events"] as? [[String: Any]])
            let reported = try #require(events.first { $0["type"] as? String == "tls-established" }?["tls"] as? [String: Any])
            #expect(probed.removeValue(forKey: "provider") as? String == "builtin")
            #expect(Set(probed.keys) == Set(reported.keys))
            for key in [
                "version", "verified", "verification", "server_name", "alpn", "client_certificate_requested", "client_certificate_sent",
                "resumed",
            ] {
                let a = try JSONSerialization.data(withJSONObject: ["v": probed[key]!])
                let b = try JSONSerialization.data(withJSONObject: ["v": reported[key]!])
                #expect(a == b, "\(key)")
            }
            let leaf = try #require(probed["peer"] as? [String: Any])
            let chain = try #require(reported["peer"] as? [[String: Any]])
            #expect(Set(leaf.keys) == Set(try #require(chain.first).keys))
            #expect(leaf["sha256"] as? String == chain.first?["sha256"] as? String)
            #expect(leaf["not_after"] as? String == chain.first?["not_after"] as? String)
        }
    }
}
