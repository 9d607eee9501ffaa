// SPDX-License-Identifier: Apache-2.0
import Foundation
import Patterns
import Recording
import Runner
import Scenario
import Testing

/// The generated files: they load, they say what the recording said, and their patterns
/// generalise what changes from session to session.
@Suite struct ScenarioWriterTests {
    static let names = ScenarioWriter.Names(stem: "submission", caFile: "/ca.pem")

    static func load(_ text: String, file: String) throws -> Scenario {
        try ScenarioRunner.loader(serverProvider: nil).load(yaml: text, file: file)
    }

    @Test func theClientScenarioLoadsAndReplaysTheClientsSide() throws {
        let recording = try ProxySessionTests.smtpDialog().finished
        let text = ScenarioWriter.clientScenario(recording, names: Self.names)
        let scenario = try Self.load(text, file: "/tmp/submission.client.yaml")
        let keywords = scenario.steps.map(\.keyword)
        #expect(keywords.first == "connect")
        #expect(keywords.contains("capability") && keywords.contains("starttls") && keywords.contains("snapshot"))
        #expect(scenario.requires == ["MAIL_USER", "MAIL_PASSWORD"])
        #expect(text.contains(#"secrets: [MAIL_PASSWORD]"#))
        #expect(text.contains(#"{base64: "\0${MAIL_USER}\0${MAIL_PASSWORD}"}"#))
        #expect(text.contains(#"has: ["8BITMIME""#) == false)
        #expect(text.contains(#"capabilities-before-tls: {has: ["PIPELINING", "SIZE", "STARTTLS"]}"#))
        #expect(text.contains(#"capabilities-after-tls: {has: ["AUTH", "LOGIN", "PLAIN", "SIZE"]}"#))
        #expect(text.contains("tls-version: TLS1.3, discarded-bytes: 12"))
        #expect(text.contains("- expect: {peer-closes: true}"))
        // The banner's host name and the queue id are open; the words and codes are not.
        #expect(text.contains(#"- greeting: '^220 [^ \r\n]+ ESMTP Postfix \(Debian/GNU\)\r\n'"#))
        #expect(text.contains(#"'^250 2\.0\.0 Ok: queued as [A-Za-z0-9]+\r\n'"#))
        #expect(!text.contains("s3cret"))
    }

