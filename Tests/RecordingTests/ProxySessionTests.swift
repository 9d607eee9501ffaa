// SPDX-License-Identifier: Apache-2.0
import Foundation
import Recording
import Testing

/// The proxy's rules as a value: relaying, STARTTLS, credentials as variables.
@Suite struct ProxySessionTests {
    static let upstream = Recording.Upstream(host: "127.0.0.1", port: 10587, serverName: "mail.test", implicitTLS: false)

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// An SMTP submission dialog: STARTTLS (with a forged reply behind the go-ahead), AUTH PLAIN.
    static func smtpDialog() throws -> ProxySession {
        var session = try ProxySession(preset: "submission", upstream: upstream, recordedAt: "2026-12-08T00:00:00Z")
        #expect(
            session.serverSent(bytes("220 mail.test ESMTP Postfix (Debian/GNU)\r\n"), at: 0.01) == [
                .toClient(bytes("220 mail.test ESMTP Postfix (Debian/GNU)\r\n"))
            ])
        #expect(session.clientSent(bytes("EHLO client.test\r\n"), at: 0.02) == [.toServer(bytes("EHLO client.test\r\n"))])
        _ = session.serverSent(bytes("250-mail.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n"), at: 0.03)
        // The client pipelines a command behind STARTTLS: it is held, not relayed.
        #expect(session.clientSent(bytes("STARTTLS\r\nNOOP\r\n"), at: 0.04) == [.toServer(bytes("STARTTLS\r\n"))])
        // The reply comes in two reads; the go-ahead is relayed whole, the forged line behind it dropped.
        #expect(session.serverSent(bytes("220 2.0.0 Ready"), at: 0.05) == [])
        #expect(
            session.serverSent(bytes(" to start TLS\r\n250 forged\r\n"), at: 0.06) == [
                .toClient(bytes("220 2.0.0 Ready to start TLS\r\n")), .startTLS,
            ])
        session.handshakesCompleted(
            client: .init(version: "TLS1.3", cipher: "TLS_AES_256_GCM_SHA384", verified: false),
            upstream: .init(
                version: "TLS1.3", cipher: "TLS_AES_256_GCM_SHA384", verified: true, peerSubject: "CN=localhost,O=Parley",
                peerIssuer: "CN=Parley Test CA,O=Parley", peerSAN: ["DNS:localhost", "DNS:mail.test"]),
            at: 0.07)
        _ = session.clientSent(bytes("EHLO client.test\r\n"), at: 0.08)
        _ = session.serverSent(bytes("250-mail.test\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE 10240000\r\n"), at: 0.09)
        let plain = Data("\0alice\0s3cret-pass".utf8).base64EncodedString()
        #expect(session.clientSent(bytes("AUTH PLAIN \(plain)\r\n"), at: 0.10) == [.toServer(bytes("AUTH PLAIN \(plain)\r\n"))])
        _ = session.serverSent(bytes("235 2.7.0 Authentication successful\r\n"), at: 0.11)
        _ = session.clientSent(bytes("MAIL FROM:<alice@mail.test>\r\n"), at: 0.12)
        _ = session.serverSent(bytes("250 2.1.0 Ok\r\n"), at: 0.13)
        _ = session.clientSent(bytes("RCPT TO:<alice@mail.test>\r\n"), at: 0.14)
        _ = session.serverSent(bytes("250 2.1.5 Ok\r\n"), at: 0.15)
        _ = session.clientSent(bytes("DATA\r\n"), at: 0.16)
        _ = session.serverSent(bytes("354 End data with <CR><LF>.<CR><LF>\r\n"), at: 0.17)
        _ = session.clientSent(
            bytes("Date: Tue, 8 Dec 2026 01:02:03 +0000\r\nSubject: hi\r\n\r\nAUTH PLAIN is not a command here\r\n.\r\n"), at: 0.18)
        _ = session.serverSent(bytes("250 2.0.0 Ok: queued as 4ABCD12EFG\r\n"), at: 0.19)
        _ = session.clientSent(bytes("QUIT\r\n"), at: 0.20)
        _ = session.serverSent(bytes("221 2.0.0 Bye\r\n"), at: 0.21)
        session.closed(by: .server, at: 0.22)
        return session
    }

    @Test func relaysAndRecordsBothSidesAcrossStartTLS() throws {
        let recording = try Self.smtpDialog().finished
        let kinds = recording.events.map(\.kind)
        #expect(kinds.contains(.starttls) && kinds.contains(.handshake) && kinds.last == .closed)
        let discarded = recording.events.filter { $0.kind == .discarded }
        #expect(discarded.map(\.from) == [.server, .client])
        #expect(discarded.map(\.literalBytes) == [Self.bytes("250 forged\r\n"), Self.bytes("NOOP\r\n")])
        // Under TLS after the handshake.
        let tls = recording.events.filter { $0.kind == .data && $0.tls }
        #expect(tls.first?.literalBytes == Self.bytes("EHLO client.test\r\n"))
        #expect(recording.upstreamTLS?.peerSubject == "CN=localhost,O=Parley")
    }

    @Test func credentialsBecomeVariablesAndNeverReachTheFile() throws {
        let session = try Self.smtpDialog()
        let recording = session.finished
        let text = String(decoding: recording.encoded(), as: UTF8.self)
        #expect(!text.contains("s3cret-pass"))
        #expect(!text.contains(Data("\0alice\0s3cret-pass".utf8).base64EncodedString()))
        #expect(!text.contains(Data("s3cret-pass".utf8).base64EncodedString()))
        #expect(recording.variables.map(\.name) == ["MAIL_USER", "MAIL_PASSWORD"])
        #expect(recording.variables.map(\.secret) == [false, true])
        let auth = recording.events.first { $0.literalBytes.starts(with: Self.bytes("AUTH PLAIN ")) }
        #expect(
            auth?.pieces == [.bytes(Self.bytes("AUTH PLAIN ")), .base64("\0${MAIL_USER}\0${MAIL_PASSWORD}"), .bytes(Self.bytes("\r\n"))])
        // Inside the message, "AUTH PLAIN" is text, not a command.
        #expect(text.contains("AUTH PLAIN is not a command here"))
        #expect(session.secretValues.contains(Self.bytes("s3cret-pass")))
    }

    @Test func aRefusedStartTLSRelaysTheHeldBytes() throws {
        var session = try ProxySession(preset: "smtp", upstream: Self.upstream, recordedAt: "")
        _ = session.serverSent(Self.bytes("220 mx ESMTP\r\n"), at: 0)
        #expect(session.clientSent(Self.bytes("STARTTLS\r\nQUIT\r\n"), at: 0) == [.toServer(Self.bytes("STARTTLS\r\n"))])
        #expect(
            session.serverSent(Self.bytes("454 4.7.0 TLS not available\r\n"), at: 0) == [
                .toClient(Self.bytes("454 4.7.0 TLS not available\r\n")), .toServer(Self.bytes("QUIT\r\n")),
            ])
        #expect(!session.finished.events.contains { $0.kind == .starttls })
    }

    @Test func smtpAuthLoginFollowsThePrompts() throws {
        var session = try ProxySession(preset: "smtp", upstream: Self.upstream, recordedAt: "")
        _ = session.clientSent(Self.bytes("AUTH LOGIN\r\n"), at: 0)
        _ = session.serverSent(Self.bytes("334 VXNlcm5hbWU6\r\n"), at: 0)
        _ = session.clientSent(Self.bytes(Data("alice".utf8).base64EncodedString() + "\r\n"), at: 0)
        _ = session.serverSent(Self.bytes("334 UGFzc3dvcmQ6\r\n"), at: 0)
        _ = session.clientSent(Self.bytes(Data("hunter2!".utf8).base64EncodedString() + "\r\n"), at: 0)
        _ = session.serverSent(Self.bytes("235 ok\r\n"), at: 0)
        _ = session.clientSent(Self.bytes("NOOP\r\n"), at: 0)
        let clientPieces = session.finished.events.filter { $0.from == .client }.map { $0.pieces ?? [] }
        #expect(clientPieces[1] == [.base64("${MAIL_USER}"), .bytes([13, 10])])
        #expect(clientPieces[2] == [.base64("${MAIL_PASSWORD}"), .bytes([13, 10])])
        #expect(clientPieces[3] == [.bytes(Self.bytes("NOOP\r\n"))])
    }

    @Test func imapLoginAndAuthenticateAndPOP3Pass() throws {
        var imap = try ProxySession(preset: "imap", upstream: Self.upstream, recordedAt: "")
        _ = imap.clientSent(Self.bytes("a1 LOGIN \"alice\" \"pa ss\\\"word\"\r\n"), at: 0)
        _ = imap.serverSent(Self.bytes("a1 OK Logged in\r\n"), at: 0)
        _ = imap.clientSent(Self.bytes("a2 AUTHENTICATE PLAIN\r\n"), at: 0)
        _ = imap.serverSent(Self.bytes("+ \r\n"), at: 0)
        _ = imap.clientSent(Self.bytes(Data("\0alice\0pa ss\"word".utf8).base64EncodedString() + "\r\n"), at: 0)
        _ = imap.serverSent(Self.bytes("a2 OK done\r\n"), at: 0)
        let recording = imap.finished
        let text = String(decoding: recording.encoded(), as: UTF8.self)
        #expect(!text.contains("pa ss"))
        let login = recording.events.first { $0.from == .client }?.pieces
        #expect(
            login == [
                .bytes(Self.bytes("a1 LOGIN \"")), .variable("MAIL_USER"), .bytes(Self.bytes("\" \"")), .variable("MAIL_PASSWORD"),
                .bytes(Self.bytes("\"")), .bytes([13, 10]),
            ])

        var pop = try ProxySession(preset: "pop3", upstream: Self.upstream, recordedAt: "")
        _ = pop.clientSent(Self.bytes("USER alice\r\nPASS open-sesame\r\n"), at: 0)
        let popText = String(decoding: pop.finished.encoded(), as: UTF8.self)
        #expect(!popText.contains("open-sesame") && !popText.contains("alice"))
    }

    @Test func implicitTLSRecordsEverythingUnderTLSAndTheLimitCutsTheRecordingNotTheDialog() throws {
        let implicit = Recording.Upstream(host: "127.0.0.1", port: 10465, serverName: "mail.test", implicitTLS: true)
        var session = try ProxySession(preset: "submission", upstream: implicit, recordedAt: "", recordLimit: 64)
        _ = session.serverSent(Self.bytes("220 mail.test ESMTP\r\n"), at: 0)
        session.handshakesCompleted(
            client: .init(version: "TLS1.3", cipher: "X", verified: false), upstream: .init(version: "TLS1.3", cipher: "X", verified: true),
            at: 0)
        let big = Array(repeating: UInt8(ascii: "x"), count: 100) + [13, 10]
        // Relayed whole, recorded no further than the limit.
        #expect(session.clientSent(big, at: 0) == [.toServer(big)])
        let recording = session.finished
        #expect(recording.truncated)
        #expect(recording.events.filter { $0.kind == .data }.allSatisfy { $0.tls })
        // The client never sends STARTTLS under implicit TLS: a line that says so is relayed as it is.
        #expect(session.clientSent(Self.bytes("STARTTLS\r\n"), at: 0) == [.toServer(Self.bytes("STARTTLS\r\n"))])
    }

    @Test func anUnknownPresetIsRefused() {
        #expect(throws: RecordingError.self) { try ProxySession(preset: "xmpp", upstream: Self.upstream, recordedAt: "") }
    }

    @Test func aRecordingSurvivesItsFileAndBadFilesAreNamed() throws {
        let recording = try Self.smtpDialog().finished
        #expect(try Recording.decode(recording.encoded()) == recording)
        #expect(throws: RecordingError.self) { try Recording.decode(Data("{}".utf8)) }
        do {
            _ = try Recording.decode(
                Data(
                    #"{"format":1,"preset":"smtp","recorded_at":"","events":[{"at":0,"kind":"data","tls":false,"pieces":[{"hex":"zz"}]}],"variables":[],"upstream":{"host":"h","port":1,"server_name":"h","implicit_tls":false}}"#
                        .utf8))
            Issue.record("a bad hex piece was read")
        } catch {
            #expect(error.description.contains("events[0].pieces[0]"))
        }
    }

    @Test func theSameCommandsAreTheSameEpisodeWhateverTheTags() throws {
        func imap(_ tag: String) throws -> Recording {
            var session = try ProxySession(preset: "imap", upstream: Self.upstream, recordedAt: "")
            _ = session.serverSent(Self.bytes("* OK ready\r\n"), at: 0)
            _ = session.clientSent(Self.bytes("\(tag)1 CAPABILITY\r\n"), at: 0)
            _ = session.serverSent(Self.bytes("* CAPABILITY IMAP4rev1\r\n\(tag)1 OK done\r\n"), at: 0)
            return session.finished
        }
        #expect(RecordingComparison.sameClientSide(try imap("ABCD"), try imap("WXYZ")))
        var other = try ProxySession(preset: "imap", upstream: Self.upstream, recordedAt: "")
        _ = other.clientSent(Self.bytes("A1 NOOP\r\n"), at: 0)
        #expect(!RecordingComparison.sameClientSide(try imap("A"), other.finished))
    }
}
