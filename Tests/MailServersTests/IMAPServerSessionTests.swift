// SPDX-License-Identifier: Apache-2.0
import ParleyTestSupport
import Testing

@testable import MailServers

/// The capability lists the IMAP session shows.
enum IMAPCapabilityText {
    static let extensions = "IDLE UIDPLUS MOVE UNSELECT ENABLE ID NAMESPACE CHILDREN SPECIAL-USE"
    static let beforeTLS = "IMAP4rev1 LITERAL+ STARTTLS LOGINDISABLED \(extensions)"
    static let loginAllowed = "IMAP4rev1 LITERAL+ AUTH=PLAIN SASL-IR \(extensions)"
    static let preauth = "IMAP4rev1 LITERAL+ LOGINDISABLED \(extensions)"
}

/// Runs lines through a session and shows the replies as text (other actions in brackets).
func imapRun(_ session: inout IMAPServerSession, _ lines: String...) -> String {
    var out = ""
    for line in lines {
        for action in session.receive(line: Array(line.utf8)) {
            switch action {
            case .reply(let bytes): out += String(decoding: bytes, as: UTF8.self)
            default: out += "[\(action)]"
            }
        }
    }
    return out
}

@Suite("IMAPServerSession")
struct IMAPServerSessionTests {
    func line(_ text: String) -> MailSessionAction { .reply(bytes(text)) }

    func greeted(_ options: MailSessionOptions = .init()) -> IMAPServerSession {
        var session = IMAPServerSession(options: options)
        _ = session.greeting()
        return session
    }

    /// A logged-in session with INBOX selected, over a store holding `messages`.
    func selected(_ messages: [[UInt8]], received: Int64 = 1_767_225_600) -> (IMAPServerSession, MailStore) {
        let store = try! MailStore(users: ["alice": "secret"])
        for message in messages {
            store.deliver(message, envelope: nil, to: ["alice"], received: received)
        }
        var session = greeted(.init(offerStartTLS: false, store: store))
        _ = imapRun(&session, "a LOGIN alice secret", "b SELECT INBOX")
        return (session, store)
    }

