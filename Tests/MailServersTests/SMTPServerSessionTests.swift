// SPDX-License-Identifier: Apache-2.0
import MailServers
import ParleyTestSupport
import Testing

/// A reply action for an ASCII test string.
func reply(_ text: String) -> SMTPServerSession.Action { .reply(bytes(text)) }

@Suite("SMTPServerSession")
struct SMTPServerSessionTests {
    /// A session that has sent its greeting.
    func greeted(startTLS: Bool = true) -> SMTPServerSession {
        var session = SMTPServerSession(hostname: "mail.test", startTLSAvailable: startTLS)
        _ = session.greeting()
        return session
    }

    @Test("the greeting names the host")
    func greeting() {
        var session = SMTPServerSession(hostname: "mail.test", startTLSAvailable: false)
        #expect(session.greeting() == [reply("220 mail.test ESMTP Parley fake server\r\n")])
        #expect(session.state == .ready)
    }

    @Test("EHLO before TLS lists STARTTLS, with the last line without a dash")
    func ehloBeforeTLS() {
        var session = greeted()
        let expected =
            "250-mail.test greets client.example\r\n250-PIPELINING\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250 SMTPUTF8\r\n"
        #expect(session.receive(line: bytes("EHLO client.example")) == [reply(expected)])
        #expect(session.clientIdentity == bytes("client.example"))
    }

    @Test("EHLO does not list STARTTLS when it is not available, and then AUTH is offered in plaintext")
    func ehloWithoutTLS() {
        var session = greeted(startTLS: false)
        let expected =
            "250-mail.test greets x\r\n250-PIPELINING\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8\r\n"
        #expect(session.receive(line: bytes("ehlo x")) == [reply(expected)])
        #expect(session.receive(line: bytes("STARTTLS")) == [reply("454 4.7.0 TLS not available\r\n")])
    }

    @Test("STARTTLS goes ahead, and EHLO after TLS no longer lists it")
    func startTLSThenEHLO() {
        var session = greeted()
        #expect(session.receive(line: bytes("STARTTLS")) == [reply("220 2.0.0 Ready to start TLS\r\n"), .startTLS])
        #expect(session.state == .awaitingTLS)
        session.tlsStarted()
        #expect(session.isTLSActive)
        #expect(session.clientIdentity == nil)
        let expected =
            "250-mail.test greets x\r\n250-PIPELINING\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8\r\n"
        #expect(session.receive(line: bytes("EHLO x")) == [reply(expected)])
    }

    @Test("STARTTLS with a parameter is a syntax error")
    func startTLSWithParameter() {
        var session = greeted()
        #expect(session.receive(line: bytes("STARTTLS now")) == [reply("501 5.5.4 Syntax: STARTTLS\r\n")])
        #expect(session.state == .ready)
    }

    @Test("a second STARTTLS is refused once TLS is active")
    func secondStartTLS() {
        var session = greeted()
        _ = session.receive(line: bytes("STARTTLS"))
        session.tlsStarted()
        #expect(session.receive(line: bytes("starttls")) == [reply("554 5.5.1 Error: TLS already active\r\n")])
    }

    @Test("lines pipelined after STARTTLS are discarded unanswered")
    func pipelinedAfterStartTLS() {
        var session = greeted()
        _ = session.receive(line: bytes("STARTTLS"))
        #expect(session.receive(line: bytes("MAIL FROM:<attacker@example>")) == [])
        #expect(session.receive(line: bytes("QUIT")) == [])
        #expect(session.receiveOverlongLine() == [])
        session.tlsStarted()
        #expect(session.receive(line: bytes("NOOP")) == [reply("250 2.0.0 OK\r\n")])
    }

    @Test(
        "simple commands have fixed replies",
        arguments: [
            ("NOOP", "250 2.0.0 OK\r\n"),
            ("rset", "250 2.0.0 OK\r\n"),
            ("HELO client.example", "250 mail.test\r\n"),
            ("HELO", "501 5.5.4 Syntax: HELO hostname\r\n"),
            ("EHLO", "501 5.5.4 Syntax: EHLO hostname\r\n"),
            ("VRFY postmaster", "252 2.0.0 Cannot VRFY user, but will accept message\r\n"),
            ("MAIL FROM:<a@b>", "503 5.5.1 Error: send HELO/EHLO first\r\n"),
            ("RCPT TO:<a@b>", "503 5.5.1 Error: need MAIL command\r\n"),
            ("DATA", "503 5.5.1 Error: need RCPT command\r\n"),
            ("AUTH PLAIN", "503 5.5.1 Error: send EHLO first\r\n"),
            ("XYZZY", "502 5.5.2 Error: command not recognized\r\n"),
            ("", "500 5.5.2 Error: bad syntax\r\n"),
        ]
    )
    func simpleCommands(line: String, expected: String) {
        var session = greeted()
        #expect(session.receive(line: bytes(line)) == [reply(expected)])
    }

