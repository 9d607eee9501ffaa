// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import NetworkStream
import ParleyCLI
import Testing

/// The probe's options as ArgumentParser parses them, checked on the open-network-stream
/// keywords they set (no network).
@Suite("parley probe: options")
struct ProbeOptionsTests {
    /// Every option `parley probe` has had since its first version, by its long name.
    static let everyOption = [
        "--type", "--preset", "--capability-command", "--end-of-command", "--end-of-capability", "--starttls-when",
        "--starttls-command", "--success", "--always-query-capabilities", "--nowait", "--shell-command", "--ca-file",
        "--insecure", "--client-cert", "--client-key", "--client-certificate-from", "--priority", "--min-dh-bits",
        "--server-name", "--alpn", "--tls-provider", "--use-starttls-if-possible", "--case-fold", "--timeout", "--json",
    ]

    /// The keywords `arguments` (after `probe`) describe.
    func parameters(_ arguments: [String]) throws -> StreamParameters {
        try ProbeFrontend.parse(arguments).streamParameters()
    }

    @Test("HOST and SERVICE alone: type network, return-list, nothing to send, Parley's TLS defaults, 10 s waits")
    func defaults() throws {
        let command = try ProbeFrontend.parse(["mail.test", "submission"])
        #expect(command.host == "mail.test")
        #expect(command.service == "submission")
        #expect(command.json == false)
        let p = try command.streamParameters()
        #expect(p.type == .network)
        #expect(p.returnList)
        #expect(p.capabilityCommand == nil)
        #expect(p.endOfCommand == nil && p.endOfCapability == nil && p.success == nil && p.starttlsFunction == nil)
        #expect(!p.alwaysQueryCapabilities && !p.nowait && !p.noGreeting && !p.caseFold && !p.useStartTLSIfPossible)
        #expect(p.shellCommand == nil)
        #expect(p.tls.trustRoots == .system)
        #expect(p.tls.verify)
        #expect(p.tls.priority == "NORMAL")
        #expect(p.tls.serverName == nil && p.tls.alpn.isEmpty && p.tls.minimumDHPrimeBits == nil)
        #expect(p.clientCertificate == .none)
        #expect(p.tlsProvider == .builtin)
        #expect(p.timeouts.greeting == .seconds(10) && p.timeouts.handshake == .seconds(10))
    }

    @Test("every option sets its keyword")
    func everyOptionSets() throws {
        let command = try ProbeFrontend.parse([
            "mail.test", "587", "--type", "starttls", "--capability-command", #"EHLO x\r\n"#, "--end-of-command", "^E",
            "--end-of-capability", "^C", "--starttls-when", "TLS", "--starttls-command", #"GO\r\n"#, "--success", "^OK",
            "--always-query-capabilities", "--nowait", "--shell-command", #"nc %s %p\t"#, "--ca-file", "ca.pem",
            "--insecure", "--client-cert", "c.pem", "--client-key", "k.pem", "--priority", "NORMAL:-VERS-TLS1.3",
            "--min-dh-bits", "2048", "--server-name", "mx.test", "--alpn", "smtp", "--alpn", "h2", "--tls-provider",
            "external", "--use-starttls-if-possible", "--case-fold", "--timeout", "2.5", "--json",
        ])
        #expect(command.json)
        let p = try command.streamParameters()
        #expect(p.type == .starttls)
        guard case .bytes(let capability) = p.capabilityCommand else {
            Issue.record("no capability command")
            return
        }
        #expect(capability == Array("EHLO x\r\n".utf8))
        #expect(p.endOfCommand == "^E")
        #expect(p.endOfCapability == "^C")
        guard case .whenMatches(let when, let starttls) = p.starttlsFunction else {
            Issue.record("no STARTTLS function")
            return
        }
        #expect(when == "TLS")
        #expect(starttls == Array("GO\r\n".utf8))
        #expect(p.success == "^OK")
        #expect(p.alwaysQueryCapabilities && p.nowait && p.caseFold && p.useStartTLSIfPossible)
        #expect(p.shellCommand == "nc %s %p\t")
        #expect(p.tls.trustRoots == .file("ca.pem"))
        #expect(!p.tls.verify)
        #expect(p.clientCertificate == .files(key: "k.pem", certificate: "c.pem"))
        #expect(p.tls.priority == "NORMAL:-VERS-TLS1.3")
        #expect(p.tls.minimumDHPrimeBits == 2048)
        #expect(p.tls.serverName == "mx.test")
        #expect(p.tls.alpn == ["smtp", "h2"])
        #expect(p.tlsProvider == .external)
        #expect(p.timeouts.connect == .milliseconds(2500) && p.timeouts.starttlsReply == .milliseconds(2500))
    }

    @Test("options may come before HOST and SERVICE, and take --name=value")
    func order() throws {
        let p = try parameters(["--json", "--type=plain", "--timeout=1", "h", "25", "--case-fold"])
        #expect(p.type == .plain)
        #expect(p.caseFold)
        #expect(p.timeouts.connect == .seconds(1))
    }

    @Test("a value that starts with a dash is the option's value, as before (-ERR, -1)")
    func dashValues() throws {
        #expect(try parameters(["h", "110", "--end-of-command", "-ERR"]).endOfCommand == "-ERR")
        #expect(try parameters(["h", "110", "--success", "-"]).success == "-")
        #expect(throws: (any Error).self) { try ProbeFrontend.parse(["h", "1", "--timeout", "-1"]) }
    }

    @Test("--type nil is Emacs's network; --starttls-when without a command sends STARTTLS\\r\\n")
    func emacsDefaults() throws {
        #expect(try parameters(["h", "25", "--type", "nil"]).type == .network)
        guard case .whenMatches(_, let command) = try parameters(["h", "25", "--starttls-when", "X"]).starttlsFunction else {
            Issue.record("no STARTTLS function")
            return
        }
        #expect(command == Array("STARTTLS\r\n".utf8))
    }

    @Test("--client-certificate-from looks the certificate up; --client-cert and --client-key win over it")
    func clientCertificate() throws {
        #expect(try parameters(["h", "25", "--client-certificate-from", "authinfo"]).clientCertificate == .lookUp(authinfo: "authinfo"))
        let both = try parameters(["h", "25", "--client-certificate-from", "a", "--client-cert", "c", "--client-key", "k"])
        #expect(both.clientCertificate == .files(key: "k", certificate: "c"))
    }

    @Test("an option given wins over the preset's value; the others stay the preset's")
    func optionsWinOverPreset() throws {
        let p = try parameters([
            "h", "25", "--preset", "smtp", "--capability-command", #"EHLO me\r\n"#, "--success", "^2", "--starttls-when", "TLS",
        ])
        guard case .bytes(let capability) = p.capabilityCommand, case .whenMatches(let when, let command) = p.starttlsFunction else {
            Issue.record("incomplete parameters")
            return
        }
        #expect(capability == Array("EHLO me\r\n".utf8))
        #expect(p.success == "^2")
        #expect(when == "TLS")
        #expect(command == Array("STARTTLS\r\n".utf8))
        #expect(p.endOfCommand == #"^(?:[0-9]{3}-[^\n]*\n)*[0-9]{3} [^\n]*\n"#)
    }

    @Test("usage errors are thrown by parsing, validate() included")
    func usageErrors() throws {
        for arguments in [["h"], ["h", "1", "--bogus"], ["h", "1", "--type", "foo"], ["h", "1", "--preset", "x"], ["h", "1", "--alpn"]] {
            #expect(throws: (any Error).self, "\(arguments)") { try ProbeFrontend.parse(arguments) }
        }
    }
}