    @Test("the greeting carries the capabilities: STARTTLS and LOGINDISABLED before TLS, and a short idle timeout")
    func greeting() {
        var session = IMAPServerSession(options: .init())
        #expect(
            session.greeting() == [
                line("* OK [CAPABILITY \(IMAPCapabilityText.beforeTLS)] mail.test IMAP4rev1 Parley fake server ready\r\n"),
                .idleTimeout(60),
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
                == [line("* CAPABILITY \(IMAPCapabilityText.loginAllowed)\r\n"), line("a4 OK CAPABILITY completed\r\n")]
        )
        #expect(session.receive(line: bytes("a5 STARTTLS")) == [line("a5 BAD TLS already active\r\n")])
        #expect(
            session.receive(line: bytes("a6 LOGIN \"alice\" wrong")) == [
                line("a6 NO [AUTHENTICATIONFAILED] invalid credentials\r\n")
            ]
        )
        #expect(
            session.receive(line: bytes("a7 LOGIN \"alice\" \"secret\"")) == [
                line("a7 OK [CAPABILITY \(IMAPCapabilityText.loginAllowed)] logged in\r\n"), .idleTimeout(1800),
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
        #expect(
            session.receive(line: []) == [
                line("a1 OK [CAPABILITY \(IMAPCapabilityText.loginAllowed)] logged in\r\n"), .idleTimeout(1800),
            ]
        )
    }

    @Test("AUTHENTICATE PLAIN with a continuation, and with SASL-IR")
    func authenticatePlain() {
        var session = greeted(.init(offerStartTLS: false))
        #expect(session.receive(line: bytes("a1 AUTHENTICATE PLAIN")) == [line("+ \r\n")])
        #expect(
            session.receive(line: bytes("AGFsaWNlAHNlY3JldA==")) == [
                line("a1 OK [CAPABILITY \(IMAPCapabilityText.loginAllowed)] logged in\r\n"), .idleTimeout(1800),
            ]
        )
        var initial = greeted(.init(offerStartTLS: false))
        #expect(imapRun(&initial, "a1 AUTHENTICATE PLAIN =") == "a1 BAD invalid base64 PLAIN response\r\n")
        #expect(imapRun(&initial, "a2 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==").hasPrefix("a2 OK [CAPABILITY"))
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
        #expect(
            literal.receive(line: bytes(" secret")) == [
                line("a3 OK [CAPABILITY \(IMAPCapabilityText.loginAllowed)] logged in\r\n"), .idleTimeout(1800),
            ]
        )
        #expect(literal.loggable(bytes("a4 SELECT INBOX")) == bytes("a4 SELECT INBOX"))
    }

    @Test("SELECT INBOX, FETCH the message with a literal (setting \\Seen), UID FETCH, LOGOUT")
    func selectAndFetch() {
        let message = FakeMailServer.Configuration.sampleMailbox[0]
        let store = MailStore(users: ["alice": "secret"], inbox: [message])
        var session = greeted(.init(offerStartTLS: false, store: store))
        _ = session.receive(line: bytes("a1 LOGIN alice secret"))
        #expect(session.receive(line: bytes("a2 SELECT Drafts")) == [line("a2 NO [NONEXISTENT] no such mailbox\r\n")])
        let validity = try! store.mailbox(user: "alice", name: "INBOX").uidValidity
        #expect(
            imapRun(&session, "a3 SELECT INBOX") == """
                * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r
                * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] flags permitted\r
                * 1 EXISTS\r
                * 0 RECENT\r
                * OK [UNSEEN 1] first unseen message\r
                * OK [UIDVALIDITY \(validity)] UIDs valid\r
                * OK [UIDNEXT 2] predicted next UID\r
                a3 OK [READ-WRITE] SELECT completed\r

                """
        )
        #expect(
            session.receive(line: bytes("a4 FETCH 1 (FLAGS RFC822)"))
                == [
                    .reply(bytes("* 1 FETCH (FLAGS (\\Seen) RFC822 {\(message.count)}\r\n") + message + bytes(")\r\n")),
                    line("a4 OK FETCH completed\r\n"),
                ]
        )
        #expect(
            session.receive(line: bytes("a5 UID FETCH 1:* RFC822.SIZE"))
                == [line("* 1 FETCH (UID 1 RFC822.SIZE \(message.count))\r\n"), line("a5 OK UID FETCH completed\r\n")]
        )
        #expect(
            imapRun(&session, "a6 FETCH 1 (ENVELOPE INTERNALDATE)") == """
                * 1 FETCH (ENVELOPE ("Thu, 01 Jan 2026 00:00:00 +0000" "Welcome to the Parley fake server" \
                (("Parley Fixtures" NIL "fixtures" "mail.test")) (("Parley Fixtures" NIL "fixtures" "mail.test")) \
                (("Parley Fixtures" NIL "fixtures" "mail.test")) ((NIL NIL "alice" "mail.test")) NIL NIL NIL \
                "<welcome@mail.test>") INTERNALDATE "\(MailDate.imap(try! store.message(id: store.mailbox(user: "alice", name: "INBOX").entries[0].messageID)!.received))")\r
                a6 OK FETCH completed\r

                """
        )
        #expect(imapRun(&session, "a7 FETCH 1 BINARY[]") == "a7 BAD unsupported fetch item\r\n")
        #expect(
            session.receive(line: bytes("a8 LOGOUT"))
                == [line("* BYE mail.test logging out\r\n"), line("a8 OK LOGOUT completed\r\n"), .close]
        )
    }

    @Test("a PREAUTH greeting starts authenticated, where STARTTLS is refused")
    func preauth() {
        var session = IMAPServerSession(options: .init(preauth: true))
        guard case .reply(let greeting) = session.greeting().first else {
            Issue.record("no greeting")
            return
        }
        #expect(greeting.starts(with: bytes("* PREAUTH [CAPABILITY \(IMAPCapabilityText.preauth)] mail.test logged in as alice")))
        #expect(session.receive(line: bytes("a1 STARTTLS")) == [line("a1 BAD STARTTLS is only valid before login\r\n")])
    }

    @Test(
        "sequence sets",
        arguments: [
            ("1", 3, [1]), ("2:3", 3, [2, 3]), ("*", 3, [3]), ("3:1", 3, [1, 2, 3]), ("1,3", 3, [1, 3]), ("5", 3, []),
            ("5:*", 3, [3]),
        ]
    )
    func sequenceSets(set: String, count: Int, expected: [Int]) {
        #expect(IMAPServerSession.sequenceSet(bytes(set), count: count) == expected)
    }

    @Test("BODYSTRUCTURE and BODY of multipart/alternative, ENVELOPE with encoded words kept encoded")
    func bodyStructureAlternative() {
        let part = MIMEPart(parsing: MIMESamples.alternative)
        #expect(
            text(part.imapBodyStructure(extensible: true))
                == """
                (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 28 2 NIL NIL NIL NIL)\
                ("text" "html" ("charset" "utf-8") NIL NIL "7bit" 18 1 NIL NIL NIL NIL) \
                "alternative" ("boundary" "b1") NIL NIL NIL)
                """
        )
        #expect(
            text(part.imapBodyStructure(extensible: false))
                == """
                (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 28 2)\
                ("text" "html" ("charset" "utf-8") NIL NIL "7bit" 18 1) "alternative")
                """
        )
        #expect(
            text(part.imapEnvelope)
                == """
                ("Fri, 02 Jan 2026 10:00:00 +0100" "=?UTF-8?Q?Caf=C3=A9?= menu" \
                (("Bob Example" NIL "bob" "example.org")) (("Bob Example" NIL "bob" "example.org")) \
                (("Bob Example" NIL "bob" "example.org")) ((NIL NIL "alice" "mail.test")("Carol" NIL "carol" "example.net")) \
                NIL NIL NIL "<alt@example.org>")
                """
        )
    }

    @Test("BODYSTRUCTURE of multipart/mixed with an attachment: disposition, Content-ID, a non-ASCII file name encoded")
    func bodyStructureAttachment() {
        #expect(
            text(MIMEPart(parsing: MIMESamples.mixed).imapBodyStructure(extensible: true))
                == """
                (("text" "plain" NIL NIL NIL "7bit" 13 1 NIL NIL NIL NIL)\
                ("application" "pdf" ("name" "=?UTF-8?B?UmVwb3J0IOKCrC5wZGY=?=") "<att1@example.org>" "the report" \
                "base64" 22 NIL ("attachment" ("filename" "=?UTF-8?B?UsOpc3Vtw6kucGRm?=")) NIL NIL) \
                "mixed" ("boundary" "outer") NIL NIL NIL)
                """
        )
    }

    @Test("BODYSTRUCTURE of message/rfc822: the enclosed envelope, structure and line count")
    func bodyStructureMessage() {
        #expect(
            text(MIMEPart(parsing: MIMESamples.forwarded).imapBodyStructure(extensible: false))
                == """
                (("text" "plain" NIL NIL NIL "7bit" 11 1)\
                ("message" "rfc822" NIL NIL NIL "7bit" 102 \
                (NIL "hello" (("Carol" NIL "carol" "example.net")) (("Carol" NIL "carol" "example.net")) \
                (("Carol" NIL "carol" "example.net")) NIL NIL NIL NIL NIL) \
                ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1) 5) "mixed")
                """
        )
        #expect(
            text(MIMEPart(parsing: MIMESamples.crlf("Content-Type: multipart/mixed\n\nx")).imapBodyStructure(extensible: false))
                == "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")",
            "a multipart without parts still has one"
        )
    }

    @Test("BODY[section] of parts: numbers, MIME, HEADER.FIELDS, TEXT of an enclosed message, partial")
    func sections() {
        var (session, _) = selected([MIMESamples.forwarded])
        #expect(
            imapRun(&session, "c FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.HEADER.FIELDS (Subject)] BODY.PEEK[2.TEXT] BODY.PEEK[1.MIME])")
                == """
                * 1 FETCH (BODY[1] {11}\r
                Forwarding. BODY[2.HEADER.FIELDS (Subject)] {18}\r
                Subject: hello\r
                \r
                 BODY[2.TEXT] {7}\r
                Hi Bob. BODY[1.MIME] {28}\r
                Content-Type: text/plain\r
                \r
                )\r
                c OK FETCH completed\r

                """
        )
        #expect(
            imapRun(&session, "d FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (From Content-Type)]<0.9> BODY.PEEK[9])")
                == "* 1 FETCH (BODY[HEADER.FIELDS.NOT (From Content-Type)]<0> {9}\r\nSubject:  BODY[9] {0}\r\n)\r\nd OK FETCH completed\r\n"
        )
    }

    @Test("SEARCH keys: flags, headers, body and text, dates, sizes, UID, NOT, OR, parentheses, CHARSET")
    func search() {
        let first = MIMESamples.crlf("From: Bob <bob@example.org>\nSubject: Lunch plans\nDate: Mon, 05 Jan 2026 12:00:00 +0000\n\nPizza?\n")
        let second = MIMESamples.crlf(
            "From: carol@example.net\nTo: alice@mail.test\nSubject: Report\nDate: 7 Jan 2026 09:00 -0500\n\nQuarterly numbers.\n")
        let third = MIMESamples.crlf(
            "From: bob@example.org\nSubject: =?UTF-8?B?UsOpc3Vtw6k=?=\nContent-Transfer-Encoding: base64\n\nU2VjcmV0IHBpenph\n"
        )
        var (session, store) = selected([first, second, third])
        _ = try! store.setFlags(user: "alice", mailbox: "INBOX", uids: [2], flags: ["\\Seen", "urgent"], mode: .add)
        _ = imapRun(&session, "n NOOP")
        let cases: [(String, String)] = [
            ("ALL", "1 2 3"), ("SEEN", "2"), ("UNSEEN", "1 3"), ("KEYWORD urgent", "2"), ("UNKEYWORD urgent", "1 3"),
            ("FROM bob", "1 3"), ("FROM \"BOB@EXAMPLE\"", "1 3"), ("TO alice", "2"), ("SUBJECT report", "2"),
            ("SUBJECT Résumé", "3"), ("HEADER Date 2026", "1 2"), ("HEADER Cc \"\"", ""), ("BODY pizza", "1 3"),
            ("TEXT lunch", "1"), ("TEXT quarterly", "2"), ("SENTSINCE 6-Jan-2026", "2"), ("SENTBEFORE 6-Jan-2026", "1"),
            ("SENTON 7-Jan-2026", "2"), ("ON 1-Jan-2026", "1 2 3"), ("SINCE 2-Jan-2026", ""), ("BEFORE 2-Jan-2026", "1 2 3"),
            ("LARGER 100", "2 3"), ("SMALLER 101", "1"), ("UID 2:*", "2 3"), ("2,3", "2 3"), ("NOT SEEN", "1 3"),
            ("OR SEEN SUBJECT lunch", "1 2"), ("(FROM bob SUBJECT lunch)", "1"), ("NOT (FROM bob)", "2"),
            ("CHARSET UTF-8 SUBJECT report", "2"), ("NEW", ""), ("OLD", "1 2 3"), ("UNDELETED UNFLAGGED UNANSWERED UNDRAFT", "1 2 3"),
        ]
        for (criteria, expected) in cases {
            #expect(
                imapRun(&session, "s SEARCH \(criteria)")
                    == "* SEARCH\(expected.isEmpty ? "" : " " + expected)\r\ns OK SEARCH completed\r\n",
                "\(criteria)"
            )
        }
        #expect(imapRun(&session, "s SEARCH CHARSET KOI8-R ALL") == "s NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset\r\n")
        #expect(imapRun(&session, "s SEARCH FROM") == "s BAD invalid search criteria\r\n")
        #expect(imapRun(&session, "u UID SEARCH SUBJECT lunch") == "* SEARCH 1\r\nu OK UID SEARCH completed\r\n")
        #expect(imapRun(&session, "s SEARCH SUBJECT {5}") == "+ Ready for literal data\r\n[readLiteral(5)]")
        _ = session.receive(literal: bytes("lunch"))
        #expect(imapRun(&session, " FROM bob") == "* SEARCH 1\r\ns OK SEARCH completed\r\n")
    }

    @Test("the mailbox view: EXPUNGE highest first with correct numbers, EXISTS, RECENT and FETCH FLAGS")
    func mailboxView() {
        func mailbox(_ uids: [UInt32], flags: [UInt32: [String]] = [:]) -> MailStore.Mailbox {
            MailStore.Mailbox(
                name: "INBOX",
                uidValidity: 7,
                uidNext: (uids.last ?? 0) + 1,
                entries: uids.map { MailStore.Entry(uid: $0, flags: flags[$0] ?? [], messageID: "m\($0)") },
                subscribed: true
            )
        }
        var view = IMAPMailboxView(mailbox: mailbox([10, 11, 12, 13, 14]), readOnly: false)
        #expect(view.update(to: mailbox([10, 11, 12, 13, 14]), expunge: true).isEmpty)
        // 11 and 13 gone (numbers 2 and 4), 15 arrived, 12 flagged.
        let next = mailbox([10, 12, 14, 15], flags: [12: ["\\Flagged"]])
        #expect(text(view.update(to: next, expunge: false)) == "* 6 EXISTS\r\n* 1 RECENT\r\n* 3 FETCH (FLAGS (\\Flagged))\r\n")
        #expect(view.count == 6, "without EXPUNGE the gone messages keep their numbers")
        #expect(text(view.update(to: next, expunge: true)) == "* 4 EXPUNGE\r\n* 2 EXPUNGE\r\n")
        #expect(view.uids == [10, 12, 14, 15])
        #expect(view.sequenceNumber(of: 14) == 3)
        #expect(view.sequenceNumber(of: 13) == nil)
    }

    @Test("STORE, APPEND with APPENDUID, CREATE and COPY with COPYUID, MOVE, EXPUNGE, CLOSE")
    func changes() {
        var (session, store) = selected([MIMESamples.alternative, MIMESamples.mixed, MIMESamples.forwarded])
        let inbox = try! store.mailbox(user: "alice", name: "INBOX").uidValidity
        #expect(
            imapRun(&session, "a STORE 1:2 +FLAGS (\\Flagged \\seen)")
                == "* 1 FETCH (FLAGS (\\Flagged \\Seen))\r\n* 2 FETCH (FLAGS (\\Flagged \\Seen))\r\na OK STORE completed\r\n"
        )
        #expect(imapRun(&session, "b UID STORE 2 -FLAGS.SILENT (\\Flagged)") == "b OK UID STORE completed\r\n")
        #expect(
            imapRun(&session, "c UID STORE 3 FLAGS \\Answered") == "* 3 FETCH (FLAGS (\\Answered) UID 3)\r\nc OK UID STORE completed\r\n")
        #expect(imapRun(&session, "d APPEND Archive {3}") == "+ Ready for literal data\r\n[readLiteral(3)]")
        _ = session.receive(literal: bytes("x\r\n"))
        #expect(imapRun(&session, "") == "d NO [TRYCREATE] no such mailbox\r\n")
        #expect(imapRun(&session, "e CREATE Archive/2026") == "e OK CREATE completed\r\n")
        #expect(imapRun(&session, "e CREATE Archive") == "e NO [ALREADYEXISTS] mailbox already exists: Archive\r\n")
        let archive = try! store.mailbox(user: "alice", name: "Archive/2026").uidValidity
        #expect(
            imapRun(&session, "f COPY 1:2 Archive/2026") == "f OK [COPYUID \(archive) 1:2 1:2] COPY completed\r\n"
        )
        #expect(imapRun(&session, "g COPY 1 Nowhere") == "g NO [TRYCREATE] no such mailbox\r\n")
        #expect(imapRun(&session, "h APPEND INBOX (\\Draft) \"05-Jan-2026 10:00:00 +0100\" {7+}") == "[readLiteral(7)]")
        _ = session.receive(literal: bytes("Hi.\r\n\r\n"))
        #expect(imapRun(&session, "") == "* 4 EXISTS\r\n* 1 RECENT\r\nh OK [APPENDUID \(inbox) 4] APPEND completed\r\n")
        #expect(
            imapRun(&session, "i FETCH 4 (FLAGS INTERNALDATE)")
                == "* 4 FETCH (FLAGS (\\Recent \\Draft) INTERNALDATE \"05-Jan-2026 09:00:00 +0000\")\r\ni OK FETCH completed\r\n")
        #expect(
            imapRun(&session, "j UID MOVE 3 Archive/2026")
                == "* OK [COPYUID \(archive) 3 3] moved\r\n* 3 EXPUNGE\r\nj OK UID MOVE completed\r\n"
        )
        #expect(imapRun(&session, "k STORE 1 +FLAGS.SILENT \\Deleted") == "k OK STORE completed\r\n")
        #expect(imapRun(&session, "l EXPUNGE") == "* 1 EXPUNGE\r\nl OK EXPUNGE completed\r\n")
        #expect(imapRun(&session, "m FETCH 1:* UID") == "* 1 FETCH (UID 2)\r\n* 2 FETCH (UID 4)\r\nm OK FETCH completed\r\n")
        #expect(imapRun(&session, "n STORE 2 +FLAGS.SILENT (\\Deleted)", "o CLOSE") == "n OK STORE completed\r\no OK CLOSE completed\r\n")
        #expect(try! store.mailbox(user: "alice", name: "INBOX").entries.map(\.uid) == [2])
        #expect(try! store.mailbox(user: "alice", name: "Archive/2026").entries.count == 3)
        #expect(imapRun(&session, "p FETCH 1 FLAGS") == "p BAD no mailbox selected\r\n")
    }

    @Test("EXAMINE is read-only: no \\Seen from FETCH, STORE and EXPUNGE refused")
    func examine() {
        var (session, store) = selected([MIMESamples.alternative])
        #expect(imapRun(&session, "a EXAMINE INBOX").hasSuffix("a OK [READ-ONLY] EXAMINE completed\r\n"))
        #expect(imapRun(&session, "b FETCH 1 BODY[TEXT]<0.4>") == "* 1 FETCH (BODY[TEXT]<0> {4}\r\nThis)\r\nb OK FETCH completed\r\n")
        #expect(try! store.mailbox(user: "alice", name: "INBOX").entries[0].flags == [])
        #expect(imapRun(&session, "c STORE 1 +FLAGS \\Seen") == "c NO [READ-ONLY] mailbox is read-only\r\n")
        #expect(imapRun(&session, "d EXPUNGE") == "d NO [READ-ONLY] mailbox is read-only\r\n")
    }

    @Test("LIST and LSUB with wildcards and reference names, children, SPECIAL-USE; STATUS; RENAME; DELETE")
    func mailboxes() {
        var (session, store) = selected([MIMESamples.alternative])
        for name in ["Archive/2025", "Archive/2026", "Sent", "Work"] {
            try! store.createMailbox(user: "alice", name: name)
        }
        try! store.setSubscribed(user: "alice", name: "Work", false)
        #expect(
            imapRun(&session, "a LIST \"\" *") == """
                * LIST (\\HasNoChildren) "/" "INBOX"\r
                * LIST (\\HasChildren \\Archive) "/" "Archive"\r
                * LIST (\\HasNoChildren) "/" "Archive/2025"\r
                * LIST (\\HasNoChildren) "/" "Archive/2026"\r
                * LIST (\\HasNoChildren \\Sent) "/" "Sent"\r
                * LIST (\\HasNoChildren) "/" "Work"\r
                a OK LIST completed\r

                """
        )
        #expect(imapRun(&session, "b LIST \"\" %").utf8.filter { $0 == 0x0A }.count == 5)
        #expect(
            imapRun(&session, "c LIST Archive/ %") == """
                * LIST (\\HasNoChildren) "/" "Archive/2025"\r
                * LIST (\\HasNoChildren) "/" "Archive/2026"\r
                c OK LIST completed\r

                """
        )
        #expect(imapRun(&session, "d LIST \"\" \"\"") == "* LIST (\\Noselect) \"/\" \"\"\r\nd OK LIST completed\r\n")
        #expect(imapRun(&session, "e LIST \"\" inbox") == "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\ne OK LIST completed\r\n")
        #expect(!imapRun(&session, "f LSUB \"\" *").contains("Work"))
        #expect(
            imapRun(&session, "g STATUS INBOX (MESSAGES UNSEEN UIDNEXT)")
                == "* STATUS \"INBOX\" (MESSAGES 1 UNSEEN 1 UIDNEXT 2)\r\ng OK STATUS completed\r\n"
        )
        #expect(imapRun(&session, "h RENAME Work Play") == "h OK RENAME completed\r\n")
        #expect(imapRun(&session, "i DELETE Play") == "i OK DELETE completed\r\n")
        #expect(imapRun(&session, "j DELETE INBOX") == "j NO [CANNOT] INBOX cannot be deleted\r\n")
        #expect(imapRun(&session, "k SUBSCRIBE Sent", "l UNSUBSCRIBE Gone") == "k OK SUBSCRIBE completed\r\nl OK UNSUBSCRIBE completed\r\n")
        #expect(imapRun(&session, "m NAMESPACE") == "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\nm OK NAMESPACE completed\r\n")
        #expect(imapRun(&session, "n ENABLE UTF8=ACCEPT") == "* ENABLED\r\nn OK ENABLE completed\r\n")
        #expect(imapRun(&session, "o ID NIL").hasPrefix("* ID (\"name\" \"Parley\""))
    }

    @Test("IDLE: + idling, EXISTS and EXPUNGE as the store changes, DONE ends it with a tagged OK")
    func idle() {
        var (session, store) = selected([MIMESamples.alternative, MIMESamples.mixed])
        #expect(session.receive(line: bytes("a IDLE")) == [line("+ idling\r\n"), .watchStore(true)])
        #expect(session.storeChanged() == [])
        store.deliver(MIMESamples.forwarded, envelope: nil, to: ["alice"])
        #expect(session.storeChanged() == [line("* 3 EXISTS\r\n* 1 RECENT\r\n")])
        _ = try! store.setFlags(user: "alice", mailbox: "INBOX", uids: [1], flags: ["\\Deleted"], mode: .add)
        #expect(session.storeChanged() == [line("* 1 FETCH (FLAGS (\\Deleted))\r\n")])
        _ = try! store.expunge(user: "alice", mailbox: "INBOX")
        #expect(session.storeChanged() == [line("* 1 EXPUNGE\r\n")])
        #expect(session.receive(line: bytes("done")) == [.watchStore(false), line("a OK IDLE terminated\r\n")])
        #expect(imapRun(&session, "b IDLE", "c NOOP") == "+ idling\r\n[watchStore(true)][watchStore(false)]b BAD expected DONE\r\n")
    }

    @Test("changes by others wait during FETCH, STORE and SEARCH, and come after UID commands and NOOP")
    func deferredExpunge() {
        var (session, store) = selected([MIMESamples.alternative, MIMESamples.mixed])
        _ = try! store.expunge(user: "alice", mailbox: "INBOX", uids: [1], requireDeletedFlag: false)
        #expect(imapRun(&session, "a FETCH 1:* UID") == "* 2 FETCH (UID 2)\r\na OK FETCH completed\r\n")
        #expect(imapRun(&session, "b SEARCH ALL") == "* SEARCH 2\r\nb OK SEARCH completed\r\n")
        #expect(imapRun(&session, "c NOOP") == "* 1 EXPUNGE\r\nc OK NOOP completed\r\n")
        #expect(imapRun(&session, "d FETCH 1 UID") == "* 1 FETCH (UID 2)\r\nd OK FETCH completed\r\n")
    }

    @Test("malformed commands are answered, never crash")
    func malformed() {
        var (session, _) = selected([MIMESamples.alternative])
        #expect(imapRun(&session, "") == "* BAD missing tag\r\n")
        #expect(imapRun(&session, "a") == "a BAD missing command\r\n")
        #expect(imapRun(&session, "a FETCH") == "a BAD invalid sequence set\r\n")
        #expect(imapRun(&session, "a FETCH 1 (FLAGS") == "a BAD invalid fetch items\r\n")
        #expect(imapRun(&session, "a FETCH 1 BODY[1.2.3.") == "a BAD unsupported fetch item\r\n")
        #expect(imapRun(&session, "a LOGIN \"x") == "a BAD unterminated quoted string\r\n")
        #expect(imapRun(&session, "a STORE 1 FLAGZ x") == "a BAD STORE needs FLAGS, +FLAGS or -FLAGS\r\n")
        #expect(imapRun(&session, "a UID BOGUS") == "a BAD unknown UID command\r\n")
        #expect(session.receiveOverlongLine() == [line("* BAD line too long\r\n")])
    }

    @Test("over loopback TCP: LOGIN, SELECT, SEARCH, FETCH, APPEND, IDLE sees another connection's APPEND")
    func loopback() async throws {
        try await withFakeMailServer(FakeMailServer.Configuration(protocol: .imap)) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes("ready\r\n"))
            _ = try await client.exchange("a LOGIN alice secret\r\n", through: "a OK")
            _ = try await client.read(through: bytes("\r\n"))
            #expect(text(try await client.exchange("b SELECT INBOX\r\n", through: "b OK")).contains("* 1 EXISTS"))
            _ = try await client.read(through: bytes("\r\n"))
            let search = try await client.exchange("c SEARCH SUBJECT welcome\r\n", through: "c OK SEARCH completed\r\n")
            #expect(text(search) == "* SEARCH 1\r\nc OK SEARCH completed\r\n")
            let fetch = try await client.exchange("d FETCH 1 BODY[TEXT]\r\n", through: "d OK FETCH completed\r\n")
            #expect(text(fetch).contains("BODY[TEXT] {51}\r\nHello Alice,\r\n"))
            #expect(text(fetch).contains("FLAGS (\\Seen)"))
            _ = try await client.exchange("e IDLE\r\n", through: "+ idling\r\n")

            let other = try await WireClient.connect(port: server.port)
            defer { Task { await other.close() } }
            _ = try await other.read(through: bytes("ready\r\n"))
            _ = try await other.exchange("a LOGIN alice secret\r\n", through: "a OK")
            _ = try await other.exchange("b APPEND INBOX {6+}\r\nHi.\r\n\r\n", through: "b OK [APPENDUID")

            #expect(try await client.read(through: bytes("* 2 EXISTS\r\n")) != nil)
            #expect(text(try await client.exchange("DONE\r\n", through: "e OK IDLE terminated\r\n")).contains("e OK"))
        }
    }
}
