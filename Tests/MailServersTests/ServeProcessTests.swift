// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailServers
import ParleyTestSupport
import Testing

/// The port in a "listening on HOST:PORT" line.
func listeningPort(_ stdout: [UInt8]) -> Int? {
    let prefix = bytes("listening on 127.0.0.1:")
    guard stdout.starts(with: prefix), let end = stdout.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
    return Int(String(decoding: stdout[prefix.count..<end], as: UTF8.self))
}

@Suite("parley serve as a real process")
struct ServeProcessTests {
    @Test(
        "prints its port first, serves with the fault knobs, logs the dialog, stops cleanly on a signal",
        .enabled(if: parleyExecutable() != nil, "needs the built parley executable"),
        arguments: [SIGTERM, SIGINT]
    )
    func serveAndStop(signal: Int32) async throws {
        let parley = try #require(parleyExecutable())
        let serve = try ExternalProcess([parley, "serve", "imap", "--port", "0", "--fault", "refuse-starttls"])
        defer { serve.kill() }
        #expect(try await serve.waitForOutput("\n"), "\(serve.transcript)")
        let port = try #require(listeningPort(serve.stdout), "\(serve.transcript)")

        let client = try await WireClient.connect(port: port)
        _ = try await client.read(through: bytes("ready\r\n"))
        #expect(
            try await client.exchange("s STARTTLS\r\n", through: "\r\n")
                == bytes("s NO [UNAVAILABLE] TLS not available\r\n")
        )
        #expect(try await serve.waitForOutput("C: s STARTTLS", includingStderr: true), "\(serve.transcript)")

