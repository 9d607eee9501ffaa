// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailServers
import NetworkStream
import ParleyCLI
import ParleyTestSupport
import Testing

/// Runs `parley probe ARGUMENTS` through the frontend and returns its exit status, standard
/// output and standard error.
func probe(_ arguments: [String]) async -> (status: Int32, output: String, error: String) {
    let output = Output()
    let error = Output()
    let status = await ProbeFrontend.run(arguments, output: { output.write($0) }, errorOutput: { error.write($0) })
    return (status, output.all, error.all)
}

/// The probe's JSON output as a dictionary.
func object(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try #require(value as? [String: Any], sourceLocation: sourceLocation)
}

/// A TCP listener that completes connections (the kernel does) and never speaks or accepts.
final class SilentListener {
    let descriptor: Int32
    let port: Int

    init() throws {
        (descriptor, port) = try LoopbackSocket.bind(listen: 5)
    }

    deinit { close(descriptor) }
}

@Suite("parley probe (frontend)")
struct ProbeFrontendTests {
    let ca = FixtureCertificates.path("ca.pem")

    func smtpServer() throws -> FakeSMTPServer.Configuration {
        var configuration = FakeSMTPServer.Configuration()
        configuration.tls = try FixtureCertificates.serverContext()
        return configuration
    }

