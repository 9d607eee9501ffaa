// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyTestSupport
import Runner
import Scenario
import Testing

/// `respond` and the server-side `handshake: refused | either` and `inject`, with both sides of
/// the dialog in one scenario: the server's steps on `peer`, the client's on `main`.
@Suite("Scripted servers: respond rules, refused and injected handshakes")
struct RespondStepTests {
    /// A listener, a client connected to it, the server's greeting read: `steps` follow.
    static func paired(_ steps: String) -> String {
        """
        name: respond
        timeouts: {connect: 10s, expect: 5s, handshake: 5s}
        steps:
          - listen: {name: fake}
          - connect: {host: '${fake.host}', port: '${fake.port}'}
          - accept: {name: peer}
          - {on: peer, send: {line: '220 fake.test ESMTP scripted'}}
          - {on: main, expect: {pattern: '^220 [^\\r\\n]*\\r\\n'}}
        \(steps)
        """
    }

    @Test("rules answer line by line, captures become variables, then-exchanges follow, end stops the step")
    func answers() async throws {
        let (result, _) = try await run(
            Self.paired(
                """
                  # One write with the whole dialog: the steps of one scenario run one after another.
                  - {on: main, send: {parts: [{line: 'EHLO client.test'}, {line: 'DATA'}, {line: 'Subject: x'}, {line: ''}, {line: 'hi'}, {line: '.'}, {line: 'QUIT'}]}}
                  - on: peer
                    respond:
                      - {when: '^EHLO (?<name>[^\\r\\n]+)\\r\\n', send: ['250-fake.test greets ${name}', '250 8BITMIME']}
                      - {when: '^DATA\\r\\n', send: '354 go on', then: '\\r\\n\\.\\r\\n', after: '250 queued'}
                      - {when: '^QUIT\\r\\n', send: '221 bye', end: true}
                  - {on: main, expect: {pattern: '250-fake\\.test greets client\\.test\\r\\n250 8BITMIME\\r\\n354 go on\\r\\n250 queued\\r\\n221 bye\\r\\n'}}
                  - {on: peer, assert: {variables: {name: client.test, respond.line: QUIT}}}
                """))
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
    }

    @Test("a fail rule fails the step with its message; a line no rule matches fails naming the line")
    func failures() async throws {
        let (failed, _) = try await run(
            Self.paired(
                """
                  - {on: main, send: {line: 'AUTH PLAIN AGFsaWNlAHNlY3JldA=='}}
                  - on: peer
                    respond:
                      - {when: '^QUIT', send: '221 bye', end: true}
                      - {when: '^(?<command>[A-Z]+)', fail: 'the client sent ${command} in plain text'}
                """))
        #expect(failed.failure?.message == "the client sent AUTH in plain text")
        #expect(failed.failure?.location.line == 13, "the rule's line: \(String(describing: failed.failure))")
        let (unmatched, _) = try await run(
            Self.paired(
                """
                  - {on: main, send: {line: 'HELP me'}}
                  - on: peer
                    respond:
                      - {when: '^QUIT', send: '221 bye', end: true}
                """))
        #expect(unmatched.failure?.message == "the client sent 'HELP me\\r\\n', which no rule of 'respond' answers")
    }

    @Test("the client closing ends the step, or fails it with on-close")
    func closing() async throws {
        let (ended, events) = try await run(
            Self.paired(
                """
                  - {on: main, close: }
                  - on: peer
                    respond:
                      - {when: '^QUIT', send: '221 bye', end: true}
                  - {on: peer, assert: {variables: {respond.closed: 'true'}}}
                """))
        #expect(ended.outcome == .passed, "\(String(describing: ended.failure))")
        #expect(notes(events).contains("the client closed the connection after 0 answered lines"))
        let (failed, _) = try await run(
            Self.paired(
                """
                  - {on: main, close: }
                  - on: peer
                    respond:
                      on-close: 'the client left without QUIT'
                      rules:
                        - {when: '^QUIT', send: '221 bye', end: true}
                """))
        #expect(failed.failure?.message == "the client left without QUIT")
    }

    @Test("silence: a client that does not wait for the answer fails the rule")
    func silence() async throws {
        let (result, _) = try await run(
            Self.paired(
                """
                  - {on: main, send: {parts: [{line: 'EHLO client.test'}, {line: 'MAIL FROM:<a@b>'}]}}
                  - on: peer
                    respond:
                      - {when: '^EHLO ', silence: 300ms, send: '250 fake.test', end: true}
                """))
        let failure = try #require(result.failure)
        #expect(failure.message.hasPrefix("the client did not wait for the answer to 'EHLO client.test\\r\\n'"), "\(failure.message)")
    }

    /// The server side of STARTTLS with a certificate, then the client's side with `client`.
    static func handshake(certificate: String, mode: String, client: String, after: String = "") -> String {
        paired(
            """
              - {on: main, send: {line: STARTTLS}}
              - {on: peer, expect: {pattern: '^STARTTLS\\r\\n'}}
              - {on: peer, starttls: {go-ahead: '220 go ahead', certificate: \(certs)/\(certificate).pem, key: \(certs)/\(certificate)-key.pem, handshake: \(mode)}}
            \(client)
            \(after)
            """)
    }

