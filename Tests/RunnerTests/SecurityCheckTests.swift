// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServerProvider
import MailServers
import NetworkStream
import ParleyTestSupport
import Runner
import Scenario
import Testing

/// A bundled scenario's text with its relative paths made absolute, optionally edited.
func bundled(_ path: String, _ edit: (String) -> String = { $0 }) throws -> (String, String) {
    let url = SourceTree.root.appendingPathComponent(path)
    // Generous deadlines: the checks are about what arrives, not how fast (a busy machine).
    let text = try String(contentsOf: url, encoding: .utf8)
        .replacingOccurrences(
            of: "timeouts: {connect: 5s, expect: 5s, handshake: 5s}", with: "timeouts: {connect: 30s, expect: 30s, handshake: 30s}")
    let folder = url.deletingLastPathComponent().path
    return (edit(text), folder + "/edited.yaml")
}

/// Runs scenario text as if it were the file at `file`.
func run(_ yaml: String, as file: String) async throws -> (ScenarioResult, [RunEvent]) {
    let scenario = try ScenarioRunner.loader(serverProvider: MailServerProvider()).load(yaml: yaml, file: file)
    let events = Events()
    let result = await ScenarioRunner(environment: [:], serverProvider: MailServerProvider()).run(scenario) { events.add($0) }
    return (result, events.all)
}

@Suite("Security checks pass against correct servers and fail against vulnerable ones")
struct SecurityCheckTests {
    @Test("command injection: the correct server passes; the vulnerable-pipelining knob fails the check")
    func commandInjection() async throws {
        let (correct, file) = try bundled("scenarios/security/starttls-command-injection.yaml")
        let (passed, _) = try await run(correct, as: file)
        #expect(passed.outcome == .passed, "\(String(describing: passed.failure))")
        let vulnerable = correct.replacingOccurrences(
            of: "  key: ../../fixtures/certs/server-key.pem\n",
            with: "  key: ../../fixtures/certs/server-key.pem\n  faults: [vulnerable-pipelining]\n")
        #expect(vulnerable != correct)
        let (failed, _) = try await run(vulnerable, as: file)
        #expect(failed.outcome == .failed)
        #expect(failed.failure?.message.contains("variable first is 250, expected 221") == true, "\(String(describing: failed.failure))")
    }

    @Test("response injection: discarded and counted with the knob; nothing discarded without it")
    func responseInjection() async throws {
        let (injected, file) = try bundled("scenarios/security/starttls-response-injection.yaml")
        let (passed, events) = try await run(injected, as: file)
        #expect(passed.outcome == .passed, "\(String(describing: passed.failure))")
        let discarded = events.compactMap { event -> [UInt8]? in
            if case .connection(_, .discarded(let bytes)) = event { return bytes }
            return nil
        }
        #expect(discarded == [Array("250 AUTH PLAIN LOGIN INJECTED\r\n".utf8)])
        let clean = injected.replacingOccurrences(of: "  faults: [inject-after-starttls]\n", with: "")
        let (failed, _) = try await run(clean, as: file)
        #expect(failed.outcome == .failed)
        #expect(failed.failure?.message.contains("discarded-bytes is 0, expected 31") == true)
    }

    @Test("stripping: opportunistic goes on and says not-offered; mandatory fails closed")
    func stripping() async throws {
        let steps = """
              - connect:
              - greeting:
              - capability:
              - starttls: {REQUIRED ca-file: \(certs)/ca.pem, server-name: localhost}
              - assert: {variables: {starttls: not-offered}, tls: false}
            """
        let base = scenarioText(steps)
            .replacingOccurrences(of: "name: test\n", with: "name: test\npreset: smtp\n")
            .replacingOccurrences(of: "  key: \(certs)/server-key.pem\n", with: "  key: \(certs)/server-key.pem\n  faults: [no-starttls]\n")
        let (opportunistic, _) = try await run(base.replacingOccurrences(of: "REQUIRED", with: "required: false,"))
        #expect(opportunistic.outcome == .passed, "\(String(describing: opportunistic.failure))")
        let (mandatory, _) = try await run(base.replacingOccurrences(of: "REQUIRED", with: ""))
        #expect(mandatory.outcome == .failed)
        #expect(mandatory.failure?.message == "STARTTLS is not offered (mandatory): the capabilities before TLS lack STARTTLS")
    }

    @Test("refusal: opportunistic records refused; mandatory fails with the reply")
    func refusal() async throws {
        let steps = """
              - connect:
              - greeting:
              - starttls: {REQUIRED ca-file: \(certs)/ca.pem, server-name: localhost}
              - assert: {variables: {starttls: refused}, status: open}
            """
        let base = scenarioText(steps)
            .replacingOccurrences(of: "name: test\n", with: "name: test\npreset: smtp\n")
            .replacingOccurrences(
                of: "  key: \(certs)/server-key.pem\n", with: "  key: \(certs)/server-key.pem\n  faults: [refuse-starttls]\n")
        let (opportunistic, _) = try await run(base.replacingOccurrences(of: "REQUIRED", with: "required: false,"))
        #expect(opportunistic.outcome == .passed, "\(String(describing: opportunistic.failure))")
        let (mandatory, _) = try await run(base.replacingOccurrences(of: "REQUIRED", with: ""))
        #expect(mandatory.outcome == .failed)
        #expect(mandatory.failure?.message == "the server refused STARTTLS")
        let reply = String(decoding: mandatory.failure?.tail ?? [], as: UTF8.self)
        #expect(reply.hasPrefix("454 "))
    }

    @Test(
        "certificate faults fail verification with the reason; handshake: fail turns that into a pass",
        arguments: [
            ("expired-certificate", "expired"),
            ("wrong-host-certificate", "host name mismatch"),
            ("self-signed-certificate", "self-signed"),
        ])
    func certificateFaults(_ knob: String, _ reason: String) async throws {
        let steps = """
              - connect:
              - greeting:
              - starttls: {HANDSHAKE ca-file: \(certs)/ca.pem, server-name: localhost}
            """
        let base = scenarioText(steps)
            .replacingOccurrences(of: "name: test\n", with: "name: test\npreset: smtp\n")
            .replacingOccurrences(of: "  key: \(certs)/server-key.pem\n", with: "  key: \(certs)/server-key.pem\n  faults: [\(knob)]\n")
        let (failed, _) = try await run(base.replacingOccurrences(of: "HANDSHAKE", with: ""))
        #expect(failed.outcome == .error)
        #expect(failed.failure?.kind == .runtime)
        #expect(failed.failure?.message.contains(reason) == true, "\(String(describing: failed.failure))")
        let (passed, _) = try await run(base.replacingOccurrences(of: "HANDSHAKE", with: "handshake: fail, handshake-error: '\(reason)',"))
        #expect(passed.outcome == .passed, "\(String(describing: passed.failure))")
        // The handshake fails, but for another reason than the one written: the step fails.
        let (wrongReason, _) = try await run(
            base.replacingOccurrences(of: "HANDSHAKE", with: "handshake: fail, handshake-error: 'no such reason',"))
        #expect(wrongReason.outcome == .failed)
        #expect(wrongReason.failure?.message == "the TLS handshake failed, but not for the expected reason")
        #expect(wrongReason.failure?.actual?.contains(reason) == true)
    }
}
