// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailFixtures
import ParleyCLI
import Testing

/// `--preset NAME`: the scenario presets (Sources/Scenario/Preset.swift) as open-network-stream
/// keywords, checked against the fake servers where there is one.
@Suite("parley probe: presets")
struct ProbePresetTests {
    let ca = FixtureCertificates.path("ca.pem")

    @Test("--preset submission against the fake SMTP server: EHLO localhost, STARTTLS, verified; exit 0")
    func submission() async throws {
        var configuration = FakeSMTPServer.Configuration()
        configuration.tls = try FixtureCertificates.serverContext()
        try await withFakeSMTPServer(configuration) { server in
            let run = await probe(["127.0.0.1", "\(server.port)", "--preset", "submission", "--type", "starttls", "--ca-file", ca, "--server-name", "localhost", "--json"])
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
