// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServerProvider
import ParleyTestSupport
import Scenario
import Testing

@testable import Runner

/// A scenario with the embedded SMTP server (faults as given) and the given steps.
func policyScenario(_ steps: String, faults: [String] = []) -> String {
    """
    name: policy
    preset: smtp
    server:
      protocol: smtp
      certificate: \(certs)/server.pem
      key: \(certs)/server-key.pem
      faults: [\(faults.joined(separator: ", "))]
    timeouts: {connect: 30s, expect: 30s, handshake: 30s}
    steps:
    \(steps)
    """
}

/// Runs a scenario with a runner whose DNS answers come from `localData` (libunbound's local
/// zone data: answers are not DNSSEC-validated).
func runWithDNS(_ yaml: String, localData: [String], localZones: [String] = [], mx: MXChoice? = nil) async throws -> (
    ScenarioResult, [RunEvent]
) {
    let scenario = try ScenarioRunner.loader(serverProvider: MailServerProvider()).load(yaml: yaml, file: "/virtual/d.yaml")
    var runner = ScenarioRunner(environment: [:], serverProvider: MailServerProvider())
    runner.domainLookups = DomainLookups(localData: localData, localZones: localZones)
    runner.mxChoice = mx
    let events = Events()
    let result = await runner.run(scenario) { events.add($0) }
    return (result, events.all)
}

func notes(_ events: [RunEvent]) -> [String] {
    events.compactMap { if case .note(let text) = $0 { text } else { nil } }
}

@Suite("Domain checks: TLS policy, MX hosts, DANE")
struct DomainCheckTests {
    static let starttls = """
          - connect:
          - greeting:
          - capability:
          - starttls: {ca-file: \(certs)/ca.pem, server-name: localhost}
        """

    @Test("a server that refuses TLS 1.0 and 1.1 and weak ciphers passes the policy, each refusal in the transcript")
    func policyHolds() async throws {
        let (result, events) = try await run(
            policyScenario(
                Self.starttls + """

                      - tls-policy:
                          refuse: [TLS1.0, TLS1.1]
                          accept: [TLS1.2, TLS1.3]
                          weak-ciphers: refused
                          forward-secrecy: required
                          min-ec-bits: 256
                          min-rsa-bits: 2048
                          weak-signatures: refused
                          intermediates: sent
                          days-left: 30
                          names: [localhost, mail.test]
                    """))
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        let said = notes(events)
        #expect(said.contains { $0.hasPrefix("tls-policy: TLS1.0 refused") })
        #expect(said.contains { $0.hasPrefix("tls-policy: TLS1.1 refused") })
        #expect(said.contains { $0.hasPrefix("tls-policy: TLS1.2 accepted (TLS1.2, ") })
        #expect(said.contains { $0.hasPrefix("tls-policy: TLS1.3 accepted (TLS1.3, ") })
        #expect(said.contains { $0.hasPrefix("tls-policy: weak ciphers (NULL, RC4, 3DES) refused") })
        #expect(said.contains { $0.hasPrefix("tls-policy: RSA key exchange (no forward secrecy) refused") })
        #expect(!result.insecure)
    }

    @Test("a server still accepting TLS 1.0 fails the policy, and the failure names the version and the host")
    func tls10Accepted() async throws {
        let (result, _) = try await run(
            policyScenario(
                Self.starttls + """

                      - tls-policy: {refuse: [TLS1.0, TLS1.1]}
                    """, faults: ["'tls-priority=NORMAL'"]))
        #expect(result.outcome == .failed)
        let failure = try #require(result.failure)
        #expect(failure.kind == .assertion)
        #expect(failure.message.contains("accepts TLS1.0 (negotiated TLS1.0"))
        #expect(failure.message.contains("accepts TLS1.1 (negotiated TLS1.1"))
        #expect(failure.message.contains("RFC 8996"))
        #expect(failure.message.contains("127.0.0.1:"))
    }