    @Test("bytes that are not UTF-8 are an unknown command, not a crash")
    func binaryCommand() {
        var session = greeted()
        #expect(session.receive(line: [0xFF, 0x00, 0xC3]) == [reply("502 5.5.2 Error: command not recognized\r\n")])
    }

    @Test("QUIT says goodbye, closes, and nothing is processed afterwards")
    func quit() {
        var session = greeted()
        #expect(session.receive(line: bytes("QUIT")) == [reply("221 2.0.0 Bye\r\n"), .close])
        #expect(session.state == .closed)
        #expect(session.receive(line: bytes("NOOP")) == [])
    }

    @Test("an over-long line is answered with 500")
    func overlongLine() {
        var session = greeted()
        #expect(session.receiveOverlongLine() == [reply("500 5.5.0 Line too long\r\n")])
    }

    /// A session under TLS that said EHLO.
    func tlsSession(_ options: MailSessionOptions = .init()) -> SMTPServerSession {
        var session = SMTPServerSession(options: options)
        _ = session.greeting()
        _ = session.receive(line: bytes("STARTTLS"))
        session.tlsStarted()
        _ = session.receive(line: bytes("EHLO c"))
        return session
    }

    @Test("EHLO under TLS offers AUTH PLAIN LOGIN; before TLS AUTH is refused with 538")
    func authOfferedUnderTLSOnly() {
        var plain = greeted()
        _ = plain.receive(line: bytes("EHLO c"))
        #expect(
            plain.receive(line: bytes("AUTH PLAIN AGFsaWNlAHNlY3JldA=="))
                == [reply("538 5.7.11 Encryption required for requested authentication mechanism\r\n")]
        )
        var session = tlsSession()
        #expect(
            session.receive(line: bytes("EHLO c"))
                == [
                    reply(
                        "250-mail.test greets c\r\n250-PIPELINING\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8\r\n"
                    )
                ]
        )
    }

    @Test("AUTH PLAIN with an initial response, and without one after 334")
    func authPlain() {
        var session = tlsSession()
        // "\0alice\0secret"
        #expect(
            session.receive(line: bytes("AUTH PLAIN AGFsaWNlAHNlY3JldA==")) == [
                reply("235 2.7.0 Authentication successful\r\n")
            ]
        )
        #expect(session.authenticatedUser == bytes("alice"))
        var other = tlsSession()
        #expect(other.receive(line: bytes("AUTH PLAIN")) == [reply("334 \r\n")])
        // "\0alice\0wrong"
        #expect(
            other.receive(line: bytes("AGFsaWNlAHdyb25n")) == [
                reply("535 5.7.8 Authentication credentials invalid\r\n")
            ]
        )
        #expect(other.authenticatedUser == nil)
    }

    @Test("AUTH LOGIN asks for the user and the password in base64")
    func authLogin() {
        var session = tlsSession()
        #expect(session.receive(line: bytes("AUTH LOGIN")) == [reply("334 VXNlcm5hbWU6\r\n")])
        #expect(session.receive(line: bytes("YWxpY2U=")) == [reply("334 UGFzc3dvcmQ6\r\n")])
        #expect(session.receive(line: bytes("c2VjcmV0")) == [reply("235 2.7.0 Authentication successful\r\n")])
    }

    @Test("the log shows AUTH's mechanism but no initial response, and no SASL response line")
    func loggableCredentials() {
        var session = tlsSession()
        func logged(_ text: String) -> String {
            let shown = String(decoding: session.loggable(bytes(text)), as: UTF8.self)
            _ = session.receive(line: bytes(text))
            return shown
        }
        #expect(logged("NOOP secret") == "NOOP secret")
        #expect(logged("AUTH LOGIN") == "AUTH LOGIN")
        #expect(logged("YWxpY2U=") == "****")
        #expect(logged("c2VjcmV0") == "****")
        #expect(session.authenticatedUser == bytes("alice"))
        var other = tlsSession()
        #expect(String(decoding: other.loggable(bytes("auth plain AGFsaWNlAHNlY3JldA==")), as: UTF8.self) == "auth plain ****")
        _ = other.receive(line: bytes("AUTH PLAIN"))
        #expect(other.loggable(bytes("*")) == bytes("*"), "a cancellation is no secret")
        #expect(other.loggable(bytes("AGFsaWNlAHNlY3JldA==")) == bytes("****"))
    }

    @Test("MAIL, RCPT, DATA with dot-stuffing deliver the message")
    func mailTransaction() throws {
        var session = greeted()
        _ = session.receive(line: bytes("EHLO c"))
        #expect(session.receive(line: bytes("MAIL FROM:<a@example> SIZE=10")) == [reply("250 2.1.0 OK\r\n")])
        #expect(session.receive(line: bytes("RCPT TO:<alice@mail.test>")) == [reply("250 2.1.5 OK\r\n")])
        #expect(session.receive(line: bytes("DATA")) == [reply("354 End data with <CR><LF>.<CR><LF>\r\n")])
        #expect(session.state == .data)
        #expect(session.receive(line: bytes("Subject: hi")) == [])
        #expect(session.receive(line: bytes("")) == [])
        #expect(session.receive(line: bytes("..dot")) == [])
        let actions = session.receive(line: bytes("."))
        let id = try #require(session.deliveredIDs.first)
        #expect(actions == [.deliver(bytes("Subject: hi\r\n\r\n.dot\r\n")), reply("250 2.0.0 OK: queued as \(id)\r\n")])
        // Stored in alice's INBOX with the trace headers a receiving server adds.
        let stored = try #require(session.options.store.message(id: id))
        #expect(
            text(stored.bytes).hasPrefix(
                "Return-Path: <a@example>\r\nDelivered-To: alice@mail.test\r\nReceived: from c ([unknown])\r\n\tby mail.test (Parley) with ESMTP\r\n\tfor <alice@mail.test>; "
            ))
        #expect(text(stored.bytes).hasSuffix("+0000\r\nSubject: hi\r\n\r\n.dot\r\n"))
        #expect(stored.envelope == MailStore.Envelope(mailFrom: bytes("a@example"), recipients: [bytes("alice@mail.test")]))
        #expect(try session.options.store.mailbox(user: "alice", name: "INBOX").entries.last?.messageID == id)
        #expect(session.state == .ready)
        #expect(session.mailFrom == nil)
    }

    @Test("with require-tls, mail commands get 530 before TLS; NOOP, EHLO, STARTTLS and QUIT do not")
    func requireTLS() {
        var session = SMTPServerSession(options: .init(requireTLS: true))
        _ = session.greeting()
        for line in ["MAIL FROM:<a@b>", "RCPT TO:<a@b>", "DATA", "AUTH PLAIN", "HELO x", "VRFY a", "RSET"] {
            #expect(session.receive(line: bytes(line)) == [reply("530 5.7.0 Must issue a STARTTLS command first\r\n")])
        }
        #expect(session.receive(line: bytes("NOOP")) == [reply("250 2.0.0 OK\r\n")])
        #expect(session.receive(line: bytes("STARTTLS")).last == .startTLS)
        session.tlsStarted()
        _ = session.receive(line: bytes("EHLO c"))
        #expect(session.receive(line: bytes("MAIL FROM:<a@b>")) == [reply("250 2.1.0 OK\r\n")])
    }

    @Test("STARTTLS resets the transaction: MAIL needs a new EHLO (RFC 3207 §4.2)")
    func resetAfterTLS() {
        var session = greeted()
        _ = session.receive(line: bytes("EHLO c"))
        _ = session.receive(line: bytes("MAIL FROM:<a@b>"))
        _ = session.receive(line: bytes("STARTTLS"))
        session.tlsStarted()
        #expect(session.mailFrom == nil)
        #expect(session.receive(line: bytes("MAIL FROM:<a@b>")) == [reply("503 5.5.1 Error: send HELO/EHLO first\r\n")])
    }

    @Test("refuse-starttls offers STARTTLS and answers it with 454")
    func refuseStartTLS() {
        var session = SMTPServerSession(options: .init(refuseStartTLS: true))
        _ = session.greeting()
        guard case .reply(let ehlo) = session.receive(line: bytes("EHLO c")).first else {
            Issue.record("no EHLO reply")
            return
        }
        #expect(ehlo.contains("250-STARTTLS\r\n"))
        #expect(session.receive(line: bytes("STARTTLS")) == [reply("454 4.7.0 TLS not available\r\n")])
    }
}

