// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailServers
import ParleyTestSupport
import Testing

/// One command a line client sends after the handshake, and the text that ends its answer.
struct DialogStep: Sendable {
    var send: String
    var expect: String
}

/// The same short dialog for each protocol, spoken after TLS is up.
func dialog(for mailProtocol: MailProtocol) -> [DialogStep] {
    switch mailProtocol {
    case .smtp:
        [
            DialogStep(send: "EHLO client.test\r\n", expect: "250 SMTPUTF8\r\n"),
            DialogStep(send: "QUIT\r\n", expect: "221 2.0.0 Bye\r\n"),
        ]
    case .imap:
        [
            DialogStep(send: "a1 LOGIN alice secret\r\n", expect: "a1 OK"),
            DialogStep(send: "a2 SELECT INBOX\r\n", expect: "a2 OK [READ-WRITE]"),
            DialogStep(send: "a3 FETCH 1 BODY[]\r\n", expect: "a3 OK FETCH completed\r\n"),
            DialogStep(send: "a4 LOGOUT\r\n", expect: "a4 OK LOGOUT completed\r\n"),
        ]
    case .pop3:
        [
            DialogStep(send: "USER alice\r\n", expect: "+OK send PASS\r\n"),
            DialogStep(send: "PASS secret\r\n", expect: "+OK logged in"),
            DialogStep(send: "RETR 1\r\n", expect: "Bye.\r\n.\r\n"),
            DialogStep(send: "QUIT\r\n", expect: "+OK mail.test Bye\r\n"),
        ]
    }
}

/// A server with STARTTLS and the test PKI's certificate.
func startTLSConfiguration(_ mailProtocol: MailProtocol) throws -> FakeMailServer.Configuration {
    FakeMailServer.Configuration(protocol: mailProtocol, tls: try FixtureCertificates.serverContext())
}

/// Speaks `dialog` through a running line client, then waits for it to exit.
func runDialog(
    _ client: ExternalProcess,
    handshakeDone: String,
    steps: [DialogStep],
    sourceLocation: SourceLocation = #_sourceLocation
) async throws {
    defer { client.kill() }
    // Keep stdin open until the handshake summary is out: these clients quit on EOF, possibly
    // before they print the verification result.
    let handshake = try await client.waitForOutput(handshakeDone, includingStderr: true)
    #expect(handshake, "no handshake summary\n\(client.transcript)", sourceLocation: sourceLocation)
    guard handshake else { return }
    for step in steps {
        try client.write(step.send)
        let answered = try await client.waitForOutput(step.expect)
        #expect(
            answered,
            "no \(step.expect.debugDescription) after \(step.send.debugDescription)\n\(client.transcript)",
            sourceLocation: sourceLocation
        )
        guard answered else { return }
    }
    client.closeInput()
    let status = try await client.waitForExit(seconds: 20)
    #expect(status != nil, "\(client.command) did not exit in time", sourceLocation: sourceLocation)
}

@Suite("Interop with clients no one here wrote")
struct InteropTests {
    static let ca = FixtureCertificates.path("ca.pem")

    @Test(
        "openssl s_client -starttls verifies the certificate and completes a dialog",
        .enabled(if: ExternalProcess.isAvailable("openssl"), "needs openssl"),
        arguments: MailProtocol.allCases
    )
    func openSSL(_ mailProtocol: MailProtocol) async throws {
        try await withFakeMailServer(try startTLSConfiguration(mailProtocol)) { server in
            let client = try ExternalProcess([
                "openssl", "s_client", "-starttls", mailProtocol.rawValue,
                "-connect", "127.0.0.1:\(server.port)",
                "-CAfile", Self.ca, "-verify_return_error",
                "-verify_hostname", "localhost", "-servername", "localhost",
                // Without this, a line starting with "Q" or "R" would be a command to s_client.
                "-nocommands",
            ])
            try await runDialog(client, handshakeDone: "Verify return code: 0 (ok)", steps: dialog(for: mailProtocol))
        }
    }

