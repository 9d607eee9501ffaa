// SPDX-License-Identifier: Apache-2.0
import MailFixtures
import Testing

/// The bytes of an ASCII test string (test data only).
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

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
            "250-mail.test greets client.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-STARTTLS\r\n250 SMTPUTF8\r\n"
        #expect(session.receive(line: bytes("EHLO client.example")) == [reply(expected)])
        #expect(session.clientIdentity == bytes("client.example"))
    }

    @Test("EHLO does not list STARTTLS when it is not available")
    func ehloWithoutTLS() {
        var session = greeted(startTLS: false)
        let expected = "250-mail.test greets x\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
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
        let expected = "250-mail.test greets x\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
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
            ("VRFY postmaster", "502 5.5.2 Error: command not recognized\r\n"),
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
}
