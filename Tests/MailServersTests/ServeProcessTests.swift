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
