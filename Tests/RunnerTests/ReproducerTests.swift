// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServers
import ParleyTestSupport
import Scenario
import Testing

@testable import Runner

@Suite("Commands that repeat a failing connection by hand")
struct ReproducerTests {
    typealias TLS = ConnectionTarget.TLS

    @Test("no TLS: nc with CRLF line ends")
    func plain() {
        #expect(Reproducer.commands(ConnectionTarget(host: "mx.test", port: 25)) == ["nc -C mx.test 25"])
    }

    @Test("STARTTLS: openssl s_client and gnutls-cli with the protocol, CA, SNI and the name verified")
    func startTLS() {
        let target = ConnectionTarget(
            host: "127.0.0.1",
            port: 2525,
            startTLSProtocol: "smtp",
            tls: TLS(caFile: "/certs/ca.pem", serverName: "mail.test")
        )
        #expect(
            Reproducer.commands(target) == [
                "openssl s_client -connect 127.0.0.1:2525 -starttls smtp -servername mail.test -CAfile /certs/ca.pem -verify_return_error -verify_hostname mail.test",
                "gnutls-cli --starttls-proto=smtp --port 2525 --x509cafile /certs/ca.pem --sni-hostname mail.test --verify-hostname mail.test 127.0.0.1",
            ])
    }

    @Test("implicit TLS on IPv6 with ALPN, a priority, no verification, and the system store")
    func implicitInsecure() {
        let target = ConnectionTarget(
            host: "::1",
            port: 993,
            implicitTLS: true,
            tls: TLS(serverName: "::1", alpn: ["imap"], priority: "NORMAL:-VERS-TLS1.3", insecure: true)
        )
        #expect(
            Reproducer.commands(target) == [
                "openssl s_client -connect '[::1]:993' -alpn imap",
                "gnutls-cli --port 993 --alpn imap --priority NORMAL:-VERS-TLS1.3 --insecure ::1",
            ])
    }

    @Test("an address as the name is checked with -verify_ip and never sent as SNI")
    func addressName() {
        let target = ConnectionTarget(host: "192.0.2.7", port: 465, implicitTLS: true, tls: TLS(serverName: "192.0.2.7"))
        #expect(Reproducer.commands(target).first == "openssl s_client -connect 192.0.2.7:465 -verify_return_error -verify_ip 192.0.2.7")
    }

    @Test("the preset names the STARTTLS dialog; a changed command or an unknown dialog falls back to nc")
    func protocols() {
        func name(_ preset: Preset?, _ command: String? = nil) -> String {
            let at = SourceLocation(file: "t.yaml", line: 1, column: 1)
            return Reproducer.startTLSProtocol(preset: preset, command: Template(command ?? (preset ?? .smtp).starttlsCommand, at: at))
        }
        #expect(name(nil) == "smtp")
        #expect(name(.submission) == "smtp")
        #expect(name(.imap) == "imap")
        #expect(name(.pop3) == "pop3")
        #expect(name(.xmpp) == "xmpp")
        #expect(name(.smtp, "X-STARTTLS\r\n") == "")
        let unknown = ConnectionTarget(host: "h", port: 1, startTLSProtocol: "", tls: TLS())
        #expect(Reproducer.commands(unknown) == ["nc -C h 1"])
    }

    @Test("shell words: safe ones as they are, the rest in single quotes")
    func shellWords() {
        #expect(Reproducer.shellWord("mail.test") == "mail.test")
        #expect(Reproducer.shellWord("/a b/ca.pem") == "'/a b/ca.pem'")
        #expect(Reproducer.shellWord("it's") == "'it'\\''s'")
        #expect(Reproducer.shellWord("") == "''")
        #expect(Reproducer.shellWord("$(reboot)") == "'$(reboot)'")
    }

    @Test("a failing run against a server of its own carries the commands and its variables; openssl repeats the failure")
    func endToEnd() async throws {
        let configuration = FakeMailServer.Configuration(protocol: .smtp, tls: try FixtureCertificates.serverContext())
        try await withFakeMailServer(configuration) { server in
            let (result, _) = try await run(
                """
                name: wrong name
                preset: smtp
                variables: {token: hunter2}
                secrets: [token]
                steps:
                  - connect: {host: 127.0.0.1, port: \(server.port)}
                  - expect: '^220 (?<domain>\\S+) '
                  - set: {seen: '${domain}', kept: '${token}'}
                  - send: {line: EHLO client.test}
                  - expect: '^250 [^\\r\\n]*\\r\\n'
                  - starttls: {ca-file: \(certs)/ca.pem, server-name: nope.test}
                """)
            let failure = try #require(result.failure)
            #expect(failure.message.contains("host name mismatch"))
            #expect(failure.variables == ["domain": "mail.test", "seen": "mail.test", "kept": "****"])
            #expect(failure.reproduce.count == 2)
            let openssl = try #require(failure.reproduce.first)
            #expect(openssl.hasPrefix("openssl s_client -connect 127.0.0.1:\(server.port) -starttls smtp -servername nope.test"))
            let output = try ExternalProcess.run(executable: "/bin/sh", arguments: ["-c", "echo QUIT | timeout 20 \(openssl) 2>&1"]).output
            #expect(output.contains("Verify return code: 62 (hostname mismatch)"), "\(output)")
        }
    }

    @Test("no commands for a connection to an embedded server: it is gone once the run ends")
    func embedded() async throws {
        let (result, _) = try await run(
            scenarioText(
                """
                  - connect:
                  - expect: {pattern: '^599 ', timeout: 300ms}
                """))
        #expect(result.outcome == .failed)
        #expect(result.failure?.reproduce == [])
    }
}
