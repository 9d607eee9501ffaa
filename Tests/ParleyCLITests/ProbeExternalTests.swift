// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailServers
import ParleyCLI
import ParleyTestSupport
import Testing

@Suite("parley probe: the external TLS provider")
struct ProbeExternalTests {
    let ca = FixtureCertificates.path("ca.pem")

    func smtpServer() throws -> FakeSMTPServer.Configuration {
        var configuration = FakeSMTPServer.Configuration()
        configuration.tls = try FixtureCertificates.serverContext()
        return configuration
    }

    @Test("--tls-provider external --json: STARTTLS through gnutls-cli, tls.provider external, verified; exit 0")
    func starttls() async throws {
        try await withFakeSMTPServer(try smtpServer()) { server in
            let run = await probe([
                "127.0.0.1", "\(server.port)", "--preset", "smtp", "--type", "starttls",
                "--ca-file", ca, "--server-name", "localhost", "--tls-provider", "external", "--json",
            ])
            #expect(run.status == 0, "\(run.output) \(run.error)")
            let json = try object(run.output)
            #expect(json["type"] as? String == "tls")
            #expect(json["error"] is NSNull)
            let process = try #require(json["process"] as? [String: Any])
            #expect(process["type"] as? String == "real", "the helper is a child process, as in Emacs")
            let tls = try #require(json["tls"] as? [String: Any])
            #expect(tls["provider"] as? String == "external")
            #expect(tls["verified"] as? Bool == true)
            #expect((tls["version"] as? String)?.hasPrefix("TLS1.") == true)
            let peer = try #require(tls["peer"] as? [String: Any])
            #expect((peer["subject"] as? String)?.contains("CN=localhost") == true)
        }
    }

    @Test("--tls-provider external with a wrong --server-name: exit 1 and the reason")
    func wrongName() async throws {
        try await withFakeSMTPServer(try smtpServer()) { server in
            let run = await probe([
                "127.0.0.1", "\(server.port)", "--preset", "smtp", "--type", "starttls",
                "--ca-file", ca, "--server-name", "wrong.example", "--tls-provider", "external", "--json",
            ])
            #expect(run.status == 1)
            let json = try object(run.output)
            #expect(json["process"] is NSNull)
            #expect((json["error"] as? String)?.contains("host name mismatch") == true)
        }
    }

    @Test("--type network --tls-provider external upgrades only with --use-starttls-if-possible")
    func opportunistic() async throws {
        try await withFakeSMTPServer(try smtpServer()) { server in
            let common = [
                "127.0.0.1", "\(server.port)", "--preset", "smtp", "--type", "network", "--ca-file", ca,
                "--server-name", "localhost", "--tls-provider", "external", "--json",
            ]
            let plain = await probe(common)
            #expect(plain.status == 0)
            #expect(try object(plain.output)["type"] as? String == "plain")
            let upgraded = await probe(common + ["--use-starttls-if-possible"])
            #expect(upgraded.status == 0)
            let json = try object(upgraded.output)
            #expect(json["type"] as? String == "tls")
            #expect((json["tls"] as? [String: Any])?["provider"] as? String == "external")
        }
    }
}
