// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import ParleyTestSupport
import Testing

@testable import MailServers

@Suite("MailServerFault parsing")
struct MailServerFaultParsingTests {
    @Test("NAME and NAME=VALUE parse; the description writes them back")
    func parses() throws {
        #expect(try MailServerFault(parsing: "no-starttls") == MailServerFault(.noStartTLS))
        #expect(try MailServerFault(parsing: "tarpit=0.25").description == "tarpit=0.25")
        #expect(try MailServerFault(parsing: "inject-after-starttls=250 X=1\\r\\n").value == "250 X=1\\r\\n")
        #expect(try MailServerFault(parsing: "flood").value == nil)
        #expect(try MailServerFault(parsing: "flood=4096").value == "4096")
    }

    @Test("an unknown name is an error that lists every known name")
    func unknownName() {
        #expect {
            try MailServerFault(parsing: "no-such-knob")
        } throws: { error in
            let message = "\(error)"
            return message.contains("unknown fault 'no-such-knob'")
                && MailServerFault.knownNames.allSatisfy { message.contains($0) }
        }
        #expect(MailServerFault.knownNames.count == MailServerFault.Name.allCases.count)
        #expect(MailServerFault.knownNames.contains("vulnerable-pipelining"))
    }

    @Test(
        "values are checked",
        arguments: [
            "slow-greeting", "tarpit=fast", "drop-after=-1", "max-line-length", "no-greeting=1", "flood=lots",
            "tarpit=nan",
        ]
    )
    func badValues(text: String) {
        #expect(throws: MailServerFaultError.self) { try MailServerFault(parsing: text) }
    }

    @Test("escapes in an injected text become bytes")
    func unescape() {
        #expect(MailServerFaults.unescape("a\\r\\n\\x00\\\\z\\q") == [0x61, 0x0D, 0x0A, 0x00, 0x5C, 0x7A, 0x5C, 0x71])
    }

    @Test("flood bytes repeat a 64-byte line from any offset")
    func floodBytes() {
        #expect(Flood.line.count == 64)
        #expect(Flood.bytes(from: 0, count: 130) == Flood.line + Flood.line + Flood.line.prefix(2))
        #expect(Flood.bytes(from: 62, count: 4) == Array(Flood.line.suffix(2) + Flood.line.prefix(2)))
    }
}

/// Starts a server with one protocol and fault knobs, with STARTTLS and the test PKI.
func withFaultyServer<T: Sendable>(
    _ mailProtocol: MailProtocol = .smtp,
    _ faults: [String],
    implicitTLS: Bool = false,
    _ body: (FakeMailServer) async throws -> T
) async throws -> T {
    let configuration = FakeMailServer.Configuration(
        protocol: mailProtocol,
        tls: try FixtureCertificates.serverContext(),
        implicitTLS: implicitTLS,
        faults: try faults.map { try MailServerFault(parsing: $0) }
    )
    return try await withFakeMailServer(configuration, body)
}

/// How each protocol greets, lists its capabilities and asks for STARTTLS.
struct ProtocolProbe: Sendable, CustomTestStringConvertible {
    var mailProtocol: MailProtocol
    var greetingEnd: String
    var capabilities: String
    var capabilitiesEnd: String
    var startTLSName: String
    var startTLS: String
    var goAhead: String
    var notSupported: String
    var refused: String

    var testDescription: String { mailProtocol.rawValue }

