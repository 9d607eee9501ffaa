// SPDX-License-Identifier: Apache-2.0
import MailServers
import ParleyTestSupport
import Testing

@Suite("POP3ServerSession")
struct POP3ServerSessionTests {
    /// A reply action for an ASCII test string.
    func ok(_ text: String) -> MailSessionAction { .reply(bytes(text)) }

    func greeted(_ options: MailSessionOptions = .init(offerStartTLS: false)) -> POP3ServerSession {
        var session = POP3ServerSession(options: options)
        #expect(session.greeting() == [ok("+OK mail.test POP3 Parley fake server ready\r\n")])
        return session
    }

    @Test("CAPA before TLS lists STLS and not USER; after STLS it lists USER and not STLS")
    func capabilitiesAroundTLS() {
        var session = greeted(.init())
        #expect(
            session.receive(line: bytes("CAPA"))
                == [
                    ok(
                        "+OK Capability list follows\r\nSTLS\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nIMPLEMENTATION Parley-fake-server\r\n.\r\n"
                    )
                ]
        )
        #expect(session.receive(line: bytes("USER alice")) == [ok("-ERR [AUTH] USER is disabled before STLS\r\n")])
        #expect(session.receive(line: bytes("STLS")) == [ok("+OK Begin TLS negotiation\r\n"), .startTLS])
        #expect(session.receive(line: bytes("USER alice")) == [], "pipelined plaintext is discarded")
        session.tlsStarted()
        #expect(
            session.receive(line: bytes("CAPA"))
                == [
                    ok(
                        "+OK Capability list follows\r\nUSER\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nIMPLEMENTATION Parley-fake-server\r\n.\r\n"
                    )
                ]
        )
        #expect(session.receive(line: bytes("STLS")) == [ok("-ERR TLS already active\r\n")])
    }

    @Test("the log shows USER but not the password of PASS")
    func loggableCredentials() {
        let session = greeted()
        #expect(session.loggable(bytes("USER alice")) == bytes("USER alice"))
        #expect(session.loggable(bytes("pass secret")) == bytes("pass ****"))
        #expect(session.loggable(bytes("PASS")) == bytes("PASS"))
    }

    @Test("USER/PASS, STAT, LIST, RETR with dot-stuffing, DELE, QUIT")
    func transaction() {
        var session = greeted()
        let message = FakeMailServer.Configuration.sampleMailbox[0]
        #expect(session.receive(line: bytes("PASS x")) == [ok("-ERR send USER first\r\n")])
        #expect(session.receive(line: bytes("USER alice")) == [ok("+OK send PASS\r\n")])
        #expect(session.receive(line: bytes("PASS wrong")) == [ok("-ERR [AUTH] authentication failed\r\n")])
        _ = session.receive(line: bytes("USER alice"))
        #expect(session.receive(line: bytes("PASS secret")) == [ok("+OK logged in, 1 messages\r\n")])
        #expect(session.receive(line: bytes("STAT")) == [ok("+OK 1 \(message.count)\r\n")])
        #expect(session.receive(line: bytes("LIST")) == [ok("+OK 1 messages\r\n1 \(message.count)\r\n.\r\n")])
        #expect(session.receive(line: bytes("LIST 2")) == [ok("-ERR no such message\r\n")])
        guard case .reply(let retr) = session.receive(line: bytes("RETR 1")).first else {
            Issue.record("no RETR reply")
            return
        }
        #expect(retr.starts(with: bytes("+OK \(message.count) octets\r\nFrom: ")))
        #expect(retr.contains("\r\n..this line starts with a dot.\r\n"))
        #expect(retr.suffix(9) == bytes("Bye.\r\n.\r\n"))
        #expect(session.receive(line: bytes("DELE 1")) == [ok("+OK message 1 deleted\r\n")])
        #expect(session.receive(line: bytes("RETR 1")) == [ok("-ERR no such message\r\n")])
        #expect(session.receive(line: bytes("RSET")) == [ok("+OK maildrop has 1 messages\r\n")])
        #expect(session.receive(line: bytes("NOOP")) == [ok("+OK\r\n")])
        #expect(session.receive(line: bytes("QUIT")) == [ok("+OK mail.test Bye\r\n"), .close])
        #expect(session.isClosed)
    }

    @Test("refuse-starttls lists STLS and answers -ERR")
    func refused() {
        var session = greeted(.init(refuseStartTLS: true))
        #expect(session.receive(line: bytes("STLS")) == [ok("-ERR TLS not available\r\n")])
    }
}
