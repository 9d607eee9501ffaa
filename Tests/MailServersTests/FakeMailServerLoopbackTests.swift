// SPDX-License-Identifier: Apache-2.0
import GnuTLSNIO
import MailServers
import ParleyTestSupport
import Testing

@Suite("FakeMailServer over loopback TCP")
struct FakeMailServerLoopbackTests {
    @Test(
        "implicit TLS: the greeting arrives over a verified TLS session",
        arguments: [
            (MailProtocol.smtp, "220 mail.test ESMTP Parley fake server\r\n"),
            (
                MailProtocol.imap,
                "* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN SASL-IR IDLE UIDPLUS MOVE UNSELECT ENABLE ID NAMESPACE CHILDREN SPECIAL-USE] mail.test IMAP4rev1 Parley fake server ready\r\n"
            ),
            (MailProtocol.pop3, "+OK mail.test POP3 Parley fake server ready\r\n"),
        ]
    )
    func implicitTLS(_ mailProtocol: MailProtocol, greeting: String) async throws {
        // No context given: implicit TLS uses the test PKI's server certificate.
        let configuration = FakeMailServer.Configuration(protocol: mailProtocol, implicitTLS: true)
        try await withFakeMailServer(configuration) { server in
            let client = try await WireClient.connect(port: server.port, tls: try FixtureCertificates.clientContext())
            defer { Task { await client.close() } }
            #expect(try await client.read(through: bytes("\r\n")) == bytes(greeting))
            #expect(client.snapshot.tls?.verified == true)
        }
    }

    @Test("a required client certificate: a client without one fails, a client with one is served")
    func requiredClientCertificate() async throws {
        let withCertificate = try FixtureCertificates.clientContext(withClientCertificate: true)
        let configuration = FakeMailServer.Configuration(
            protocol: .pop3,
            tls: try FixtureCertificates.serverContext(clientCertificateMode: .require),
            implicitTLS: true
        )
        try await withFakeMailServer(configuration) { server in
            let anonymous = try await WireClient.connect(
                port: server.port,
                tls: try FixtureCertificates.clientContext()
            )
            defer { Task { await anonymous.close() } }
            #expect(try await anonymous.waitForClose())
            #expect(anonymous.snapshot.all.isEmpty)

            let client = try await WireClient.connect(port: server.port, tls: withCertificate)
            defer { Task { await client.close() } }
            #expect(try await client.read(through: bytes("ready\r\n")) != nil)
            #expect(client.snapshot.tls?.clientCertificateSent == true)
        }
    }

    @Test("a whole SMTP dialog over STARTTLS stores the message for the test to read")
    func acceptedMessages() async throws {
        let configuration = FakeMailServer.Configuration(protocol: .smtp, tls: try FixtureCertificates.serverContext())
        try await withFakeMailServer(configuration) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes("server\r\n"))
            _ = try await client.exchange("STARTTLS\r\n", through: "\r\n")
            #expect(try await client.startTLS(try FixtureCertificates.clientContext())?.verified == true)
            _ = try await client.exchange("EHLO c\r\n", through: "250 SMTPUTF8\r\n")
            #expect(
                try await client.exchange("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", through: "\r\n")
                    == bytes("235 2.7.0 Authentication successful\r\n")
            )
            try await client.send(bytes("MAIL FROM:<a@example>\r\nRCPT TO:<alice@mail.test>\r\nDATA\r\n"))
            _ = try await client.read(through: bytes("354 End data with <CR><LF>.<CR><LF>\r\n"))
            let reply = try await client.exchange("Subject: t\r\n\r\n..one\r\n.\r\n", through: "\r\n")
            #expect(text(reply).hasPrefix("250 2.0.0 OK: queued as "))
            #expect(server.acceptedMessages == [bytes("Subject: t\r\n\r\n.one\r\n")])
            // In alice's INBOX, after the sample message, with the TLS session and AUTH in the
            // Received header.
            let id = text(Array((reply ?? []).dropFirst("250 2.0.0 OK: queued as ".utf8.count).dropLast(2)))
            let stored = try #require(server.store.message(id: id))
            #expect(text(stored.bytes).contains("by mail.test (Parley) with ESMTPSA\r\n\t(TLS1."))
            #expect(try server.store.mailbox(user: "alice", name: "INBOX").entries.map(\.messageID).last == id)
        }
    }
}