    static let all: [ProtocolProbe] = [
        ProtocolProbe(
            mailProtocol: .smtp,
            greetingEnd: "Parley fake server\r\n",
            capabilities: "EHLO c\r\n",
            capabilitiesEnd: "250 SMTPUTF8\r\n",
            startTLSName: "STARTTLS",
            startTLS: "STARTTLS\r\n",
            goAhead: "220 2.0.0 Ready to start TLS\r\n",
            notSupported: "454 4.7.0 TLS not available\r\n",
            refused: "454 4.7.0 TLS not available\r\n"
        ),
        ProtocolProbe(
            mailProtocol: .imap,
            greetingEnd: "Parley fake server ready\r\n",
            capabilities: "c CAPABILITY\r\n",
            capabilitiesEnd: "c OK CAPABILITY completed\r\n",
            startTLSName: "STARTTLS",
            startTLS: "s STARTTLS\r\n",
            goAhead: "s OK Begin TLS negotiation now\r\n",
            notSupported: "s BAD STARTTLS not supported\r\n",
            refused: "s NO [UNAVAILABLE] TLS not available\r\n"
        ),
        ProtocolProbe(
            mailProtocol: .pop3,
            greetingEnd: "Parley fake server ready\r\n",
            capabilities: "CAPA\r\n",
            capabilitiesEnd: "\r\n.\r\n",
            startTLSName: "STLS",
            startTLS: "STLS\r\n",
            goAhead: "+OK Begin TLS negotiation\r\n",
            notSupported: "-ERR TLS not available\r\n",
            refused: "-ERR TLS not available\r\n"
        ),
    ]
}