    @Test func theServerScriptLoadsAndAnswersTheRecordedClient() throws {
        let recording = try ProxySessionTests.smtpDialog().finished
        let text = ScenarioWriter.serverScript(recording, names: Self.names)
        let scenario = try Self.load(text, file: "/tmp/submission.server.yaml")
        #expect(scenario.steps.first?.keyword == "send")
        #expect(
            text.contains(
                #"- starttls: {go-ahead: "220 2.0.0 Ready to start TLS", inject: "250 forged\r\n", certificate: "submission.cert.pem", key: "submission.key.pem"}"#
            ))
        #expect(text.contains(#"{pattern: '^EHLO [^\r\n]*\r?\n', case-insensitive: true}"#))
        #expect(text.contains(#"{pattern: '^AUTH PLAIN [^\r\n]*\r?\n', case-insensitive: true}"#))
        // The message is read up to its dot, not matched line by line (its Date changes).
        #expect(text.contains(#"- expect: '^\.\r?\n'"#))
        #expect(!text.contains("Tue, 8 Dec"))
        #expect(text.contains("- close:"))
    }

    @Test func theSnapshotHoldsTheFactsTheStepCompares() throws {
        let recording = try ProxySessionTests.smtpDialog().finished
        let text = ScenarioWriter.snapshot(recording, names: Self.names)
        #expect(text.contains("capabilities-before-tls: PIPELINING SIZE STARTTLS\n"))
        #expect(text.contains("capabilities-after-tls: AUTH LOGIN PLAIN SIZE\n"))
        #expect(text.contains("verified: yes\n"))
        #expect(text.contains("peer-san: DNS:localhost, DNS:mail.test\n"))
    }

    @Test func imapTagsAreCapturedAndAnsweredWithTheClientsTag() throws {
        var session = try ProxySession(
            preset: "imap", upstream: .init(host: "127.0.0.2", port: 10143, serverName: "mail.test", implicitTLS: false), recordedAt: "")
        func line(_ text: String) -> [UInt8] { Array(text.utf8) }
        _ = session.serverSent(line("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] Dovecot (Debian) ready.\r\n"), at: 0)
        _ = session.clientSent(line("KLMN1 CAPABILITY\r\n"), at: 0)
        _ = session.serverSent(
            line(
                "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\nKLMN1 OK Pre-login capabilities listed, post-login capabilities have more.\r\n"
            ), at: 0)
        _ = session.clientSent(line("KLMN2 STARTTLS\r\n"), at: 0)
        #expect(session.serverSent(line("KLMN2 OK Begin TLS negotiation now.\r\n"), at: 0).last == .startTLS)
        session.handshakesCompleted(
            client: .init(version: "TLS1.3", cipher: "X", verified: false), upstream: .init(version: "TLS1.3", cipher: "X", verified: true),
            at: 0)
        _ = session.clientSent(line("KLMN3 LOGIN parley \"secret-pw\"\r\n"), at: 0)
        _ = session.serverSent(line("KLMN3 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"), at: 0)
        _ = session.clientSent(line("KLMN4 SELECT INBOX\r\n"), at: 0)
        _ = session.serverSent(
            line(
                "* 3 EXISTS\r\n* OK [UIDVALIDITY 1733612345] UIDs valid\r\nKLMN4 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"
            ), at: 0)
        let recording = session.finished
        let names = ScenarioWriter.Names(stem: "imap", caFile: nil)
        let client = ScenarioWriter.clientScenario(recording, names: names)
        _ = try Self.load(client, file: "/tmp/imap.client.yaml")
        #expect(client.contains(#"- capability: {command: "KLMN1 CAPABILITY\r\n", end: '^(?:\*[^\n]*\n)*KLMN1 (?:OK|NO|BAD)\b[^\n]*\n'}"#))
        #expect(client.contains(#"success: '^KLMN2 OK\b'"#))
        #expect(client.contains(#"- send: {line: "KLMN3 LOGIN \"${MAIL_USER}\" \"${MAIL_PASSWORD}\""}"#))
        // Counts, UIDVALIDITY and timings are open; the capability list in brackets is literal.
        #expect(
            client.contains(
                #"'^\* [0-9]+ EXISTS\r\n\* OK \[UIDVALIDITY [0-9]+\] UIDs valid\r\nKLMN4 OK \[READ-WRITE\] Select completed \([0-9.]+(?: \+ [0-9.]+)* secs\)\.\r\n'"#
            ))
        #expect(client.contains(#"'^KLMN3 OK \[CAPABILITY IMAP4rev1 IDLE\] Logged in\r\n'"#))
        let server = ScenarioWriter.serverScript(recording, names: names)
        _ = try Self.load(server, file: "/tmp/imap.server.yaml")
        #expect(server.contains(#"{pattern: '^(?<tag1>[^ \r\n]+) CAPABILITY\r\n', case-insensitive: true}"#))
        #expect(server.contains(#"{line: "${tag1} OK Pre-login capabilities listed, post-login capabilities have more."}"#))
        #expect(server.contains(#"go-ahead: "${tag2} OK Begin TLS negotiation now.""#))
        #expect(!server.contains("secret-pw") && !client.contains("secret-pw"))
    }

    @Test func everyGeneralisedReplyMatchesWhatItCameFrom() throws {
        let replies = [
            "220 mx1.example.org ESMTP Postfix (Debian/GNU)\r\n",
            "250 2.0.0 Ok: queued as 4QZ3yL0xYz\r\n",
            "250 2.0.0 OK: queued as hcDjFnHjhWEQqaxrwUnxFY\r\n",
            "+OK Dovecot (Debian) ready. <1896.697170952@dbc.mtview.ca.us>\r\n",
            "* OK [CAPABILITY IMAP4rev1 SASL-IR] Dovecot ready.\r\n",
            "Date: Tue, 8 Dec 2026 01:02:03 +0000 (UTC)\r\n",
            "A5 OK Fetch completed (0.002 + 0.000 + 0.001 secs).\r\n",
            "weird \u{01}\u{ff} bytes (\\x) [x] {1} ^$ .* no line end",
        ]
        for reply in replies {
            let bytes = Array(reply.utf8)
            let pattern = try BytePattern(ScenarioWriter.generalizedServerPattern(bytes), options: [.multiline])
            #expect(pattern.firstMatch(in: bytes)?.range == 0..<bytes.count, "\(reply)")
        }
        let date = try BytePattern(ScenarioWriter.generalizedServerPattern(Array(replies[5].utf8)), options: [.multiline])
        #expect(date.firstMatch(in: Array("Date: Wed, 19 Jan 2028 23:59:58 +0100 (UTC)\r\n".utf8)) != nil)
        let queued = try BytePattern(ScenarioWriter.generalizedServerPattern(Array(replies[2].utf8)), options: [.multiline])
        #expect(queued.firstMatch(in: Array("250 2.0.0 OK: queued as rfwqDkQ2VmiGogqWJ7qFbB\r\n".utf8)) != nil)
        // Dovecot's timings have two or three parts.
        let timing = try BytePattern(ScenarioWriter.generalizedServerPattern(Array(replies[6].utf8)), options: [.multiline])
        #expect(timing.firstMatch(in: Array("A5 OK Fetch completed (0.001 + 0.000 secs).\r\n".utf8)) != nil)
    }
}