@Suite("SMTP AUTH follows the store's accounts")
struct SMTPAuthOfferTests {
    @Test("with accept-any-login and no configured user, AUTH is still offered under TLS and any login succeeds")
    func acceptAnyLoginOffersAuth() throws {
        var options = MailSessionOptions(users: [:], store: try MailStore(acceptsAnyLogin: true))
        options.offerStartTLS = true
        var session = SMTPServerSession(options: options)
        _ = session.greeting()
        session.tlsStarted()
        #expect(session.offersAuth)
        guard case .reply(let ehlo) = session.receive(line: Array("EHLO c".utf8)).first else {
            Issue.record("no EHLO reply")
            return
        }
        #expect(String(decoding: ehlo, as: UTF8.self).contains("250-AUTH PLAIN LOGIN\r\n"))
        #expect(
            session.receive(line: Array("AUTH PLAIN AHpvZQBhbnl0aGluZw==".utf8)) == [
                .reply(Array("235 2.7.0 Authentication successful\r\n".utf8))
            ])
    }

    @Test("a store without accounts offers no AUTH")
    func noAccountsNoAuth() throws {
        var session = SMTPServerSession(options: MailSessionOptions(users: [:], mailbox: []))
        _ = session.greeting()
        session.tlsStarted()
        #expect(!session.offersAuth)
    }
}