        // An open connection must not keep the server from stopping.
        serve.signal(signal)
        let status = try await serve.waitForExit(seconds: 20)
        #expect(status == 0, "\(serve.transcript)")
        #expect(try await client.waitForClose())
        #expect(serve.stderr.contains("stopped"), "\(serve.transcript)")
    }

    @Test(
        "serve all: one process, seven listeners, one store: mail sent over SMTP is read over POP3 and IMAP; unknown recipients get 550",
        .enabled(if: parleyExecutable() != nil, "needs the built parley executable")
    )
    func serveAll() async throws {
        // (The HTTP API has its own tests in MailAPITests; ci/serve-check runs a Mailpit client.)
        let parley = try #require(parleyExecutable())
        let ports = ["smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s", "http"].flatMap { ["--\($0)-port", "0"] }
        let serve = try ExternalProcess([parley, "serve", "all", "--no-starttls", "--user", "bob:pw", "--quiet"] + ports)
        defer { serve.kill() }
        #expect(try await serve.waitForOutput("(http)\n"), "\(serve.transcript)")
        // One "listening on HOST:PORT (NAME)" line per listener, in order.
        var listeners: [String: Int] = [:]
        for line in String(decoding: serve.stdout, as: UTF8.self).split(separator: "\n") {
            let words = line.split(separator: " ")
            guard words.count == 4, words[0] == "listening", let port = Int(words[2].split(separator: ":").last ?? "") else { continue }
            listeners[String(words[3].dropFirst().dropLast())] = port
        }
        #expect(
            listeners.keys.sorted() == ["http", "imap", "imaps", "pop3", "pop3s", "smtp", "smtps", "submission"], "\(serve.transcript)")

        let smtp = try await WireClient.connect(port: try #require(listeners["smtp"]))
        _ = try await smtp.read(through: bytes("server\r\n"))
        _ = try await smtp.exchange("EHLO c\r\n", through: "250 SMTPUTF8\r\n")
        _ = try await smtp.exchange("MAIL FROM:<a@example>\r\n", through: "\r\n")
        #expect(
            text(try await smtp.exchange("RCPT TO:<carol@mail.test>\r\n", through: "\r\n"))
                == "550 5.1.1 <carol@mail.test>: Recipient address rejected: User unknown\r\n"
        )
        _ = try await smtp.exchange("RCPT TO:<bob@mail.test>\r\n", through: "\r\n")
        _ = try await smtp.exchange("DATA\r\n", through: "\r\n")
        #expect(text(try await smtp.exchange("Subject: shared\r\n\r\nhello\r\n.\r\n", through: "\r\n")).hasPrefix("250 2.0.0 OK"))
        await smtp.close()

        let pop = try await WireClient.connect(port: try #require(listeners["pop3"]))
        _ = try await pop.read(through: bytes("ready\r\n"))
        _ = try await pop.exchange("USER bob\r\n", through: "\r\n")
        #expect(text(try await pop.exchange("PASS pw\r\n", through: "\r\n")) == "+OK logged in, 1 messages\r\n")
        let retr = text(try await pop.exchange("RETR 1\r\n", through: "\r\n.\r\n"))
        #expect(retr.contains("\r\nSubject: shared\r\n\r\nhello\r\n.\r\n"), "\(retr)")
        #expect(retr.contains("Return-Path: <a@example>\r\n"))
        await pop.close()

        let imap = try await WireClient.connect(port: try #require(listeners["imap"]))
        _ = try await imap.read(through: bytes("\r\n"))
        _ = try await imap.exchange("a LOGIN bob pw\r\n", through: "a OK")
        #expect(text(try await imap.exchange("b SELECT INBOX\r\n", through: "b OK")).contains("* 1 EXISTS\r\n"))
        await imap.close()

        serve.signal(SIGTERM)
        #expect(try await serve.waitForExit(seconds: 20) == 0, "\(serve.transcript)")
    }

    @Test(
        "POP3S with --implicit-tls, an account from --user/--password, and a verified handshake; --quiet logs no dialog",
        .enabled(if: parleyExecutable() != nil, "needs the built parley executable"),
        arguments: [false, true]
    )
    func implicitTLS(quiet: Bool) async throws {
        let parley = try #require(parleyExecutable())
        let serve = try ExternalProcess(
            [
                parley, "serve", "pop3", "--implicit-tls", "--user", "bob", "--password", "hunter2",
            ] + (quiet ? ["--quiet"] : []))
        defer { serve.kill() }
        #expect(try await serve.waitForOutput("\n"), "\(serve.transcript)")
        let port = try #require(listeningPort(serve.stdout), "\(serve.transcript)")
        let client = try await WireClient.connect(port: port, tls: try FixtureCertificates.clientContext())
        defer { Task { await client.close() } }
        _ = try await client.read(through: bytes("ready\r\n"))
        #expect(client.snapshot.tls?.verified == true)
        _ = try await client.exchange("USER bob\r\n", through: "\r\n")
        #expect(
            try await client.exchange("PASS hunter2\r\n", through: "\r\n") == bytes("+OK logged in, 1 messages\r\n")
        )
        serve.signal(SIGTERM)
        #expect(try await serve.waitForExit(seconds: 20) == 0, "\(serve.transcript)")
        // The dialog is logged (with the password masked) unless --quiet.
        let log = String(decoding: serve.stderr, as: UTF8.self)
        #expect(log.contains("C: PASS ****") == !quiet, "\(serve.transcript)")
        #expect(!log.contains("hunter2"))
    }

    @Test(
        "an unknown fault is a usage error that lists the known ones",
        .enabled(if: parleyExecutable() != nil, "needs the built parley executable")
    )
    func unknownFault() async throws {
        let parley = try #require(parleyExecutable())
        let serve = try ExternalProcess([parley, "serve", "smtp", "--fault", "no-such-knob"])
        defer { serve.kill() }
        // Usage errors exit 2, like invalid scenarios (ParleyMain.run).
        #expect(try await serve.waitForExit(seconds: 20) == 2, "\(serve.transcript)")
        #expect(serve.stderr.contains("unknown fault 'no-such-knob'"))
        #expect(serve.stderr.contains("vulnerable-pipelining"))
    }
}