    @Test("handshake: refused passes when the client aborts the handshake")
    func refusedByAbort() async throws {
        let (result, events) = try await run(
            Self.handshake(
                certificate: "expired", mode: "refused",
                client: "  - {on: main, starttls: {command: '', ca-file: \(certs)/ca.pem, server-name: localhost, handshake: fail}}"))
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        #expect(notes(events).contains { $0.hasPrefix("the TLS handshake failed, as the step expects") })
    }

    @Test("handshake: refused passes a client that closes right after the handshake, and fails one that goes on")
    func refusedAfterHandshake() async throws {
        let closing = Self.handshake(
            certificate: "wrong-host", mode: "refused",
            client: "  - {on: main, starttls: {command: '', insecure: true}}\n  - {on: main, close: }",
            after: "  - {on: peer, assert: {variables: {starttls: refused}}}")
        let (closed, events) = try await run(closing)
        #expect(closed.outcome == .passed, "\(String(describing: closed.failure))")
        #expect(notes(events).contains { $0.contains("refused the certificate wrong-host.pem once it had checked it") })
        let going = Self.handshake(
            certificate: "wrong-host", mode: "refused",
            client: "  - {on: main, starttls: {command: '', insecure: true}}\n  - {on: main, send: {line: 'EHLO client.test'}}",
            after: "  - {on: peer, expect: {pattern: '^EHLO'}}")
        let (accepted, _) = try await run(going)
        let failure = try #require(accepted.failure)
        #expect(
            failure.message
                == "the client accepted the certificate wrong-host.pem, which it must refuse: after the handshake it sent 'EHLO client.test\\r\\n'"
        )
        #expect(failure.location.line == 11, "the server's starttls")
    }

    @Test("handshake: either ends the case, passed, when the client refuses; goes on when it does not")
    func either() async throws {
        let refused = Self.handshake(
            certificate: "server", mode: "either",
            client: "  - {on: main, send: {line: 'not a ClientHello'}}",
            after: "  - {on: peer, expect: {pattern: 'never reached'}}")
        let (ended, events) = try await run(refused)
        #expect(ended.outcome == .passed, "\(String(describing: ended.failure))")
        #expect(notes(events).contains("the client refused the TLS handshake, which this step allows: the rest of the case does not apply"))
        let upgraded = Self.handshake(
            certificate: "server", mode: "either",
            client: "  - {on: main, starttls: {command: '', ca-file: \(certs)/ca.pem, server-name: localhost}}",
            after: "  - {on: peer, assert: {tls: true, variables: {starttls: upgraded}}}")
        let (passed, _) = try await run(upgraded)
        #expect(passed.outcome == .passed, "\(String(describing: passed.failure))")
    }

    @Test("playing the server, the client's offer is recorded: versions, ALPN, SNI")
    func clientOffer() async throws {
        let yaml = Self.paired(
            """
              - {on: main, send: {line: STARTTLS}}
              - {on: peer, expect: {pattern: '^STARTTLS\\r\\n'}}
              - {on: peer, starttls: {go-ahead: '220 go ahead', alpn: [smtp], certificate: \(certs)/server.pem, key: \(certs)/server-key.pem}}
              - {on: main, starttls: {command: '', ca-file: \(certs)/ca.pem, server-name: localhost, alpn: [imap, smtp], priority: 'NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2'}}
              - {on: peer, assert: {offered-versions: {has: [TLS1.3, TLS1.2], lacks: [TLS1.1, TLS1.0]}, offered-alpn: {has: [imap, smtp]}, sni: localhost}}
              - {on: main, assert: {sni: localhost}}
              - {on: peer, assert: {offered-alpn: {lacks: [smtp]}}}
            """)
        let (result, events) = try await run(yaml)
        let failure = try #require(result.failure, "the last assertion is wrong on purpose")
        #expect(failure.message == "assertion failed: offered-alpn is imap smtp, expected to lack smtp", "\(failure)")
        #expect(result.stepsPassed == 11, "\(failure)")
        let offered = events.compactMap { event -> TLSFacts.OfferedTLS? in
            if case .connection(_, .tlsEstablished(let facts)) = event { return facts.clientOffered }
            return nil
        }
        #expect(
            offered == [
                TLSFacts.OfferedTLS(
                    versions: ["TLS1.3", "TLS1.2"], alpn: ["imap", "smtp"], cipherSuiteCount: offered.first?.cipherSuiteCount ?? 0)
            ])
    }

    @Test("inject: the bytes behind the go-ahead are discarded by Parley's own client and reported")
    func injected() async throws {
        let yaml = Self.paired(
            """
              - {on: main, send: {line: STARTTLS}}
              - {on: peer, expect: {pattern: '^STARTTLS\\r\\n'}}
              - {on: peer, starttls: {go-ahead: '220 go ahead', inject: "250 injected\\r\\n", certificate: \(certs)/server.pem, key: \(certs)/server-key.pem}}
              - {on: main, starttls: {command: '', ca-file: \(certs)/ca.pem, server-name: localhost}}
              - {on: main, assert: {tls: true, discarded-bytes: 14}}
              - {on: peer, assert: {tls: true}}
            """)
        let (result, events) = try await run(yaml)
        #expect(result.outcome == .passed, "\(String(describing: result.failure))")
        #expect(notes(events).contains { $0.hasPrefix("14 bytes injected right behind the go-ahead") })
        let accepted = events.contains { if case .connection(_, .accepted) = $0 { true } else { false } }
        #expect(accepted, "the server side's connection is reported as accepted")
    }
}