    @Test("--type network with --preset smtp upgrades with STARTTLS, verifies, and prints the documented JSON; exit 0")
    func network() async throws {
        try await withFakeSMTPServer(try smtpServer()) { server in
            let run = await probe([
                "127.0.0.1", "\(server.port)", "--preset", "smtp", "--ca-file", ca, "--server-name", "localhost", "--json",
            ])
            #expect(run.status == 0, "\(run.output)\(run.error)")
            let json = try object(run.output)
            #expect(Set(json.keys) == ["process", "greeting", "capabilities", "type", "error", "discarded_bytes", "tls"])
            let process = try #require(json["process"] as? [String: Any])
            #expect(process["name"] as? String == "probe")
            #expect(process["status"] as? String == "open")
            #expect(process["type"] as? String == "network")
            #expect(json["greeting"] as? String == "220 mail.test ESMTP Parley fake server\r\n")
            #expect((json["capabilities"] as? String)?.hasPrefix("250-mail.test greets localhost\r\n") == true)
            #expect(json["type"] as? String == "tls")
            #expect(json["error"] is NSNull)
            #expect(json["discarded_bytes"] as? Int == 0)
            let tls = try #require(json["tls"] as? [String: Any])
            // The JSON report's tls fields (TLSFactsJSON), plus the provider.
            #expect(
                Set(tls.keys) == [
                    "provider", "version", "cipher", "group", "alpn", "server_name", "verified", "verification",
                    "client_certificate_requested", "client_certificate_sent", "resumed", "peer",
                ])
            #expect(tls["provider"] as? String == "builtin")
            #expect(tls["version"] as? String == "TLS1.3")
            #expect(tls["verified"] as? Bool == true)
            #expect((tls["verification"] as? [Any])?.isEmpty == true)
            #expect(tls["alpn"] is NSNull)
            #expect(tls["server_name"] as? String == "localhost")
            #expect(tls["client_certificate_sent"] as? Bool == false)
            #expect(tls["resumed"] as? Bool == false)
            // The probe's peer is the leaf certificate, an object (the report lists the chain).
            let peer = try #require(tls["peer"] as? [String: Any])
            #expect(Set(peer.keys) == ["subject", "issuer", "san", "not_before", "not_after", "sha256", "serial", "key", "signature"])
            #expect((peer["san"] as? [String])?.contains("DNS:mail.test") == true)
            #expect((peer["sha256"] as? String)?.count == 64)
            for key in ["not_before", "not_after"] {
                let date = try #require(peer[key] as? String)
                #expect(date.wholeMatch(of: /[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/) != nil, "\(key): \(date)")
            }
        }
    }

    @Test("--type plain reads the greeting only; --type starttls upgrades; --insecure lists the problems")
    func plainAndStarttls() async throws {
        try await withFakeSMTPServer(try smtpServer()) { server in
            let plain = await probe(["127.0.0.1", "\(server.port)", "--preset", "smtp", "--type", "plain", "--json"])
            #expect(plain.status == 0)
            let plainJSON = try object(plain.output)
            #expect(plainJSON["type"] as? String == "plain")
            #expect(plainJSON["capabilities"] is NSNull)
            #expect(plainJSON["tls"] is NSNull)
            let insecure = await probe(["127.0.0.1", "\(server.port)", "--preset", "smtp", "--type", "starttls", "--insecure", "--json"])
            #expect(insecure.status == 0)
            let tls = try #require(try object(insecure.output)["tls"] as? [String: Any])
            #expect(tls["verified"] as? Bool == false)
            #expect((tls["verification"] as? [String])?.contains("signer not found") == true)
        }
    }

    @Test("--type tls and ssl against a STARTTLS server: no process, the handshake error; exit 1")
    func implicitTLS() async throws {
        try await withFakeSMTPServer(try smtpServer()) { server in
            for type in ["tls", "ssl"] {
                let run = await probe([
                    "127.0.0.1", "\(server.port)", "--preset", "smtp", "--type", type, "--ca-file", ca, "--timeout", "3", "--json",
                ])
                #expect(run.status == 1)
                let json = try object(run.output)
                #expect(json["process"] is NSNull)
                #expect((json["error"] as? String)?.contains("TLS") == true)
            }
        }
    }

    @Test("--type starttls without STARTTLS offered: exit 1 and Server does not support TLS")
    func starttlsNotOffered() async throws {
        var configuration = try smtpServer()
        configuration.offerStartTLS = false
        try await withFakeSMTPServer(configuration) { server in
            let run = await probe(["127.0.0.1", "\(server.port)", "--preset", "smtp", "--type", "starttls", "--json"])
            #expect(run.status == 1)
            let json = try object(run.output)
            #expect(json["process"] is NSNull)
            #expect(json["error"] as? String == "Server does not support TLS")
        }
    }

    @Test("--type shell runs the command with %s and %p: type plain, a real process")
    func shell() async throws {
        try await withFakeSMTPServer(try smtpServer()) { server in
            let command = #"exec bash -c 'exec 3<>/dev/tcp/%s/%p; cat <&3 & exec cat >&3'"#
            let run = await probe([
                "127.0.0.1", "\(server.port)", "--preset", "smtp", "--type", "shell", "--shell-command", command, "--timeout", "5",
                "--json",
            ])
            #expect(run.status == 0, "\(run.output)\(run.error)")
            let json = try object(run.output)
            #expect((json["process"] as? [String: Any])?["type"] as? String == "real")
            #expect(json["type"] as? String == "plain")
            #expect(json["greeting"] as? String == "220 mail.test ESMTP Parley fake server\r\n")
            #expect((json["capabilities"] as? String)?.contains("250-STARTTLS\r\n") == true)
        }
    }

    @Test("a server that accepts and never speaks: the probe returns within --timeout, exit 1, error naming the greeting wait")
    func silentServer() async throws {
        let listener = try SilentListener()
        let run = await probe(["127.0.0.1", "\(listener.port)", "--preset", "smtp", "--timeout", "0.5", "--json"])
        #expect(run.status == 1)
        let json = try object(run.output)
        #expect(json["process"] is NSNull)
        #expect(json["error"] as? String == "timed out after 0.5s waiting for the server's greeting")
    }

    @Test("a refused connect: exit 1 with the connect error")
    func refused() async throws {
        let port = try SilentListener().port  // closed again when the listener is released
        let run = await probe(["127.0.0.1", "\(port)", "--json"])
        #expect(run.status == 1)
        #expect((try object(run.output)["error"] as? String)?.contains("Connection refused") == true)
    }

    @Test("usage errors exit 2 with ArgumentParser's usage: no service, an unknown option, an unknown type, a bad escape, ...")
    func usage() async throws {
        let cases: [[String]] = [
            ["127.0.0.1"],
            ["127.0.0.1", "25", "--bogus"],
            ["127.0.0.1", "25", "--type", "foo"],
            ["127.0.0.1", "25", "--capability-command", #"\q"#],
            ["127.0.0.1", "25", "--starttls-command", #"\x4"#],
            ["127.0.0.1", "25", "--shell-command", #"cat\"#],
            ["127.0.0.1", "25", "--preset", "gopher"],
            ["127.0.0.1", "25", "--tls-provider", "openssl"],
            ["127.0.0.1", "25", "--client-cert", "c.pem"],
            ["127.0.0.1", "25", "--timeout", "0"],
            ["127.0.0.1", "25", "--timeout", "soon"],
            ["127.0.0.1", "25", "--min-dh-bits", "0"],
            ["127.0.0.1", "25", "--type"],
            ["127.0.0.1", "25", "extra"],
        ]
        for arguments in cases {
            let run = await probe(arguments)
            #expect(run.status == 2, "\(arguments)")
            #expect(run.error.contains("Usage: parley probe [<options>] <host> <service>"), "\(arguments): \(run.error)")
            #expect(run.output.isEmpty)
        }
        #expect(await probe(["127.0.0.1", "25", "--type", "foo"]).error.contains("Invalid connection type foo"))
        #expect(
            await probe(["127.0.0.1", "25", "--capability-command", #"\q"#]).error.contains(
                #"--capability-command '\q': unknown escape \q"#))
        #expect(
            await probe(["127.0.0.1", "25", "--preset", "gopher"]).error.contains(
                "--preset takes ftp, imap, lmtp, nntp, pop3, sieve, smtp, submission, xmpp, not 'gopher'"))
        #expect(await probe(["127.0.0.1", "25", "--client-key", "k.pem"]).error.contains("--client-cert and --client-key go together"))
    }

    @Test("a pattern PCRE2 refuses is a usage error found by the engine: exit 2, nothing printed on standard output")
    func badPattern() async throws {
        let run = await probe(["127.0.0.1", "1", "--end-of-command", "(", "--json"])
        #expect(run.status == 2)
        #expect(run.output.isEmpty)
        #expect(run.error.hasPrefix("parley probe: invalid pattern \"(\""), "\(run.error)")
    }

    @Test("--help and -h print ArgumentParser's help, with every option, and exit 0")
    func help() async throws {
        for flag in ["--help", "-h"] {
            let run = await probe([flag])
            #expect(run.status == 0)
            #expect(run.error.isEmpty)
            #expect(run.output.contains("USAGE: parley probe [<options>] <host> <service>"), "\(run.output)")
            for option in ProbeOptionsTests.everyOption {
                #expect(run.output.contains(option), "\(option) missing from --help")
            }
            #expect(run.output.contains("Exit status: 0 an open process resulted; 1 none did"))
        }
    }

    @Test("received bytes are JSON strings with every byte kept; invalid UTF-8 becomes \\udcXX")
    func byteStrings() throws {
        let json = ProbeFrontend.jsonString([0x32, 0x32, 0x30, 0x20, 0xC3, 0xA9, 0xFF, 0x0D, 0x0A, 0x22, 0xE2, 0x82])
        #expect(json == #""220 é\udcff\r\n\"\udce2\udc82""#)
    }

    @Test("--json keeps every received byte in the document: invalid UTF-8 as \\udcXX, controls escaped")
    func bytesInDocument() async throws {
        // printf writes 220, 0xFF, é, a quoted q, a backslash, 0x01 and CR LF; the probe decodes \\ to \.
        let command = #"printf '220 \\377\\303\\251 \\042q\\042 \\134 \\001\\r\\n'; exec sleep 60"#
        let run = await probe(["localhost", "1", "--type", "shell", "--shell-command", command, "--end-of-command", #"\r\n"#, "--json"])
        #expect(run.status == 0, "\(run.output)\(run.error)")
        #expect(run.output.contains(#""greeting":"220 \udcffé \"q\" \\ \u0001\r\n""#), "\(run.output)")
        #expect(run.output.hasPrefix(#"{"capabilities":null,"discarded_bytes":0,"error":null,"greeting":"#))
        #expect(run.output.hasSuffix(#","process":{"name":"probe","status":"run","type":"real"},"tls":null,"type":"plain"}"# + "\n"))
    }

    @Test("the escapes \\r \\n \\t \\\\ \\xHH are interpreted in S arguments")
    func escapes() throws {
        #expect(try CommandEscapes.decode(#"EHLO a\r\n\t\\\x00\xff"#) == Array("EHLO a\r\n\t\\".utf8) + [0, 255])
        let parameters = try ProbeFrontend.parse(["h", "25", "--capability-command", #"EHLO a\r\n\t\\\x00\xff"#]).streamParameters()
        guard case .bytes(let bytes) = parameters.capabilityCommand else {
            Issue.record("no capability command")
            return
        }
        #expect(bytes == Array("EHLO a\r\n\t\\".utf8) + [0, 255])
    }

    @Test("version --json reports Parley, GnuTLS, PCRE2, libyaml and what GnuTLS offers")
    func versionJSON() throws {
        let text = VersionReport.json()
        // One line, keys sorted, as every JSON Parley prints.
        #expect(text.hasPrefix(#"{"gnutls":"#) && text.hasSuffix("}\n") && text.filter { $0 == "\n" }.count == 1, "\(text)")
        let json = try object(text)
        #expect(Set(json.keys) == ["parley", "gnutls", "pcre2", "libyaml", "tls"])
        #expect(json["parley"] as? String == ParleyVersion.string)
        #expect(json["gnutls"] as? String == GnuTLSLibrary.runtimeVersion)
        let tls = try #require(json["tls"] as? [String: Any])
        #expect((tls["protocols"] as? [String])?.contains("TLS1.3") == true)
        #expect((tls["ciphers"] as? [String])?.contains("AES-256-GCM") == true)
        #expect((tls["groups"] as? [String])?.contains("X25519") == true)
        #expect(Set(tls.keys) == ["version", "protocols", "ciphers", "macs", "key_exchanges", "groups", "features"])
        #expect(json["pcre2"] is String)
        #expect(json["libyaml"] is String)
    }
}
