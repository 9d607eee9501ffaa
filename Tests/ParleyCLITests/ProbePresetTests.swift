// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailServers
import NetworkStream
import ParleyCLI
import ParleyTestSupport
import Testing

/// `--preset NAME`: the scenario presets (Sources/Scenario/Preset.swift) as open-network-stream
/// keywords, checked without a network for all nine, and against the fake servers where there
/// is one.
@Suite("parley probe: presets")
struct ProbePresetTests {
    /// What one preset should fill in.
    struct Expected: Sendable, CustomTestStringConvertible {
        var name: String
        var capability: String
        var endOfCommand: String?
        var starttlsWhen: String
        var starttls: String
        var success: String
        var noGreeting = false

        var testDescription: String { name }
    }

    static let replyLine = #"^(?:[0-9]{3}-[^\n]*\n)*[0-9]{3} [^\n]*\n"#

    static let expected: [Expected] = [
        Expected(
            name: "smtp", capability: "EHLO localhost\r\n", endOfCommand: replyLine, starttlsWhen: #"\bSTARTTLS\b"#,
            starttls: "STARTTLS\r\n", success: "^220[ -]"),
        Expected(
            name: "submission", capability: "EHLO localhost\r\n", endOfCommand: replyLine, starttlsWhen: #"\bSTARTTLS\b"#,
            starttls: "STARTTLS\r\n", success: "^220[ -]"),
        Expected(
            name: "lmtp", capability: "LHLO localhost\r\n", endOfCommand: replyLine, starttlsWhen: #"\bSTARTTLS\b"#,
            starttls: "STARTTLS\r\n", success: "^220[ -]"),
        // Emacs's (nnimap's) end of command: one line ends both the untagged greeting and the tagged reply.
        Expected(
            name: "imap", capability: "P1 CAPABILITY\r\n", endOfCommand: #"\r?\n"#, starttlsWhen: #"\bSTARTTLS\b"#,
            starttls: "P2 STARTTLS\r\n", success: #"^P2 OK\b"#),
        Expected(
            name: "pop3", capability: "CAPA\r\n", endOfCommand: #"^[+-](?:OK|ERR)\b[^\n]*\n"#, starttlsWhen: #"\bSTLS\b"#,
            starttls: "STLS\r\n", success: #"^\+OK\b"#),
        Expected(
            name: "sieve", capability: "CAPABILITY\r\n", endOfCommand: #"^(?:"[^\n]*\n)*(?:OK|NO|BYE)\b[^\n]*\n"#,
            starttlsWhen: #"\bSTARTTLS\b"#, starttls: "STARTTLS\r\n", success: #"^OK\b"#),
        Expected(
            name: "nntp", capability: "CAPABILITIES\r\n", endOfCommand: replyLine, starttlsWhen: #"\bSTARTTLS\b"#, starttls: "STARTTLS\r\n",
            success: "^382 "),
        Expected(
            name: "ftp", capability: "FEAT\r\n", endOfCommand: replyLine, starttlsWhen: #"^ AUTH TLS\b"#, starttls: "AUTH TLS\r\n",
            success: "^234 "),
        Expected(
            name: "xmpp",
            capability: "<?xml version='1.0'?><stream:stream to='example.org' xmlns='jabber:client' "
                + "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
            endOfCommand: #"<(?:proceed|failure)\b[^>]*/>"#, starttlsWhen: #"<starttls\b[^>]*urn:ietf:params:xml:ns:xmpp-tls"#,
            starttls: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", success: #"<proceed\b"#, noGreeting: true
        ),
    ]

    @Test("every scenario preset is a probe preset, with the scenario preset's values", arguments: expected)
    func resolved(_ expected: Expected) throws {
        let p = try ProbeFrontend.parse(["example.org", "1", "--preset", expected.name]).streamParameters()
        guard case .bytes(let capability) = p.capabilityCommand, case .whenMatches(let when, let starttls) = p.starttlsFunction else {
            Issue.record("incomplete parameters for \(expected.name)")
            return
        }
        #expect(String(decoding: capability, as: UTF8.self) == expected.capability)
        #expect(p.endOfCommand == expected.endOfCommand)
        #expect(p.endOfCapability != nil)
        #expect(when == expected.starttlsWhen)
        #expect(String(decoding: starttls, as: UTF8.self) == expected.starttls)
        #expect(p.success == expected.success)
        #expect(p.noGreeting == expected.noGreeting)
        #expect(p.type == .network)
    }

    @Test("xmpp on a plain connection waits for nothing: the client speaks first")
    func xmppPlain() throws {
        let p = try ProbeFrontend.parse(["example.org", "5222", "--preset", "xmpp", "--type", "plain"]).streamParameters()
        #expect(p.noGreeting)
        #expect(p.endOfCommand == nil)
    }

    let ca = FixtureCertificates.path("ca.pem")

    @Test("--preset submission against the fake SMTP server: EHLO localhost, STARTTLS, verified; exit 0")
    func submission() async throws {
        var configuration = FakeSMTPServer.Configuration()
        configuration.tls = try FixtureCertificates.serverContext()
        try await withFakeSMTPServer(configuration) { server in
            let run = await probe([
                "127.0.0.1", "\(server.port)", "--preset", "submission", "--type", "starttls", "--ca-file", ca, "--server-name",
                "localhost", "--json",
            ])
            #expect(run.status == 0, "\(run.output)\(run.error)")
            let json = try object(run.output)
            #expect(json["type"] as? String == "tls")
            #expect((json["capabilities"] as? String)?.hasPrefix("250-mail.test greets localhost\r\n") == true)
            #expect((json["tls"] as? [String: Any])?["verified"] as? Bool == true)
        }
    }

    @Test("--preset lmtp against the fake SMTP server: LHLO is sent (and refused), so no STARTTLS; type network stays plain")
    func lmtp() async throws {
        var configuration = FakeSMTPServer.Configuration()
        configuration.tls = try FixtureCertificates.serverContext()
        try await withFakeSMTPServer(configuration) { server in
            let run = await probe(["127.0.0.1", "\(server.port)", "--preset", "lmtp", "--json"])
            #expect(run.status == 0, "\(run.output)\(run.error)")
            let json = try object(run.output)
            #expect(json["type"] as? String == "plain")
            #expect(json["capabilities"] as? String == "502 5.5.2 Error: command not recognized\r\n")
            #expect(json["tls"] is NSNull)
        }
    }

    @Test("--preset imap and pop3 against the fake servers: STARTTLS (STLS), verified, capabilities read again under TLS")
    func imapAndPOP3() async throws {
        for mailProtocol in [MailProtocol.imap, .pop3] {
            let configuration = FakeMailServer.Configuration(protocol: mailProtocol, tls: try FixtureCertificates.serverContext())
            try await withFakeMailServer(configuration) { server in
                let run = await probe([
                    "127.0.0.1", "\(server.port)", "--preset", mailProtocol.rawValue, "--type", "starttls", "--ca-file", ca,
                    "--server-name", "localhost", "--timeout", "5", "--json",
                ])
                #expect(run.status == 0, "\(mailProtocol): \(run.output)\(run.error)")
                let json = try object(run.output)
                #expect(json["type"] as? String == "tls")
                #expect((json["tls"] as? [String: Any])?["verified"] as? Bool == true)
                let greeting = try #require(json["greeting"] as? String)
                let capabilities = try #require(json["capabilities"] as? String)
                if mailProtocol == .imap {
                    #expect(greeting.hasPrefix("* OK "))
                    #expect(capabilities.hasPrefix("* CAPABILITY "))
                    #expect(capabilities.hasSuffix("P1 OK CAPABILITY completed\r\n"))
                    #expect(!capabilities.contains("STARTTLS"), "not offered again under TLS")
                } else {
                    #expect(greeting.hasPrefix("+OK "))
                    #expect(capabilities.hasPrefix("+OK"))
                    #expect(capabilities.hasSuffix("\r\n.\r\n"))
                    #expect(!capabilities.contains("STLS"), "not offered again under TLS")
                }
            }
        }
    }
}
