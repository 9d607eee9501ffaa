// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServerProvider
import MailServers
import NetworkStream
import ParleyTestSupport
import Runner
import Scenario
import Testing

/// The sent bytes of every connection event, joined.
func sentText(_ events: [RunEvent]) -> String {
    events.compactMap { event -> String? in
        if case .connection(_, .sent(let bytes, _)) = event { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }.joined()
}

/// The received bytes of every connection event, joined.
func receivedText(_ events: [RunEvent]) -> String {
    events.compactMap { event -> String? in
        if case .connection(_, .received(let bytes, _)) = event { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }.joined()
}

@Suite("Scenario language at run time")
struct LanguageTests {
    @Test("the smtp preset: greeting, capability before and after TLS, and capability assertions")
    func presetCapabilities() async throws {
        let (result, events) = try await run(
            scenarioText(
                """
                  - connect:
                  - greeting:
                  - assert: {greeting: '^220 mail\\.test '}
                  - capability:
                  - assert: {capabilities: {has: [STARTTLS, PIPELINING]}}
                  - starttls: {ca-file: \(certs)/ca.pem, server-name: localhost}
                  - capability:
                  - assert:
                      capabilities-before-tls: {has: STARTTLS}
                      capabilities-after-tls: {lacks: STARTTLS, has: SMTPUTF8}
                """
            ).replacingOccurrences(of: "name: test\n", with: "name: test\npreset: smtp\n"))
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        #expect(sentText(events).contains("EHLO parley.test\r\n"))
    }

    @Test("a capability assertion that does not hold names the word and the words found")
    func capabilityMismatch() async throws {
        let (result, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - greeting:
                  - capability:
                  - assert: {capabilities: {has: AUTH}}
                """
            ).replacingOccurrences(of: "name: test\n", with: "name: test\npreset: smtp\n"))
        let failure = try #require(result.failure)
        #expect(result.outcome == .failed)
        #expect(failure.kind == .assertion)
        #expect(failure.message.contains("expected to include AUTH"))
        #expect(failure.actual?.contains("STARTTLS") == true)
    }

    @Test("parts without a delay go out in one write; with a delay, one write each")
    func coalescedAndSplit() async throws {
        let (_, together) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - send: {parts: [{line: NOOP}, {line: NOOP}]}
                  - expect: '^250 .*\\r\\n250 .*\\r\\n'
                """))
        let writes = together.compactMap { event -> [UInt8]? in
            if case .connection(_, .sent(let bytes, _)) = event { return bytes }
            return nil
        }
        #expect(writes == [Array("NOOP\r\nNOOP\r\n".utf8)])
        let (result, apart) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - send: {parts: [{line: NOOP}, {hex: '4e 4f 4f 50 0d 0a'}], delay: 50ms}
                  - expect: '^250 .*\\r\\n250 .*\\r\\n'
                """))
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        let split = apart.compactMap { event -> [UInt8]? in
            if case .connection(_, .sent(let bytes, _)) = event { return bytes }
            return nil
        }
        #expect(split == [Array("NOOP\r\n".utf8), Array("NOOP\r\n".utf8)])
    }

    @Test("named captures become variables that later steps use and assert")
    func captures() async throws {
        let (result, events) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 (?<domain>[a-z.]+) ESMTP'
                  - send: {line: 'EHLO ${domain}'}
                  - expect: '^250-(?<who>\\S+) greets (?<me>\\S+)\\r\\n'
                  - set: {greeting-seen: 'yes, ${who}'}
                  - assert: {variables: {domain: mail.test, me: mail.test, greeting-seen: 'yes, mail.test'}}
                """))
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        #expect(sentText(events).contains("EHLO mail.test\r\n"))
    }

    @Test("secrets and AUTH credentials are masked in every event; the server still gets them")
    func secrets() async throws {
        let yaml = scenarioText(
            """
              - connect:
              - expect: '^220 .*\\r\\n'
              - send: {line: 'NOOP ${password}'}
              - send: {line: 'AUTH PLAIN AGFsaWNlAHNlY3JldA=='}
              - send: {line: 'PASS hunter22'}
              - send: {line: 'NOOP classified', secret: true}
              - expect: '(?:^[0-9]{3} [^\\r\\n]*\\r\\n){4}'
              - expect: {pattern: '^250 nope', timeout: 500ms}
            """
        )
        .replacingOccurrences(of: "name: test\n", with: "name: test\nvariables: {password: s3cr3t-value}\nsecrets: [password]\n")
        let (result, events) = try await run(yaml)
        let sent = sentText(events)
        #expect(!sent.contains("s3cr3t-value"))
        #expect(sent.contains("NOOP ****\r\n"))
        #expect(sent.contains("AUTH PLAIN ****\r\n"))
        #expect(sent.contains("PASS ****\r\n"))
        #expect(!sent.contains("classified"))
        #expect(!sent.contains("AGFsaWNlAHNlY3JldA=="))
        // Only the last step fails: every reply to the four sends arrived.
        #expect(result.outcome == .failed)
        #expect(result.stepsPassed == 7, "\(String(describing: result.failure))")
        let tail = String(decoding: result.failure?.tail ?? [], as: UTF8.self)
        #expect(!tail.contains("s3cr3t-value"))
    }

    @Test("two named connections run side by side; 'on' picks one")
    func namedConnections() async throws {
        let (result, _) = try await run(
            scenarioText(
                """
                  - connect: {name: first}
                  - connect: {name: second}
                  - expect: '^220 .*\\r\\n'
                  - on: first
                    expect: '^220 .*\\r\\n'
                  - on: first
                    starttls: {ca-file: \(certs)/ca.pem, server-name: localhost}
                  - on: first
                    assert: {tls: true}
                  - assert: {tls: false, status: open}
                  - on: second
                    close:
                  - on: second
                    assert: {status: closed}
                """))
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
    }

    @Test("fragments expand in place, keeping their own locations")
    func fragments() async throws {
        let yaml = """
            name: fragments
            server: {protocol: smtp, certificate: \(certs)/server.pem, key: \(certs)/server-key.pem}
            fragments:
              hello:
                - expect: '^220 .*\\r\\n'
                - send: {line: EHLO me.test}
                - expect: {pattern: '^250 nope', timeout: 300ms}
            timeouts: {expect: 10s}
            steps:
              - connect:
              - use: hello
            """
        let (result, _) = try await run(yaml)
        #expect(result.stepCount == 4)
        #expect(result.outcome == .failed)
        #expect(result.failure?.location.line == 7)
    }

    @Test("nothing-within passes on a quiet connection and fails at the first byte, showing it")
    func nothingWithin() async throws {
        let (quiet, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - expect: {nothing-within: 200ms}
                """))
        #expect(quiet.outcome == .passed, "\(String(describing: quiet.failure))")
        let (noisy, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - send: {line: NOOP}
                  - expect: {nothing-within: 5s}
                """))
        let failure = try #require(noisy.failure)
        #expect(noisy.outcome == .failed)
        #expect(failure.wait == .silence)
        // The reply is either already buffered when the quiet period starts or arrives during it.
        #expect(
            failure.message.contains("bytes arrived after the last match, where nothing more should")
                || failure.message.contains("bytes arrived during the 5s that should have been quiet"),
            "\(failure.message)"
        )
        #expect(String(decoding: failure.tail ?? [], as: UTF8.self) == "250 2.0.0 OK\r\n")
    }

    @Test("peer-closes passes when the server hangs up, and names its deadline when it does not")
    func peerCloses() async throws {
        let (closed, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - send: {line: QUIT}
                  - expect: {peer-closes: true}
                  - assert: {status: closed}
                """))
        #expect(closed.outcome == .passed, "\(String(describing: closed.failure))")
        let (open, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: {peer-closes: true, timeout: 300ms}
                """))
        #expect(open.outcome == .failed)
        #expect(open.failure?.wait == .peerClose)
        #expect(open.failure?.deadline == .milliseconds(300))
    }

    @Test("idle-timeout fails an expect when the server goes quiet, before the overall deadline")
    func idleTimeout() async throws {
        let (result, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 '
                  - expect: {pattern: '^599 never', timeout: 30s, idle-timeout: 300ms}
                """))
        let failure = try #require(result.failure)
        #expect(result.outcome == .failed)
        #expect(failure.deadline == .milliseconds(300))
        #expect(failure.message.contains("nothing arrived for 0.3s (the idle timeout)"))
        #expect(String(decoding: failure.tail ?? [], as: UTF8.self).hasPrefix("mail.test ESMTP"))
    }

    @Test("stop holds incoming bytes back (nothing is delivered), continue delivers them")
    func stopAndContinue() async throws {
        let (result, events) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - stop:
                  - send: {line: NOOP}
                  - expect: {nothing-within: 300ms}
                  - continue:
                  - expect: '^250 '
                """))
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        #expect(receivedText(events).contains("250 2.0.0 OK"))
        // Without stop, the same reply arrives during the quiet period and fails it.
        let (unstopped, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - send: {line: NOOP}
                  - expect: {nothing-within: 10s}
                """))
        #expect(unstopped.failure?.wait == .silence, "\(String(describing: unstopped))")
    }

    @Test("nothing-within fails at the first byte that arrives during the period")
    func silenceBrokenLater() async throws {
        // The greeting comes 2 s after the connect, inside the 5 s that should stay quiet.
        let yaml = scenarioText(
            """
              - connect:
              - expect: {nothing-within: 5s}
            """
        ).replacingOccurrences(of: "  starttls: true\n", with: "  starttls: true\n  faults: [slow-greeting=2]\n")
        let (result, _) = try await run(yaml)
        let failure = try #require(result.failure)
        #expect(failure.wait == .silence)
        // Normally the greeting arrives during the quiet period; on a very slow machine (a
        // sanitizer build) it may already be buffered when the period starts. Both fail the wait.
        #expect(
            failure.message.contains("arrived during the 5s that should have been quiet")
                || failure.message.contains("arrived after the last match, where nothing more should"),
            "\(failure.message)"
        )
        #expect(String(decoding: failure.tail ?? [], as: UTF8.self).hasPrefix("220 "))
    }

    @Test("open (open-network-stream) with the smtp preset: STARTTLS when offered, the result assertable")
    func openNetwork() async throws {
        let (result, events) = try await run(
            scenarioText(
                """
                  - open: {type: network, ca-file: \(certs)/ca.pem, server-name: localhost}
                  - assert:
                      stream-type: tls
                      tls: true
                      verified: true
                      greeting: '^220 mail\\.test'
                      capabilities-after-tls: {lacks: STARTTLS}
                      variables: {open.type: tls}
                  - send: {line: QUIT}
                  - expect: '^221 '
                """
            ).replacingOccurrences(of: "name: test\n", with: "name: test\npreset: smtp\n"))
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        #expect(sentText(events).contains("STARTTLS\r\n"))
    }

    @Test("open with the imap preset: the untagged greeting and the tagged STARTTLS reply both end the command; upgraded")
    func openIMAP() async throws {
        let yaml = scenarioText(
            """
              - open: {type: starttls, ca-file: \(certs)/ca.pem, server-name: localhost, timeout: 5s}
              - assert:
                  stream-type: tls
                  verified: true
                  greeting: '^\\* OK'
                  capabilities-after-tls: {lacks: STARTTLS}
            """
        )
        .replacingOccurrences(of: "name: test\n", with: "name: test\npreset: imap\n")
        .replacingOccurrences(of: "protocol: smtp", with: "protocol: imap")
        let (result, events) = try await run(yaml)
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        #expect(sentText(events).contains("P2 STARTTLS\r\n"))
    }

    @Test("open type starttls without STARTTLS: outcome fail passes with the manual's error; succeed fails")
    func openStarttlsRequired() async throws {
        let base = scenarioText(
            """
              - open: {type: starttls, ca-file: \(certs)/ca.pem, server-name: localhost OUTCOME}
              - assert: {stream-error: 'does not support TLS'}
            """
        )
        .replacingOccurrences(of: "name: test\n", with: "name: test\npreset: smtp\n")
        .replacingOccurrences(of: "  key: \(certs)/server-key.pem\n", with: "  key: \(certs)/server-key.pem\n  faults: [no-starttls]\n")
        let (expected, _) = try await run(base.replacingOccurrences(of: " OUTCOME", with: ", outcome: fail"))
        #expect(expected.outcome == .passed, "\(String(describing: expected.failure))")
        let (unexpected, _) = try await run(base.replacingOccurrences(of: " OUTCOME", with: ""))
        #expect(unexpected.outcome == .error)
        #expect(unexpected.failure?.message.contains("gave no connection") == true)
    }

    @Test("open type network against a server without STARTTLS stays plain and open")
    func openNetworkPlain() async throws {
        let (result, _) = try await run(
            scenarioText(
                """
                  - open: {type: network}
                  - assert: {stream-type: plain, status: open, tls: false}
                """
            )
            .replacingOccurrences(of: "name: test\n", with: "name: test\npreset: smtp\n")
            .replacingOccurrences(of: "  key: \(certs)/server-key.pem\n", with: "  key: \(certs)/server-key.pem\n  faults: [no-starttls]\n")
        )
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
    }

    @Test(
        "TLS file paths may use variables: relative ones from the command line against the working directory, others against the scenario's folder"
    )
    func templatedPaths() async throws {
        let yaml = scenarioText(
            """
              - connect:
              - expect: '^220 .*\\r\\n'
              - starttls: {ca-file: '${CERTS}/ca.pem', server-name: localhost}
              - assert: {verified: true}
            """)
        let scenario = try ScenarioRunner.loader(serverProvider: MailServerProvider()).load(yaml: yaml, file: "/virtual/t.yaml")
        let events = Events()
        let absolute = await ScenarioRunner(variables: ["CERTS": certs], environment: [:], serverProvider: MailServerProvider()).run(
            scenario
        ) { events.add($0) }
        #expect(absolute.outcome == .passed, "\(String(describing: absolute.failure))")
        // Relative and written in the scenario: resolved against the scenario's folder.
        let relative = try ScenarioRunner.loader(serverProvider: MailServerProvider()).load(
            yaml: "variables: {CERTS: '.'}\n" + yaml, file: certs + "/scenario.yaml")
        let again = await ScenarioRunner(environment: [:], serverProvider: MailServerProvider()).run(relative) { _ in }
        #expect(again.outcome == .passed, "\(String(describing: again.failure))")
        // Relative and given on the command line: resolved against the working directory.
        let cwd = FileManager.default.currentDirectoryPath + "/"
        if certs.hasPrefix(cwd) {
            let fromCommandLine = await ScenarioRunner(
                variables: ["CERTS": String(certs.dropFirst(cwd.count))], environment: [:], serverProvider: MailServerProvider()
            ).run(scenario) { _ in }
            #expect(fromCommandLine.outcome == .passed, "\(String(describing: fromCommandLine.failure))")
        }
        let unset = await ScenarioRunner(environment: [:], serverProvider: MailServerProvider()).run(scenario) { _ in }
        #expect(unset.failure?.message.contains("variable 'CERTS' is not set") == true)
    }

    @Test("min-tls-version accepts the version and later ones, and names both when it fails")
    func minimumVersion() async throws {
        let (result, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - starttls: {ca-file: \(certs)/ca.pem, server-name: localhost, priority: 'NORMAL:-VERS-ALL:+VERS-TLS1.2'}
                  - assert: {tls-version: TLS1.2, min-tls-version: TLS1.2}
                  - assert: {min-tls-version: TLS1.3}
                """))
        #expect(result.outcome == .failed)
        #expect(result.stepsPassed == 4)
        #expect(result.failure?.message == "assertion failed: min-tls-version is TLS1.2, expected TLS1.3 or later")
    }

    @Test("sleep waits without failing; the connection stays open")
    func sleep() async throws {
        let (result, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - sleep: 50ms
                  - expect: '^220 '
                """))
        #expect(result.outcome == .passed)
    }

    @Test("a base64 part sends the encoding of the expanded text; AUTH PLAIN with it succeeds only with the right password")
    func base64AuthPlain() async throws {
        func scenario(_ password: String) -> String {
            """
            name: auth
            variables: {user: alice, password: '\(password)'}
            secrets: [password]
            server:
              protocol: smtp
              certificate: \(certs)/server.pem
              key: \(certs)/server-key.pem
              users: {alice: secret}
            timeouts: {connect: 30s, expect: 30s, handshake: 30s}
            steps:
              - connect:
              - expect: '^220 .*\\r\\n'
              - send: {line: EHLO client.test}
              - expect: '^250 .*\\r\\n'
              - starttls: {ca-file: \(certs)/ca.pem, server-name: localhost}
              - send: {line: EHLO client.test}
              - expect: '^250 .*\\r\\n'
              - send: {parts: ['AUTH PLAIN ', {base64: "\\0${user}\\0${password}"}, "\\r\\n"]}
              - expect: '^(?<reply>[0-9]{3}) '
              - assert: {variables: {reply: '235'}}
            """
        }
        let (right, events) = try await run(scenario("secret"))
        #expect(right.outcome == .passed, "\(String(describing: right.failure))")
        #expect(sentText(events).contains("AUTH PLAIN ****\r\n"))
        #expect(!sentText(events).contains("AGFsaWNlAHNlY3JldA=="))
        let (wrong, _) = try await run(scenario("wrong"))
        #expect(wrong.outcome == .failed)
        #expect(wrong.failure?.message.contains("535") == true, "\(String(describing: wrong.failure))")
    }

    @Test("a base64 part: the exact encoding on the wire, and the encoding of a secret masked in every line")
    func base64Masking() async throws {
        // NOOP takes (and ignores) an argument: the line shows what was encoded.
        let (plain, sent) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - send: {parts: ['NOOP ', {base64: "\\0alice\\0${word}"}, "\\r\\n"]}
                  - expect: '^250 '
                  - send: {base64: 'ab'}
                  - send: {line: ''}
                  - expect: '^5[0-9]{2} '
                """), variables: ["word": "secret"])
        #expect(plain.outcome == .passed, "\(String(describing: plain.failure))")
        #expect(sentText(sent) == "NOOP AGFsaWNlAHNlY3JldA==\r\nYWI=\r\n")
        let (masked, hidden) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: '^220 .*\\r\\n'
                  - send: {parts: ['NOOP ', {base64: "\\0alice\\0${word}"}, "\\r\\n"]}
                  - expect: '^250 '
                """
            ).replacingOccurrences(of: "name: test\n", with: "name: test\nsecrets: [word]\n"), variables: ["word": "secret"])
        #expect(masked.outcome == .passed, "\(String(describing: masked.failure))")
        #expect(sentText(hidden) == "NOOP ****\r\n")
    }
}
