// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyCLI
import ParleyTestSupport
import Testing

/// The bundled client cases (suites/clients/smtp, imap, pop3) run by `parley test-client`, each
/// against a client that behaves as the RFCs ask and one that does not: ci/clients/mail_client.py
/// (Python's smtplib, imaplib and poplib) used right, and with the flag that makes it wrong in
/// the way the case is about.
@Suite("suites/clients: each case passes a right client and fails a wrong one, naming what it did", .serialized)
struct ClientSuiteTests {
    /// One case: its protocol and file, the flag that makes the client wrong, and words the
    /// failure must say.
    struct Case: Sendable, CustomTestStringConvertible {
        var protocolName: String
        var name: String
        var wrongFlag: String
        var says: [String]
        var testDescription: String { "\(protocolName)/\(name) (wrong: \(wrongFlag))" }
    }

    static let certificateCases = ["expired", "wrong-host", "self-signed", "unknown-ca"]

    static let cases: [Case] = {
        var cases: [Case] = []
        for protocolName in ["smtp", "imap", "pop3"] {
            let upgrade = protocolName == "pop3" ? "STLS" : "STARTTLS"
            let login = ["smtp": "AUTH", "imap": "LOGIN", "pop3": "USER"][protocolName] ?? ""
            cases.append(Case(protocolName: protocolName, name: "credentials-only-under-tls", wrongFlag: "--auth-first", says: [login]))
            cases.append(
                Case(
                    protocolName: protocolName, name: "starttls-refused", wrongFlag: "--opportunistic",
                    says: ["went on in plain text after \(upgrade) was refused", protocolName == "smtp" ? "AUTH" : login]))
            cases.append(
                Case(
                    protocolName: protocolName, name: "starttls-not-offered", wrongFlag: "--opportunistic",
                    says: ["went on in plain text without \(upgrade)"]))
            let again = [
                "smtp": ("sent_before_ehlo", "MAIL"), "imap": ("sent_before_capability", "LOGIN"), "pop3": ("sent_before_capa", "USER"),
            ][
                protocolName]!
            cases.append(
                Case(protocolName: protocolName, name: "capabilities-asked-again", wrongFlag: "--no-capa-again", says: [again.0, again.1]))
            let injected =
                ["smtp": "bytes arrived", "imap": "took the \"* BYE\" injected", "pop3": "did not wait for the answer"][protocolName]!
            cases.append(Case(protocolName: protocolName, name: "response-injection", wrongFlag: "--keep-buffer", says: [injected]))
            cases.append(
                Case(
                    protocolName: protocolName, name: "tls-versions", wrongFlag: "--old-tls",
                    says: ["offered-versions is TLS1.3 TLS1.2 TLS1.1 TLS1.0, expected to lack TLS1.0"]))
            for certificate in certificateCases {
                cases.append(
                    Case(
                        protocolName: protocolName, name: "bad-certificate-\(certificate)", wrongFlag: "--no-verify",
                        says: ["accepted the certificate \(certificate).pem"]))
            }
        }
        cases.append(
            Case(protocolName: "imap", name: "preauth", wrongFlag: "--opportunistic", says: ["after a PREAUTH greeting", "SELECT"]))
        return cases
    }()

    /// Runs one case with the mail client; returns the exit status and the output.
    func run(_ testCase: Case, flags: [String]) async -> (Int32, String) {
        let root = SourceTree.root
        let output = Output()
        let file = root.appendingPathComponent("suites/clients/\(testCase.protocolName)/\(testCase.name).yaml").path
        let client = root.appendingPathComponent("ci/clients/mail_client.py").path
        var frontend = TestClientFrontend(
            clientProtocol: TestClientFrontend.ClientProtocol(rawValue: testCase.protocolName) ?? .smtp,
            command: ["python3", client, testCase.protocolName, "{host}", "{port}", "{ca-file}"] + flags
        ) { output.write($0) }
        frontend.suite = [file]
        frontend.caFile = FixtureCertificates.path("ca.pem")
        frontend.exitTimeout = .seconds(20)
        let status = await frontend.run()
        return (status, output.all)
    }