@Suite("Fault knobs on the wire")
struct MailServerFaultWireTests {
    @Test(
        "no-starttls: the capability list lacks STARTTLS/STLS and the command is refused",
        arguments: ProtocolProbe.all
    )
    func noStartTLS(_ probe: ProtocolProbe) async throws {
        try await withFaultyServer(probe.mailProtocol, ["no-starttls"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes(probe.greetingEnd))
            let capabilities = try #require(
                try await client.exchange(probe.capabilities, through: probe.capabilitiesEnd)
            )
            #expect(!capabilities.contains(probe.startTLSName), "\(text(capabilities))")
            #expect(try await client.exchange(probe.startTLS, through: "\r\n") == bytes(probe.notSupported))
        }
    }

    @Test("refuse-starttls: STARTTLS/STLS is listed but refused (454 / NO / -ERR)", arguments: ProtocolProbe.all)
    func refuseStartTLS(_ probe: ProtocolProbe) async throws {
        try await withFaultyServer(probe.mailProtocol, ["refuse-starttls"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes(probe.greetingEnd))
            let capabilities = try #require(
                try await client.exchange(probe.capabilities, through: probe.capabilitiesEnd)
            )
            #expect(capabilities.contains(probe.startTLSName), "\(text(capabilities))")
            #expect(try await client.exchange(probe.startTLS, through: "\r\n") == bytes(probe.refused))
        }
    }

    @Test(
        "garbage-after-starttls: the go-ahead, then garbage answers the client's next bytes",
        arguments: ProtocolProbe.all
    )
    func garbageAfterStartTLS(_ probe: ProtocolProbe) async throws {
        try await withFaultyServer(probe.mailProtocol, ["garbage-after-starttls"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes(probe.greetingEnd))
            #expect(try await client.exchange(probe.startTLS, through: "\r\n") == bytes(probe.goAhead))
            // Any bytes stand in for a ClientHello here; the answer is plaintext garbage.
            let garbage = try await client.exchange("\u{16}\u{3}\u{1}hello\r\n", through: "\r\n")
            #expect(garbage == bytes("this is not a TLS handshake\r\n"))
        }
    }

    @Test("garbage-after-starttls: a TLS client's handshake fails")
    func garbageFailsHandshake() async throws {
        try await withFaultyServer(.smtp, ["garbage-after-starttls"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes("server\r\n"))
            _ = try await client.exchange("STARTTLS\r\n", through: "220 2.0.0 Ready to start TLS\r\n")
            #expect(try await client.startTLS(try FixtureCertificates.clientContext()) == nil)
            #expect(client.snapshot.error != nil)
        }
    }

    @Test(
        "garbage-after-starttls: openssl s_client fails its handshake",
        .enabled(if: ExternalProcess.isAvailable("openssl"), "needs openssl")
    )
    func garbageFailsOpenSSL() async throws {
        try await withFaultyServer(.smtp, ["garbage-after-starttls"]) { server in
            let client = try ExternalProcess([
                "openssl", "s_client", "-starttls", "smtp", "-connect", "127.0.0.1:\(server.port)",
                "-CAfile", FixtureCertificates.path("ca.pem"), "-verify_return_error", "-nocommands",
            ])
            defer { client.kill() }
            let status = try await client.waitForExit(seconds: 30)
            #expect(status != nil && status != 0, "\(client.transcript)")
            // s_client prints its summary anyway; no cipher means no TLS session came about.
            #expect(client.stdout.contains("Cipher is (NONE)"), "\(client.transcript)")
        }
    }

    @Test(
        "inject-after-starttls: forged plaintext follows the go-ahead; TLS still works after it",
        arguments: ProtocolProbe.all
    )
    func injectAfterStartTLS(_ probe: ProtocolProbe) async throws {
        let injection = probe.mailProtocol.defaultInjection
        try await withFaultyServer(probe.mailProtocol, ["inject-after-starttls"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes(probe.greetingEnd))
            try await client.send(bytes(probe.startTLS))
            #expect(try await client.read(through: injection) == bytes(probe.goAhead) + injection)
            let session = try await client.startTLS(try FixtureCertificates.clientContext())
            #expect(session?.verified == true)
            let capabilities = try await client.exchange(probe.capabilities, through: probe.capabilitiesEnd)
            #expect(capabilities?.contains("INJECTED") == false)
        }
    }

    @Test("inject-after-starttls=TEXT sends TEXT with its escapes as bytes")
    func injectCustomText() async throws {
        try await withFaultyServer(.imap, ["inject-after-starttls=* OK [ALERT] forged\\r\\n"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes("ready\r\n"))
            let reply = try await client.exchange("s STARTTLS\r\n", through: "forged\r\n")
            #expect(reply == bytes("s OK Begin TLS negotiation now\r\n* OK [ALERT] forged\r\n"))
        }
    }

    /// Sends STARTTLS and a pipelined command in one write, completes TLS, and returns what
    /// arrives through TLS before the reply to a later QUIT/LOGOUT.
    func pipelinedAfterStartTLS(
        _ faults: [String],
        probe: ProtocolProbe,
        injected: String,
        quit: String,
        bye: String
    ) async throws -> [UInt8]? {
        try await withFaultyServer(probe.mailProtocol, faults) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes(probe.greetingEnd))
            try await client.send(bytes(probe.startTLS + injected))
            _ = try await client.read(through: bytes(probe.goAhead))
            let session = try await client.startTLS(try FixtureCertificates.clientContext())
            #expect(session?.verified == true)
            return try await client.exchange(quit, through: bye)
        }
    }

    @Test(
        "plaintext pipelined after STARTTLS: discarded by default, executed under TLS with vulnerable-pipelining",
        arguments: [
            (ProtocolProbe.all[0], "NOOP\r\n", "250 2.0.0 OK\r\n", "QUIT\r\n", "221 2.0.0 Bye\r\n"),
            (
                ProtocolProbe.all[1], "i NOOP\r\n", "i OK NOOP completed\r\n", "q LOGOUT\r\n",
                "q OK LOGOUT completed\r\n"
            ),
            (ProtocolProbe.all[2], "CAPA\r\n", "+OK Capability list follows\r\n", "QUIT\r\n", "+OK mail.test Bye\r\n"),
        ]
    )
    func pipelining(
        _ probe: ProtocolProbe,
        injected: String,
        injectedReply: String,
        quit: String,
        bye: String
    ) async throws {
        let safe = try #require(
            try await pipelinedAfterStartTLS([], probe: probe, injected: injected, quit: quit, bye: bye)
        )
        #expect(!safe.contains(injectedReply), "the injected command was answered: \(text(safe))")
        let vulnerable = try #require(
            try await pipelinedAfterStartTLS(
                ["vulnerable-pipelining"],
                probe: probe,
                injected: injected,
                quit: quit,
                bye: bye
            )
        )
        #expect(vulnerable.starts(with: bytes(injectedReply)), "\(text(vulnerable))")
    }

    @Test("slow-greeting: nothing arrives at first, then the greeting")
    func slowGreeting() async throws {
        try await withFaultyServer(.smtp, ["slow-greeting=2"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            #expect(
                try await client.read(through: bytes("\r\n")) == bytes("220 mail.test ESMTP Parley fake server\r\n")
            )
            // Both instants are taken on the event loop, so the test's own scheduling cannot
            // move them; the bound is far below the 2 s delay.
            let state = client.snapshot
            let active = try #require(state.activeAt)
            let first = try #require(state.firstByteAt)
            #expect(first - active > .seconds(1), "the greeting came \(first - active) after the connect")
        }
    }

    @Test("tarpit: the greeting arrives one byte per read")
    func tarpit() async throws {
        // 0.1 s between bytes: far apart enough that even a busy machine's reader sees them
        // arrive in many reads (the assertion is on read counts, never on durations).
        try await withFaultyServer(.pop3, ["tarpit=0.1"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            let greeting = try #require(try await client.read(through: bytes("ready\r\n"), seconds: 30))
            let sizes = client.snapshot.readSizes
            #expect(greeting == bytes("+OK mail.test POP3 Parley fake server ready\r\n"))
            // A read catches several bytes when the reader lags behind (a busy machine), so the
            // check is that the greeting trickled in: many reads, none holding most of it.
            #expect(sizes.count >= 5, "read sizes: \(sizes)")
            #expect((sizes.max() ?? 0) <= greeting.count / 2, "read sizes: \(sizes)")
        }
    }

    @Test("close-after-greeting: the greeting, then the connection closes")
    func closeAfterGreeting() async throws {
        try await withFaultyServer(.imap, ["close-after-greeting"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            #expect(try await client.waitForClose())
            #expect(client.snapshot.all.starts(with: bytes("* OK [CAPABILITY ")))
            #expect(client.snapshot.all.suffix(7) == bytes("ready\r\n"))
        }
    }

    @Test("no-greeting: the first bytes to arrive answer the client's first command")
    func noGreeting() async throws {
        try await withFaultyServer(.smtp, ["no-greeting"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            #expect(try await client.exchange("NOOP\r\n", through: "\r\n") == bytes("250 2.0.0 OK\r\n"))
        }
    }

    @Test("drop-after: exactly that many bytes arrive, then the connection closes")
    func dropAfter() async throws {
        try await withFaultyServer(.smtp, ["drop-after=10"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            #expect(try await client.waitForClose())
            #expect(client.snapshot.all == bytes("220 mail.t"))
        }
    }

    @Test("drop-after counts ciphertext: an implicit-TLS handshake is cut short")
    func dropAfterTLS() async throws {
        try await withFaultyServer(.pop3, ["drop-after=100"], implicitTLS: true) { server in
            let client = try await WireClient.connect(port: server.port, tls: try FixtureCertificates.clientContext())
            defer { Task { await client.close() } }
            #expect(try await client.waitForClose())
            #expect(client.snapshot.tls == nil)
        }
    }

    @Test("flood=N: N bytes of the known line, the marker, then the greeting")
    func floodCount() async throws {
        try await withFaultyServer(.smtp, ["flood=100000"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            let flood = try #require(try await client.read(through: Flood.marker))
            #expect(flood.count == 100_000 + Flood.marker.count)
            #expect(flood == Flood.bytes(from: 0, count: 100_000) + Flood.marker)
            #expect(
                try await client.read(through: bytes("\r\n")) == bytes("220 mail.test ESMTP Parley fake server\r\n")
            )
        }
    }

    @Test("flood without a value never ends: a megabyte of the known line and no marker")
    func floodEndless() async throws {
        try await withFaultyServer(.imap, ["flood"]) { server in
            // The client keeps one megabyte and closes: the test's memory and time stay bounded
            // however long it takes to look (an unbounded recorder once grew to gigabytes on a
            // slow machine and held up the tests sharing its event loop for a minute).
            let client = try await WireClient.connect(port: server.port, keepAtMost: 1_048_576)
            defer { Task { await client.close() } }
            #expect(try await client.wait(seconds: 30) { $0.all.count >= 1_048_576 })
            let received = client.snapshot.all
            #expect(received == Flood.bytes(from: 0, count: 1_048_576))
            #expect(received.firstRange(of: bytes("FLOOD-END")) == nil)
        }
    }

    @Test(
        "certificate knobs present the matching certificate, and verification says why it fails",
        arguments: [
            ("expired-certificate", "expired"),
            ("wrong-host-certificate", "host name mismatch"),
            ("self-signed-certificate", "signer not found"),
        ]
    )
    func certificates(fault: String, problem: String) async throws {
        let lenient = try FixtureCertificates.clientContext(verifyPeer: false)
        try await withFaultyServer(.smtp, [fault]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes("server\r\n"))
            _ = try await client.exchange("STARTTLS\r\n", through: "220 2.0.0 Ready to start TLS\r\n")
            let session = try #require(try await client.startTLS(lenient))
            #expect(!session.verified)
            #expect(session.verificationProblems.contains(problem), "\(session.verificationProblems)")
        }
        // A verifying client refuses the same server.
        try await withFaultyServer(.smtp, [fault], implicitTLS: true) { server in
            let client = try await WireClient.connect(port: server.port, tls: try FixtureCertificates.clientContext())
            defer { Task { await client.close() } }
            _ = try await client.wait { $0.error != nil || $0.closed }
            #expect(client.snapshot.tls == nil)
        }
    }

    @Test(
        "strict-alpn: a client offering only http/1.1 is refused in the handshake; one without ALPN is closed on before any byte; one with the protocol's id is served"
    )
    func strictALPN() async throws {
        try await withFaultyServer(.imap, ["strict-alpn"], implicitTLS: true) { server in
            let http = try await WireClient.connect(port: server.port, tls: try FixtureCertificates.clientContext(alpn: ["http/1.1"]))
            defer { Task { await http.close() } }
            #expect(try await http.waitForClose())
            #expect(http.snapshot.all.isEmpty, "no application byte may reach a client without the id")
            // GNUTLS_ALPN_MANDATORY: the handshake itself fails (no_application_protocol alert).
            #expect(http.snapshot.tls == nil)
            #expect(
                String(describing: http.snapshot.error).lowercased().contains("application protocol"),
                "\(String(describing: http.snapshot.error))")

            let silent = try await WireClient.connect(port: server.port, tls: try FixtureCertificates.clientContext(alpn: []))
            defer { Task { await silent.close() } }
            #expect(try await silent.waitForClose())
            #expect(silent.snapshot.all.isEmpty, "no application byte may reach a client that names no protocol")

            let imap = try await WireClient.connect(
                port: server.port, tls: try FixtureCertificates.clientContext(alpn: ["http/1.1", "imap"]))
            defer { Task { await imap.close() } }
            _ = try await imap.read(through: bytes("ready\r\n"))
            #expect(imap.snapshot.tls?.alpn == "imap")
        }
    }

    @Test("without strict-alpn an unknown ALPN id is ignored")
    func lenientALPN() async throws {
        let context = try FixtureCertificates.clientContext(alpn: ["http/1.1"])
        try await withFaultyServer(.imap, [], implicitTLS: true) { server in
            let client = try await WireClient.connect(port: server.port, tls: context)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes("ready\r\n"))
            #expect(client.snapshot.tls?.alpn == nil)
        }
    }

    @Test(
        "max-line-length: a longer line is refused",
        arguments: [
            (MailProtocol.smtp, "500 5.5.0 Line too long\r\n"),
            (MailProtocol.imap, "* BAD line too long\r\n"),
            (MailProtocol.pop3, "-ERR line too long\r\n"),
        ]
    )
    func maxLineLength(_ mailProtocol: MailProtocol, refusal: String) async throws {
        try await withFaultyServer(mailProtocol, ["max-line-length=20"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes("\r\n"))
            let line = "NOOP " + String(repeating: "x", count: 30) + "\r\n"
            #expect(try await client.exchange(line, through: "\r\n") == bytes(refusal))
        }
    }

    @Test("require-tls: MAIL gets 530 before TLS and 250 after")
    func requireTLS() async throws {
        try await withFaultyServer(.smtp, ["require-tls"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            _ = try await client.read(through: bytes("server\r\n"))
            #expect(
                try await client.exchange("MAIL FROM:<a@b>\r\n", through: "\r\n")
                    == bytes("530 5.7.0 Must issue a STARTTLS command first\r\n")
            )
            _ = try await client.exchange("STARTTLS\r\n", through: "220 2.0.0 Ready to start TLS\r\n")
            #expect(try await client.startTLS(try FixtureCertificates.clientContext()) != nil)
            _ = try await client.exchange("EHLO c\r\n", through: "250 SMTPUTF8\r\n")
            #expect(try await client.exchange("MAIL FROM:<a@b>\r\n", through: "\r\n") == bytes("250 2.1.0 OK\r\n"))
        }
    }

    @Test("preauth: IMAP greets with PREAUTH and refuses STARTTLS")
    func preauth() async throws {
        try await withFaultyServer(.imap, ["preauth"]) { server in
            let client = try await WireClient.connect(port: server.port)
            defer { Task { await client.close() } }
            let greeting = try #require(try await client.read(through: bytes("\r\n")))
            #expect(
                greeting.starts(
                    with: bytes(
                        "* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+ LOGINDISABLED IDLE UIDPLUS MOVE UNSELECT ENABLE ID NAMESPACE CHILDREN SPECIAL-USE] mail.test"
                    )))
            #expect(
                try await client.exchange("s STARTTLS\r\n", through: "\r\n")
                    == bytes("s BAD STARTTLS is only valid before login\r\n")
            )
        }
    }
}