    @Test(
        "openssl s_client over implicit TLS (SMTPS, IMAPS, POP3S) verifies the certificate and completes a dialog",
        .enabled(if: ExternalProcess.isAvailable("openssl"), "needs openssl"),
        arguments: MailProtocol.allCases
    )
    func openSSLImplicitTLS(_ mailProtocol: MailProtocol) async throws {
        let configuration = FakeMailServer.Configuration(protocol: mailProtocol, implicitTLS: true)
        try await withFakeMailServer(configuration) { server in
            let client = try ExternalProcess([
                "openssl", "s_client", "-connect", "127.0.0.1:\(server.port)",
                "-CAfile", Self.ca, "-verify_return_error",
                "-verify_hostname", "localhost", "-servername", "localhost", "-nocommands",
            ])
            try await runDialog(client, handshakeDone: "Verify return code: 0 (ok)", steps: dialog(for: mailProtocol))
        }
    }

    @Test(
        "openssl s_client with the test client certificate is served where one is required; without it, not",
        .enabled(if: ExternalProcess.isAvailable("openssl"), "needs openssl")
    )
    func openSSLClientCertificate() async throws {
        let configuration = FakeMailServer.Configuration(
            protocol: .pop3,
            tls: try FixtureCertificates.serverContext(clientCertificateMode: .require),
            implicitTLS: true
        )
        try await withFakeMailServer(configuration) { server in
            let arguments = [
                "openssl", "s_client", "-connect", "127.0.0.1:\(server.port)",
                "-CAfile", Self.ca, "-verify_return_error", "-verify_hostname", "localhost", "-nocommands",
            ]
            let client = try ExternalProcess(
                arguments + [
                    "-cert", FixtureCertificates.path("client.pem"), "-key", FixtureCertificates.path("client-key.pem"),
                ]
            )
            try await runDialog(client, handshakeDone: "Verify return code: 0 (ok)", steps: dialog(for: .pop3))

            let anonymous = try ExternalProcess(arguments)
            defer { anonymous.kill() }
            // The server refuses the handshake; s_client reports the alert and exits by itself.
            let status = try await anonymous.waitForExit(seconds: 30)
            #expect(status != nil, "\(anonymous.transcript)")
            #expect(!anonymous.stdout.contains("+OK mail.test POP3"), "\(anonymous.transcript)")
        }
    }

