import ParleyTestSupport
import Testing

// SPDX-License-Identifier: Apache-2.0
@testable import MailServers

@Suite("IMAPServerSession")
struct IMAPServerSessionTests {
    func line(_ text: String) -> MailSessionAction { .reply(bytes(text)) }

    func greeted(_ options: MailSessionOptions = .init()) -> IMAPServerSession {
        var session = IMAPServerSession(options: options)
        _ = session.greeting()
        return session
    }

    @Test("the greeting carries the capabilities: STARTTLS and LOGINDISABLED before TLS")
    func greeting() {
        var session = IMAPServerSession(options: .init())
        #expect(
            session.greeting()
                == [
                    line(
                        "* OK [CAPABILITY IMAP4rev1 LITERAL+ STARTTLS LOGINDISABLED] mail.test IMAP4rev1 Parley fake server ready\r\n"
                    )
                ]
        )
    }

    @Test("LOGIN is refused before TLS; STARTTLS, then CAPABILITY shows AUTH=PLAIN and LOGIN works")
    func startTLSThenLogin() {
        var session = greeted()
        #expect(
            session.receive(line: bytes("a1 LOGIN alice secret")) == [
                line("a1 NO [PRIVACYREQUIRED] LOGIN is disabled before STARTTLS\r\n")
            ]
        )
        #expect(
            session.receive(line: bytes("a2 STARTTLS")) == [line("a2 OK Begin TLS negotiation now\r\n"), .startTLS]
        )
        #expect(session.receive(line: bytes("a3 LOGIN alice secret")) == [], "pipelined plaintext is discarded")
        session.tlsStarted()
        #expect(
            session.receive(line: bytes("a4 CAPABILITY"))
                == [line("* CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN\r\n"), line("a4 OK CAPABILITY completed\r\n")]
        )
        #expect(session.receive(line: bytes("a5 STARTTLS")) == [line("a5 BAD TLS already active\r\n")])
        #expect(
            session.receive(line: bytes("a6 LOGIN \"alice\" wrong")) == [
                line("a6 NO [AUTHENTICATIONFAILED] invalid credentials\r\n")
            ]
        )
        #expect(
            session.receive(line: bytes("a7 LOGIN \"alice\" \"secret\"")) == [
                line("a7 OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] logged in\r\n")
            ]
        )
        #expect(session.state == .authenticated)
    }

    @Test("LOGIN with a synchronising literal and a LITERAL+ literal")
    func literals() {
        var session = greeted(.init(offerStartTLS: false))
        #expect(
            session.receive(line: bytes("a1 LOGIN {5}")) == [line("+ Ready for literal data\r\n"), .readLiteral(5)]
        )
        #expect(session.receive(literal: bytes("alice")) == [])
        #expect(session.receive(line: bytes(" {6+}")) == [.readLiteral(6)])
        #expect(session.receive(literal: bytes("secret")) == [])
        #expect(session.receive(line: []) == [line("a1 OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] logged in\r\n")])
    }

    @Test("AUTHENTICATE PLAIN with a continuation")
    func authenticatePlain() {
        var session = greeted(.init(offerStartTLS: false))
        #expect(session.receive(line: bytes("a1 AUTHENTICATE PLAIN")) == [line("+ \r\n")])
        #expect(
            session.receive(line: bytes("AGFsaWNlAHNlY3JldA==")) == [
                line("a1 OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] logged in\r\n")
            ]
        )
    }

    @Test("the log shows no LOGIN user or password, no AUTHENTICATE response, and no rest of a LOGIN after a literal")
    func loggableCredentials() {
        var session = greeted(.init(offerStartTLS: false))
        #expect(session.loggable(bytes("a0 NOOP")) == bytes("a0 NOOP"))
        #expect(session.loggable(bytes("a1 login alice secret")) == bytes("a1 login ****"))
        #expect(session.loggable(bytes("a1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==")) == bytes("a1 AUTHENTICATE PLAIN ****"))
        _ = session.receive(line: bytes("a2 AUTHENTICATE PLAIN"))
        #expect(session.loggable(bytes("AGFsaWNlAHNlY3JldA==")) == bytes("****"))
        var literal = greeted(.init(offerStartTLS: false))
        #expect(literal.loggable(bytes("a3 LOGIN {5}")) == bytes("a3 LOGIN ****"))
        _ = literal.receive(line: bytes("a3 LOGIN {5}"))
        _ = literal.receive(literal: bytes("alice"))
        #expect(literal.loggable(bytes(" secret")) == bytes("****"))
        #expect(literal.receive(line: bytes(" secret")) == [line("a3 OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] logged in\r\n")])
        #expect(literal.loggable(bytes("a4 SELECT INBOX")) == bytes("a4 SELECT INBOX"))
    }

    @Test("SELECT INBOX, FETCH the message with a literal, UID FETCH, LOGOUT")
    func selectAndFetch() {
        var session = greeted(.init(offerStartTLS: false))
        let message = FakeMailServer.Configuration.sampleMailbox[0]
        _ = session.receive(line: bytes("a1 LOGIN alice secret"))
        #expect(session.receive(line: bytes("a2 SELECT Drafts")) == [line("a2 NO [NONEXISTENT] no such mailbox\r\n")])
        let select = session.receive(line: bytes("a3 SELECT INBOX"))
        guard case .reply(let untagged) = select.first else {
            Issue.record("no SELECT reply")
            return
        }
        #expect(untagged.starts(with: bytes("* 1 EXISTS\r\n")))
        #expect(select.last == line("a3 OK [READ-WRITE] SELECT completed\r\n"))
        #expect(
            session.receive(line: bytes("a4 FETCH 1 (FLAGS RFC822)"))
                == [
                    .reply(bytes("* 1 FETCH (FLAGS () RFC822 {\(message.count)}\r\n") + message + bytes(")\r\n")),
                    line("a4 OK FETCH completed\r\n"),
                ]
        )
        #expect(
            session.receive(line: bytes("a5 UID FETCH 1:* RFC822.SIZE"))
                == [line("* 1 FETCH (UID 1 RFC822.SIZE \(message.count))\r\n"), line("a5 OK UID FETCH completed\r\n")]
        )
        #expect(session.receive(line: bytes("a6 FETCH 1 ENVELOPE")) == [line("a6 BAD unsupported fetch item\r\n")])
        #expect(
            session.receive(line: bytes("a7 LOGOUT"))
                == [line("* BYE mail.test logging out\r\n"), line("a7 OK LOGOUT completed\r\n"), .close]
        )
    }

    @Test("a PREAUTH greeting starts authenticated, where STARTTLS is refused")
    func preauth() {
        var session = IMAPServerSession(options: .init(preauth: true))
        guard case .reply(let greeting) = session.greeting().first else {
            Issue.record("no greeting")
            return
        }
        #expect(
            greeting.starts(
                with: bytes("* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+ LOGINDISABLED] mail.test logged in as alice")
            )
        )
        #expect(session.receive(line: bytes("a1 STARTTLS")) == [line("a1 BAD STARTTLS is only valid before login\r\n")])
    }

    @Test(
        "sequence sets",
        arguments: [
            ("1", 3, [1]), ("2:3", 3, [2, 3]), ("*", 3, [3]), ("3:1", 3, [1, 2, 3]), ("1,3", 3, [1, 3]), ("5", 3, []),
        ]
    )
    func sequenceSets(set: String, count: Int, expected: [Int]) {
        #expect(IMAPServerSession.sequenceSet(bytes(set), count: count) == expected)
    }
}