@Suite("The test PKI built into the program")
struct TestPKITests {
    @Test("every embedded file is the committed one in fixtures/certs (run fixtures/certs/embed.sh after generate.sh)")
    func embeddedMatchesFiles() throws {
        for name in ["ca", "server", "client", "expired", "wrong-host", "self-signed"] {
            let certificate = try String(contentsOfFile: FixtureCertificates.path("\(name).pem"), encoding: .utf8)
            #expect(TestPKI.pem("\(name).pem") == certificate, "\(name).pem")
            let key = try String(contentsOfFile: FixtureCertificates.path("\(name)-key.pem"), encoding: .utf8)
            #expect(TestPKI.pem("\(name)-key.pem") == key, "\(name)-key.pem")
        }
        // The unknown CA's leaf is for the client cases in suites/clients only.
        #expect(TestPKI.pem("unknown-ca.pem") == nil)
    }

    @Test("TestPKI.issuer() issues a certificate that the test CA's trust verifies, here served by a fake server")
    func issuerIssuesTrustedCertificates() async throws {
        let issuer = try TestPKI.issuer()
        #expect(issuer.subject.contains("CN=Parley Test CA"))
        let credential = try issuer.issue(names: ["imap.example.test", "127.0.0.1"])
        let configuration = FakeMailServer.Configuration(
            protocol: .pop3,
            tls: try GnuTLSContext(configuration: .server(credential: credential)),
            implicitTLS: true
        )
        try await withFakeMailServer(configuration) { server in
            for name in ["imap.example.test", "127.0.0.1"] {
                let client = try await WireClient.connect(
                    port: server.port, tls: try TestPKI.clientContext(), serverHostname: name)
                defer { Task { await client.close() } }
                #expect(try await client.read(through: bytes("ready\r\n")) != nil, "\(name)")
                let session = try #require(client.snapshot.tls, "\(name)")
                #expect(session.verified, "\(name)")
                #expect(session.verificationProblems == [], "\(name)")
                #expect(
                    session.peerCertificates.first?.subjectAlternativeNames == ["DNS:imap.example.test", "IP:127.0.0.1"])
            }
        }
    }

    @Test("a context from memory serves a handshake a file-based client verifies")
    func contextsLoad() throws {
        for certificate in TestPKI.Certificate.allCases {
            _ = try TestPKI.serverContext(certificate)
        }
        _ = try TestPKI.clientContext()
    }
}