    @Test("certificate checks name the certificate: a name it lacks, too few days left, the chain that does not verify")
    func certificateProblems() async throws {
        let (result, _) = try await run(
            policyScenario(
                """
                  - connect:
                  - greeting:
                  - capability:
                  - starttls: {ca-file: \(certs)/ca.pem, server-name: localhost}
                  - tls-policy: {days-left: 100000, names: [mx.example.org, localhost]}
                """))
        let failure = try #require(result.failure)
        #expect(failure.message.contains("is not valid for mx.example.org"))
        #expect(!failure.message.contains("is not valid for localhost"))
        #expect(failure.message.contains("(fewer than 100000 left)"))
        #expect(failure.message.contains("CN=localhost"))
    }

    @Test("the chain check: a self-signed leaf does not verify as sent")
    func intermediates() {
        let leaf = CertificateFacts(
            subject: "CN=a", issuer: "CN=b", subjectAlternativeNames: ["DNS:a.example"], notBefore: Date(), notAfter: Date() + 86_400 * 90,
            publicKeyAlgorithm: "RSA", publicKeyBits: 1024, signatureAlgorithm: "RSA-SHA1")
        let tls = TLSFacts(
            version: "TLS1.2", cipher: "x", peerCertificates: [leaf], verified: false, verificationProblems: ["signer not found"])
        var policy = Step.TLSPolicy()
        policy.intermediatesSent = true
        policy.minimumRSABits = 2048
        policy.weakSignaturesRefused = true
        let problems = TLSPolicyCheck.certificateProblems(policy, tls: tls, names: ["*.example", "b.a.example"], now: Date())
        #expect(problems.contains { $0.contains("1024-bit RSA key, fewer than 2048") })
        #expect(problems.contains { $0.contains("signed with RSA-SHA1") })
        #expect(problems.contains { $0.contains("does not verify: signer not found") })
        #expect(problems.contains { $0.contains("is not valid for b.a.example") })
    }

    @Test("certificate names: exact, and a wildcard standing for one leftmost label")
    func names() {
        #expect(DomainNames.certificateName("mx.example.org", covers: "MX.Example.org."))
        #expect(DomainNames.certificateName("*.example.org", covers: "mx1.example.org"))
        #expect(!DomainNames.certificateName("*.example.org", covers: "a.b.example.org"))
        #expect(!DomainNames.certificateName("*.example.org", covers: "example.org"))
        #expect(!DomainNames.certificateName("mx.example.org", covers: "mx.example.com"))
    }

