// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServerProvider
import MailServers
import NetworkStream
import ParleyTestSupport
import Runner
import Scenario
import Testing

/// Collects run events.
typealias Events = Collector<RunEvent>

let certs = FixtureCertificates.directory

/// A scenario with the embedded SMTP server and the given steps.
func scenarioText(_ steps: String, starttls: Bool = true) -> String {
    """
    name: test
    server:
      protocol: smtp
      starttls: \(starttls)
      certificate: \(certs)/server.pem
      key: \(certs)/server-key.pem
    timeouts: {connect: 30s, expect: 30s, handshake: 30s}
    steps:
    \(steps)
    """
}

func run(_ yaml: String, variables: [String: String] = [:]) async throws -> (ScenarioResult, [RunEvent]) {
    let scenario = try ScenarioRunner.loader(serverProvider: MailServerProvider()).load(yaml: yaml, file: "/virtual/t.yaml")
    let events = Events()
    let result = await ScenarioRunner(variables: variables, environment: [:], serverProvider: MailServerProvider()).run(scenario) {
        events.add($0)
    }
    return (result, events.all)
}

@Suite("Scenario runner")
struct ScenarioRunnerTests {
    @Test("a full STARTTLS scenario passes, with TLS facts asserted")
    func passes() async throws {
        let (result, events) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - send: {line: EHLO client.test}
                  - expect: '^250-STARTTLS\\r\\n'
                  - expect: '^250 .*\\r\\n'
                  - starttls: {ca-file: \(certs)/ca.pem, server-name: localhost}
                  - assert: {status: open, tls: true, verified: true, tls-version: TLS1.3, min-tls-version: TLS1.2, discarded-bytes: 0}
                  - send: {line: QUIT}
                  - expect: '^221 '
                """))
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        #expect(result.stepsPassed == 9)
        #expect(!result.insecure)
        #expect(events.contains { if case .serverStarted(protocol: "smtp", _, _) = $0 { true } else { false } })
        #expect(events.contains { if case .connection(_, .tlsEstablished) = $0 { true } else { false } })
    }

    @Test("a wrong expect fails at the pattern's place with the deadline and the unmatched tail")
    func wrongExpect() async throws {
        let (result, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: {pattern: '^250 nope', timeout: 2s}
                """))
        #expect(result.outcome == .failed)
        let failure = try #require(result.failure)
        #expect(failure.location.file == "/virtual/t.yaml")
        #expect(failure.location.line == 10)
        #expect(failure.location.column == 23)
        #expect(failure.expected == "^250 nope")
        #expect(failure.wait == .expect)
        #expect(failure.deadline == .seconds(2))
        #expect(String(decoding: failure.tail ?? [], as: UTF8.self).hasPrefix("220 mail.test ESMTP"))
    }

    @Test("a failing assertion names the fact, the expected and the actual value")
    func failingAssertion() async throws {
        let (result, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - assert: {tls: true}
                """))
        let failure = try #require(result.failure)
        #expect(result.outcome == .failed)
        #expect(failure.message.contains("tls is false, expected true"))
        #expect(failure.location.line == 10)
    }

    @Test("STARTTLS not offered: the refusal fails the step and shows the reply")
    func refused() async throws {
        let (result, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - starttls: {ca-file: \(certs)/ca.pem, server-name: localhost}
                """, starttls: false))
        let failure = try #require(result.failure)
        #expect(failure.message.contains("refused STARTTLS"))
        #expect(String(decoding: failure.tail ?? [], as: UTF8.self).hasPrefix("454"))
    }

    @Test("handshake: fail passes when verification fails for the wrong name, and fails when it succeeds")
    func expectedHandshakeFailure() async throws {
        let (bad, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - starttls: {ca-file: \(certs)/ca.pem, server-name: wrong.example, handshake: fail}
                """))
        #expect(bad.outcome == .passed, "\(String(describing: bad.failure))")
        let (good, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - starttls: {ca-file: \(certs)/ca.pem, server-name: localhost, handshake: fail}
                """))
        #expect(good.outcome == .failed)
        #expect(good.failure?.message.contains("expects it to fail") == true)
    }

    @Test("insecure TLS completes, reports the problems, and marks the result")
    func insecure() async throws {
        let (result, events) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - starttls: {insecure: true, server-name: localhost}
                  - assert: {tls: true, verified: false}
                """))
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        #expect(result.insecure)
        #expect(events.contains { if case .note(let text) = $0 { text.contains("verification is OFF") } else { false } })
    }

    @Test("variables expand from --var, built-ins and defaults; an unset one fails at its place")
    func variables() async throws {
        let (ok, _) = try await run(
            scenarioText(
                """
                  - connect: {host: '${HOST:-127.0.0.1}', port: '${server.port}'}
                  - expect: '^220 '
                """))
        #expect(ok.outcome == .passed, "\(String(describing: ok.failure))")
        let (unset, _) = try await run(
            scenarioText(
                """
                  - connect: {host: '${MISSING}'}
                """))
        #expect(unset.outcome == .error)
        #expect(unset.failure?.message.contains("variable 'MISSING' is not set") == true)
    }

    @Test("a connect to a closed port fails the step with the connect error")
    func connectRefused() async throws {
        let (result, _) = try await run(
            """
            steps:
              - connect: {host: 127.0.0.1, port: 1}
            """)
        #expect(result.outcome == .error, "a refused connect is a runtime error (exit 3)")
        #expect(result.failure?.wait == .connect)
        #expect(result.failure?.message.contains("cannot connect to 127.0.0.1:1") == true)
    }
}

@Suite("Run lanes")
struct RunLaneTests {
    @Test("a run given a lane lives on its event loop: every connection event arrives there")
    func runStaysOnItsLane() async throws {
        let scenario = try ScenarioRunner.loader(serverProvider: MailServerProvider()).load(
            yaml: scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - send: {line: EHLO client.test}
                  - expect: '^250 .*\\r\\n'
                  - starttls: {ca-file: \(certs)/ca.pem, server-name: localhost}
                  - send: {line: QUIT}
                  - expect: '^221 '
                """), file: "/virtual/lane.yaml")
        let lanes = RunLane.all()
        #expect(!lanes.isEmpty)
        for lane in lanes {
            // Whether each connection event was delivered on the run's lane.
            let placements = Collector<Bool>()
            let result = await ScenarioRunner(environment: [:], serverProvider: MailServerProvider()).run(scenario, lane: lane) { event in
                if case .connection = event { placements.add(lane.isCurrent) }
            }
            #expect(result.outcome == .passed, "\(result.failure.map { "\($0)" } ?? "")")
            #expect(placements.all.count > 4)
            #expect(placements.all.allSatisfy { $0 })
        }
    }
}