    @Test(
        "gnutls-cli --starttls-proto verifies the certificate and completes a dialog",
        .enabled(if: ExternalProcess.isAvailable("gnutls-cli"), "needs gnutls-cli"),
        arguments: MailProtocol.allCases
    )
    func gnutlsCLI(_ mailProtocol: MailProtocol) async throws {
        try await withFakeMailServer(try startTLSConfiguration(mailProtocol)) { server in
            let client = try ExternalProcess([
                "gnutls-cli", "--starttls-proto=\(mailProtocol.rawValue)",
                "--x509cafile=\(Self.ca)", "--verify-hostname=localhost", "--sni-hostname=localhost",
                "--port=\(server.port)", "127.0.0.1",
            ])
            try await runDialog(client, handshakeDone: "Handshake was completed", steps: dialog(for: mailProtocol))
            #expect(
                client.stderr.contains("The certificate is trusted")
                    || client.stdout.contains("The certificate is trusted"),
                "\(client.transcript)"
            )
        }
    }

    @Test(
        "swaks --tls with AUTH PLAIN sends a message that the server accepts",
        .enabled(if: ExternalProcess.isAvailable("swaks"), "needs swaks")
    )
    func swaks() async throws {
        try await withFakeMailServer(try startTLSConfiguration(.smtp)) { server in
            let client = try ExternalProcess([
                "swaks", "--server", "127.0.0.1", "--port", "\(server.port)", "--helo", "client.test",
                "--tls", "--tls-verify", "--tls-ca-path", Self.ca, "--tls-sni", "localhost",
                "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "secret",
                "--from", "sender@example.test", "--to", "alice@mail.test",
                "--header", "Subject: swaks interop", "--body", "Hello from swaks",
                "--timeout", "20",
            ])
            let status = try await client.waitForExit(seconds: 60)
            #expect(status == 0, "\(client.transcript)")
            #expect(client.stdout.contains("235 2.7.0 Authentication successful"), "\(client.transcript)")
            #expect(server.acceptedMessages.count == 1)
            #expect(server.acceptedMessages.first?.contains("Hello from swaks") == true)
        }
    }

    @Test(
        "Python smtplib: STARTTLS verified against the test CA, login, send",
        .enabled(if: ExternalProcess.isAvailable("python3"), "needs python3")
    )
    func pythonSMTP() async throws {
        let script = """
            import smtplib, ssl, sys
            port, ca = int(sys.argv[1]), sys.argv[2]
            context = ssl.create_default_context(cafile=ca)
            with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
                smtp.ehlo("client.test")
                smtp.starttls(context=context)
                smtp.ehlo("client.test")
                smtp.login("alice", "secret")
                smtp.sendmail("sender@example.test", ["alice@mail.test"],
                              b"Subject: smtplib interop\\r\\n\\r\\nHello from smtplib\\r\\n.leading dot\\r\\n")
            print("SMTPLIB-OK")
            """
        try await withFakeMailServer(try startTLSConfiguration(.smtp)) { server in
            let client = try ExternalProcess(["python3", "-c", script, "\(server.port)", Self.ca])
            let status = try await client.waitForExit(seconds: 60)
            #expect(status == 0, "\(client.transcript)")
            #expect(client.stdout.contains("SMTPLIB-OK"), "\(client.transcript)")
            #expect(
                server.acceptedMessages == [
                    bytes("Subject: smtplib interop\r\n\r\nHello from smtplib\r\n.leading dot\r\n")
                ]
            )
        }
    }

    @Test(
        "Python imaplib: STARTTLS verified against the test CA, login, select, fetch",
        .enabled(if: ExternalProcess.isAvailable("python3"), "needs python3")
    )
    func pythonIMAP() async throws {
        let script = """
            import imaplib, ssl, sys
            port, ca = int(sys.argv[1]), sys.argv[2]
            context = ssl.create_default_context(cafile=ca)
            imap = imaplib.IMAP4("127.0.0.1", port, timeout=20)
            imap.starttls(ssl_context=context)
            assert "LOGINDISABLED" not in imap.capabilities, imap.capabilities
            imap.login("alice", "secret")
            kind, data = imap.select("INBOX")
            assert kind == "OK" and data == [b"1"], (kind, data)
            kind, data = imap.fetch("1", "(RFC822)")
            assert kind == "OK", kind
            assert b"Subject: Welcome to the Parley fake server" in data[0][1], data
            imap.logout()
            print("IMAPLIB-OK")
            """
        try await withFakeMailServer(try startTLSConfiguration(.imap)) { server in
            let client = try ExternalProcess(["python3", "-c", script, "\(server.port)", Self.ca])
            let status = try await client.waitForExit(seconds: 60)
            #expect(status == 0, "\(client.transcript)")
            #expect(client.stdout.contains("IMAPLIB-OK"), "\(client.transcript)")
        }
    }

    @Test(
        "Python poplib: STLS verified against the test CA, user/pass, retr",
        .enabled(if: ExternalProcess.isAvailable("python3"), "needs python3")
    )
    func pythonPOP3() async throws {
        let script = """
            import poplib, ssl, sys
            port, ca = int(sys.argv[1]), sys.argv[2]
            context = ssl.create_default_context(cafile=ca)
            pop = poplib.POP3("127.0.0.1", port, timeout=20)
            pop.stls(context=context)
            pop.user("alice")
            pop.pass_("secret")
            response, lines, octets = pop.retr(1)
            assert b"Subject: Welcome to the Parley fake server" in lines, lines
            assert b".this line starts with a dot." in lines, lines
            pop.quit()
            print("POPLIB-OK")
            """
        try await withFakeMailServer(try startTLSConfiguration(.pop3)) { server in
            let client = try ExternalProcess(["python3", "-c", script, "\(server.port)", Self.ca])
            let status = try await client.waitForExit(seconds: 60)
            #expect(status == 0, "\(client.transcript)")
            #expect(client.stdout.contains("POPLIB-OK"), "\(client.transcript)")
        }
    }
}