    @Test("tls-policy without a preset names what it needs")
    func needsPreset() async throws {
        let (result, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - send: {line: EHLO client.test}
                  - expect: '^250 .*\\r\\n'
                  - starttls: {ca-file: \(certs)/ca.pem, server-name: localhost}
                  - tls-policy: {refuse: TLS1.0}
                """))
        #expect(result.failure?.message.contains("give the scenario a 'preset'") == true, "\(String(describing: result.failure))")
    }

    @Test("connect with mx goes to the most preferred MX host at its resolved address, with SNI the host's name")
    func mxConnect() async throws {
        let (result, events) = try await runWithDNS(
            policyScenario(
                """
                  - connect: {mx: Example.TEST., port: '${server.port}'}
                  - greeting:
                  - capability:
                  - starttls: {ca-file: \(certs)/ca.pem}
                  - assert: {verified: true, variables: {mx.host: mail.test, mx.domain: example.test, mx.preference: '5'}}
                """),
            localData: [
                "example.test. 300 IN MX 20 backup.example.test.",
                "example.test. 300 IN MX 5 mail.test.",
                "mail.test. 300 IN A 127.0.0.1",
                "backup.example.test. 300 IN A 127.0.0.1",
            ])
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        #expect(notes(events).contains { $0.contains("MX of example.test") && $0.contains("5 mail.test, 20 backup.example.test") })
        #expect(notes(events).contains { $0.contains("MX host mail.test (preference 5) of example.test at 127.0.0.1") })
    }

    @Test("a TXT look-up that fails (REFUSED) is a runtime error naming the look-up, not a missing TLS-RPT record")
    func failedLookupIsNotAMissingRecord() async throws {
        let steps = """
              - connect: {mx: example.test, port: '${server.port}'}
              - greeting:
              - assert: {tls-rpt: {present: true}}
            """
        let data = ["example.test. 300 IN MX 10 mail.test.", "mail.test. 300 IN A 127.0.0.1"]
        let (result, _) = try await runWithDNS(policyScenario(steps), localData: data, localZones: ["_smtp._tls.example.test. refuse"])
        let failure = try #require(result.failure)
        #expect(result.outcome == .error, "\(failure.message)")
        #expect(failure.message.contains("the TXT look-up of _smtp._tls.example.test failed (REFUSED)"), "\(failure.message)")
        // Without the refusal, no record is a missing record, as before.
        let (missing, _) = try await runWithDNS(policyScenario(steps), localData: data)
        #expect(missing.outcome == .failed)
        #expect(missing.failure?.message.contains("publishes no TLS-RPT record") == true, "\(String(describing: missing.failure?.message))")
    }

    @Test("a null MX fails the connect and says the domain accepts no mail (RFC 7505)")
    func nullMX() async throws {
        let (result, _) = try await runWithDNS(
            policyScenario("  - connect: {mx: nomail.test, port: '${server.port}'}"),
            localData: ["nomail.test. 300 IN MX 0 ."])
        let failure = try #require(result.failure)
        #expect(failure.message.contains("null MX (RFC 7505)"), "\(failure.message)")
    }

    @Test("DANE from zone data that is not DNSSEC-validated is 'insecure', and 'valid' fails naming it")
    func daneInsecure() async throws {
        let steps = """
              - connect: {mx: example.test, port: '${server.port}'}
              - greeting:
              - capability:
              - starttls: {ca-file: \(certs)/ca.pem}
            """
        let data = [
            "example.test. 300 IN MX 10 mail.test.", "mail.test. 300 IN A 127.0.0.1",
        ]
        let (passing, events) = try await runWithDNS(policyScenario(steps + "\n  - assert: {dane: [insecure, absent]}"), localData: data)
        #expect(passing.outcome == .passed, "\(String(describing: passing.failure))")
        #expect(notes(events).contains { $0.hasPrefix("DANE: TLSA _") })
        let (failing, _) = try await runWithDNS(policyScenario(steps + "\n  - assert: {dane: valid}"), localData: data)
        let failure = try #require(failing.failure)
        #expect(failure.expected == "valid")
        #expect(failure.message.contains("DANE for _"), "\(failure.message)")
    }

    @Test("verify: dane without a secure TLSA record fails the STARTTLS step, and is not an insecure opt-out")
    func verifyDANE() async throws {
        let (result, _) = try await runWithDNS(
            policyScenario(
                """
                  - connect: {mx: example.test, port: '${server.port}'}
                  - greeting:
                  - capability:
                  - starttls: {verify: dane}
                """),
            localData: ["example.test. 300 IN MX 10 mail.test.", "mail.test. 300 IN A 127.0.0.1"])
        let failure = try #require(result.failure)
        #expect(failure.message.contains("DANE authentication of mail.test failed"), "\(failure.message)")
        #expect(!result.insecure)
    }

    @Test("the frontend's MX choice runs the scenario against that host")
    func chosenHost() async throws {
        let choice = MXChoice(domain: "example.test", host: "localhost", preference: 20, addresses: ["127.0.0.1"])
        let (result, _) = try await runWithDNS(
            policyScenario(
                """
                  - connect: {mx: example.test, port: '${server.port}'}
                  - greeting:
                  - capability:
                  - starttls: {ca-file: \(certs)/ca.pem}
                  - assert: {verified: true, variables: {mx.host: localhost}}
                """),
            localData: [], mx: choice)
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
    }
}
