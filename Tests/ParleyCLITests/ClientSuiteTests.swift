// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyCLI
import ParleyTestSupport
import Testing

/// The bundled SMTP client cases (suites/clients/smtp) played by `parley serve --script`,
/// each against a client that behaves as the RFCs ask and one that does not: Python's smtplib,
/// driven one way or the other.
@Suite("suites/clients/smtp: each case passes a right client and fails a wrong one, naming what it did", .serialized)
struct ClientSuiteTests {
    static let client = """
        import smtplib, ssl, sys
        port, ca, case, behaviour = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
        context = ssl.create_default_context(cafile=ca)
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30) as smtp:
            try:
                if case == "credentials-only-under-tls":
                    if behaviour == "right":
                        smtp.starttls(context=context)
                    smtp.login("alice", "secret")
                elif case == "starttls-refused":
                    try:
                        smtp.starttls(context=context)
                    except smtplib.SMTPException:
                        if behaviour == "wrong":
                            smtp.login("alice", "secret")
                elif case == "capabilities-asked-again":
                    smtp.starttls(context=context)
                    if behaviour == "right":
                        smtp.ehlo()
                    else:
                        smtp.docmd("MAIL FROM:<alice@mail.test>")
            except (smtplib.SMTPException, OSError) as error:
                print("client:", error)
        """

    /// The case, its wrong client's command, and the variable that names it.
    static let cases: [(name: String, wrongCommand: String, variable: String)] = [
        ("credentials-only-under-tls", "AUTH", "sent_before_starttls"),
        ("starttls-refused", "AUTH", "sent_after_refusal"),
        ("capabilities-asked-again", "MAIL", "sent_before_ehlo"),
    ]

    /// Serves one case for one client; returns the exit status and the verdict line.
    func play(_ name: String, behaviour: String) async throws -> (Int32, String) {
        let root = SourceTree.root
        let file = root.appendingPathComponent("suites/clients/smtp/\(name).yaml").path
        let output = Output()
        var frontend = ScriptServeFrontend(file: file, output: { output.write($0) }, transcript: { _ in })
        frontend.connections = 1
        frontend.acceptTimeout = .seconds(30)
        let serving = Task { await frontend.run() }
        let listening = try #require(try await listeningPort(output), "\(output.all)")
        let ca = FixtureCertificates.path("ca.pem")
        // Started and awaited without blocking a thread: the server's run needs the threads.
        let client = try ExternalProcess(["python3", "-c", Self.client, listening, ca, name, behaviour], mergingStandardError: true)
        _ = try await client.waitForExit(seconds: 60)
        let status = await serving.value
        let verdict = output.all.split(separator: "\n").first { $0.hasPrefix("connection 1 ") }.map(String.init) ?? output.all
        return (status, verdict)
    }

    @Test("a client that behaves passes the case", arguments: cases.map(\.name))
    func rightClient(_ name: String) async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        let (status, verdict) = try await play(name, behaviour: "right")
        #expect(status == 0, "\(verdict)")
        #expect(verdict.contains(": PASS "), "\(verdict)")
    }

    @Test("a client that does not fails the case, and the failure names what it sent", arguments: cases.map(\.name))
    func wrongClient(_ name: String) async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        let (_, wrongCommand, variable) = try #require(Self.cases.first { $0.name == name })
        let (status, verdict) = try await play(name, behaviour: "wrong")
        #expect(status == 1, "\(verdict)")
        #expect(verdict.contains(": FAIL "), "\(verdict)")
        #expect(verdict.contains(variable) && verdict.contains(wrongCommand), "\(verdict)")
    }
}
