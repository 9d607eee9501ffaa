// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServerProvider
import ParleyTestSupport
import Runner
import Scenario
import Testing

@Suite("Scripted servers: listen, accept, the server side of STARTTLS")
struct ScriptedServerTests {
    /// Both sides of an SMTP STARTTLS dialog in one scenario: the client steps on `main`, the
    /// server's on `peer`; the server's handshake is started by its `starttls` and awaited by
    /// its next step, so the client's handshake runs in between.
    static let paired = """
        name: paired
        timeouts: {connect: 10s, expect: 10s, handshake: 10s}
        steps:
          - listen: {name: fake}
          - connect: {host: '${fake.host}', port: '${fake.port}'}
          - accept: {name: peer}
          - {on: peer, send: {line: '220 fake.test ESMTP scripted'}}
          - {on: main, expect: {pattern: '^220 fake\\.test [^\\r\\n]*\\r\\n'}}
          - {on: main, send: {line: 'EHLO client.test'}}
          - {on: peer, expect: {pattern: '^EHLO (?<client_name>[^\\r\\n]+)\\r\\n'}}
          - {on: peer, send: {parts: [{line: '250-fake.test'}, {line: '250 STARTTLS'}]}}
          - {on: main, expect: {pattern: '^250 STARTTLS\\r\\n'}}
          - {on: main, send: {line: STARTTLS}}
          - {on: peer, expect: {pattern: '^STARTTLS\\r\\n'}}
          - {on: peer, starttls: {go-ahead: '220 2.0.0 go ahead', certificate: \(certs)/server.pem, key: \(certs)/server-key.pem}}
          - {on: main, starttls: {command: '', ca-file: \(certs)/ca.pem, server-name: localhost}}
          - {on: main, assert: {tls: true, verified: true, variables: {client_name: client.test}}}
          - {on: peer, assert: {tls: true}}
          - {on: main, send: {line: QUIT}}
          - {on: peer, expect: {pattern: '^QUIT\\r\\n'}}
          - {on: peer, send: {line: '221 bye'}}
          - {on: main, expect: {pattern: '^221 '}}
        """

    @Test("a scenario plays both sides of a STARTTLS dialog, the TLS session verified on the client side")
    func bothSides() async throws {
        let (result, events) = try await run(Self.paired)
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        #expect(notes(events).contains { $0.hasPrefix("listening on 127.0.0.1:") && $0.hasSuffix("(fake)") })
        #expect(notes(events).contains { $0.hasPrefix("accepted a client from 127.0.0.1:") })
        let established = events.filter { if case .connection(_, .tlsEstablished) = $0 { true } else { false } }
        #expect(established.count == 2, "one session on each side")
    }

    @Test("a server handshake that fails is reported at its starttls step, by the next step on that connection")
    func serverHandshakeFails() async throws {
        // The client answers the go-ahead with plaintext instead of a ClientHello.
        let yaml = Self.paired.replacingOccurrences(
            of: "  - {on: main, starttls: {command: '', ca-file: \(certs)/ca.pem, server-name: localhost}}\n",
            with: "  - {on: main, send: {line: 'HELLO in plain text'}}\n"
        ).replacingOccurrences(of: "  - {on: main, assert: {tls: true, verified: true, variables: {client_name: client.test}}}\n", with: "")
        let (result, _) = try await run(yaml)
        let failure = try #require(result.failure)
        #expect(failure.location.line == 15, "the server's starttls: \(failure)")
        // Playing the server, a handshake the client broke off is the client's failure.
        #expect(failure.kind == .expectation)
        #expect(failure.message.hasPrefix("the client did not finish the TLS handshake with the certificate server.pem: "), "\(failure)")
    }

    @Test("accept without a client fails after its deadline, naming the listener")
    func acceptTimesOut() async throws {
        let (result, _) = try await run(
            """
            name: lonely
            steps:
              - listen: {name: fake}
              - accept: {timeout: 300ms}
            """)
        let failure = try #require(result.failure)
        #expect(failure.kind == .expectation)
        #expect(failure.message.contains("no client connected to 127.0.0.1:"), "\(failure.message)")
        #expect(failure.message.contains("(fake)"))
        #expect(failure.deadline == .milliseconds(300))
    }

    @Test("accept before listen, and starttls credentials on a client connection, are errors that say so")
    func misuse() async throws {
        let (early, _) = try await run("name: a\nsteps:\n  - accept:\n")
        #expect(early.failure?.message == "'accept' needs a 'listen' step first")
        let (client, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - starttls: {certificate: \(certs)/server.pem, key: \(certs)/server-key.pem}
                """))
        #expect(client.failure?.message.contains("are for 'starttls' on an accepted connection") == true)
    }

    @Test("Python's smtplib, a client no one here wrote, against a scripted server: EHLO, STARTTLS, EHLO again under TLS, QUIT")
    func smtplibClient() async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        let client = """
            import smtplib, ssl, sys
            context = ssl.create_default_context(cafile=sys.argv[2])
            with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.test", timeout=30) as smtp:
                smtp.starttls(context=context)
                code, _ = smtp.ehlo()
                assert code == 250, code
            print("client done")
            """
        // smtplib writes its commands in lower case ("ehlo", "quit"), which RFC 5321 allows: the
        // script matches them without regard to case.
        let yaml = """
            name: scripted smtp server
            timeouts: {connect: 30s, expect: 30s, handshake: 30s}
            steps:
              - listen: {name: fake}
              - accept:
              - send: {line: '220 fake.test ESMTP scripted'}
              - expect: {pattern: '^EHLO client\\.test\\r\\n', case-insensitive: true}
              - send: {parts: [{line: '250-fake.test'}, {line: '250 STARTTLS'}]}
              - expect: {pattern: '^STARTTLS\\r\\n', case-insensitive: true}
              - starttls: {go-ahead: '220 2.0.0 go ahead', certificate: \(certs)/server.pem, key: \(certs)/server-key.pem}
              - expect: {pattern: '^EHLO client\\.test\\r\\n', case-insensitive: true}
              - assert: {tls: true, tls-version: TLS1.3}
              - send: {line: '250 fake.test'}
              - expect: {pattern: '^QUIT\\r\\n', case-insensitive: true}
              - send: {line: '221 2.0.0 bye'}
            """
        let scenario = try ScenarioRunner.loader(serverProvider: nil).load(yaml: yaml, file: "/virtual/s.yaml")
        let started = Collector<ExternalProcess>()
        let result = await ScenarioRunner(environment: [:]).run(scenario) { event in
            guard case .note(let text) = event, text.hasPrefix("listening on 127.0.0.1:"),
                let port = text.dropFirst("listening on 127.0.0.1:".count).split(separator: " ").first
            else { return }
            if let process = try? ExternalProcess(["python3", "-c", client, String(port), "\(certs)/ca.pem"], mergingStandardError: true) {
                started.add(process)
            }
        }
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        let process = try #require(started.all.first)
        let status = try await process.waitForExit(seconds: 20)
        let output = String(decoding: process.stdout, as: UTF8.self)
        #expect(status == 0, "\(output)")
        #expect(output.contains("client done"))
    }
}