    @Test("the client used right passes the case", arguments: cases)
    func rightClient(_ testCase: Case) async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        let (status, output) = await run(testCase, flags: [])
        #expect(status == 0, "\(output)")
        #expect(output.contains("1 passed, 0 failed"), "\(output)")
    }

    @Test("the client used wrong fails the case, and the failure says what it did", arguments: cases)
    func wrongClient(_ testCase: Case) async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        let (status, output) = await run(testCase, flags: [testCase.wrongFlag])
        #expect(status == 1, "\(output)")
        #expect(output.contains("0 passed, 1 failed"), "\(output)")
        let failure = output.split(separator: "\n").filter { $0.hasPrefix("***") }.joined(separator: "\n")
        for words in testCase.says {
            #expect(failure.contains(words), "\(words) not in: \(failure)")
        }
    }

    /// Runs one bundled case with `command`; returns the exit status and the output.
    func runCase(_ file: String, _ command: [String], exitTimeout: Duration = .seconds(10)) async -> (Int32, String) {
        let output = Output()
        let protocolName = TestClientFrontend.ClientProtocol(rawValue: String(file.split(separator: "/").first ?? "")) ?? .smtp
        var frontend = TestClientFrontend(clientProtocol: protocolName, command: command) { output.write($0) }
        frontend.suite = [SourceTree.root.appendingPathComponent("suites/clients/\(file)").path]
        frontend.exitTimeout = exitTimeout
        let status = await frontend.run()
        return (status, output.all)
    }

    @Test("a client that exits 0 where it must give up fails the case on its exit status")
    func exitStatusJudged() async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        // Refused STARTTLS, the client quits as it should, but then reports success.
        let script =
            "import poplib,sys; p=poplib.POP3(sys.argv[1], int(sys.argv[2])); p.capa()\ntry:\n p.stls()\nexcept poplib.error_proto:\n p.quit()"
        let (status, output) = await runCase("pop3/starttls-refused.yaml", ["python3", "-c", script, "{host}", "{port}"])
        #expect(status == 1, "\(output)")
        #expect(output.contains("the client exited with status 0, as if it had succeeded"), "\(output)")
    }

    @Test("a client that never connects is an error naming its exit and output")
    func clientThatNeverConnects() async throws {
        let (status, output) = await runCase("smtp/starttls-refused.yaml", ["sh", "-c", "echo no server for me >&2; exit 7"])
        #expect(status == 3, "\(output)")
        #expect(output.contains("the client exited with status 7 before it connected"), "\(output)")
        #expect(output.contains("no server for me"), "\(output)")
    }

    @Test("a client command that does not exist is bad usage, found before any case runs")
    func missingCommand() async throws {
        let (status, output) = await runCase("smtp/starttls-refused.yaml", ["/no/such/client", "{port}"])
        #expect(status == 2, "\(output)")
        #expect(output == "error: client command '/no/such/client' not found (on PATH or as a path)\n", "\(output)")
    }

    @Test("a client that hangs after its dialog is killed, and a case that needs its exit fails")
    func clientThatHangs() async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        // Gives up on the refusal (QUIT) as it should, then never exits.
        let script =
            "import smtplib,sys,time\ns=smtplib.SMTP(sys.argv[1], int(sys.argv[2])); s.ehlo()\ntry:\n s.starttls()\nexcept smtplib.SMTPException:\n s.quit()\ntime.sleep(60)"
        let (status, output) = await runCase(
            "smtp/starttls-refused.yaml", ["python3", "-c", script, "{host}", "{port}"], exitTimeout: .seconds(1))
        #expect(status == 1, "\(output)")
        #expect(output.contains("did not exit within 1"), "\(output)")
    }

    @Test("{host}, {port}, {ca-file} and {case} are replaced inside arguments")
    func substitution() {
        let replaced = TestClientFrontend.substitute(
            ["--url=smtp://{host}:{port}", "{ca-file}", "{case}.log", "{other}"], host: "127.0.0.1", port: 2525, caFile: "/ca.pem",
            case: "preauth")
        #expect(replaced == ["--url=smtp://127.0.0.1:2525", "/ca.pem", "preauth.log", "{other}"])
    }

    @Test("parley serve --script plays a case for any client: smtplib used right passes it")
    func serveScript() async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        let root = SourceTree.root
        let file = root.appendingPathComponent("suites/clients/smtp/credentials-only-under-tls.yaml").path
        let output = Output()
        var frontend = ScriptServeFrontend(file: file, output: { output.write($0) }, transcript: { _ in })
        frontend.connections = 1
        frontend.acceptTimeout = .seconds(30)
        let serving = Task { await frontend.run() }
        let listening = try #require(try await listeningPort(output), "\(output.all)")
        let client = try ExternalProcess(
            [
                "python3", root.appendingPathComponent("ci/clients/mail_client.py").path, "smtp", "127.0.0.1", listening,
                FixtureCertificates.path("ca.pem"),
            ],
            mergingStandardError: true)
        _ = try await client.waitForExit(seconds: 60)
        let status = await serving.value
        #expect(status == 0, "\(output.all)")
        #expect(output.all.contains(": PASS client (SMTP): credentials only under TLS"), "\(output.all)")
    }
}
