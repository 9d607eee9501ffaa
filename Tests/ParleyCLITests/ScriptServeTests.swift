// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyCLI
import ParleyTestSupport
import Testing

/// The port of `parley serve --script`'s first line, `listening on 127.0.0.1:PORT (...)`, once it
/// is written (nil after 30 s).
func listeningPort(_ output: Output) async throws -> String? {
    for _ in 0..<300 {
        if let line = output.all.split(separator: "\n").first(where: { $0.hasPrefix("listening on 127.0.0.1:") }) {
            return line.dropFirst("listening on 127.0.0.1:".count).split(separator: " ").first.map(String.init)
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    return nil
}

@Suite("parley serve --script: a scripted server for any client, a verdict per connection")
struct ScriptServeTests {
    /// Credentials only under TLS (RFC 3207 §4, RFC 4954 §4): AUTH is offered before TLS, and a
    /// client that cares sends STARTTLS first anyway.
    static func script(_ certs: String) -> String {
        """
        name: "client: credentials only under TLS"
        timeouts: {connect: 30s, expect: 30s, handshake: 30s}
        steps:
          - send: {line: '220 fake.test ESMTP scripted'}
          - expect: {pattern: '^EHLO [^\\r\\n]*\\r\\n', case-insensitive: true}
          - send: {parts: [{line: '250-fake.test'}, {line: '250-AUTH PLAIN'}, {line: '250 STARTTLS'}]}
          # The first command after EHLO: STARTTLS from a client that protects its password.
          - expect: {pattern: '^(?<first_command>STARTTLS|AUTH)\\b[^\\r\\n]*\\r\\n', case-insensitive: true}
          - assert: {variables: {first_command: STARTTLS}}
          - starttls: {go-ahead: '220 2.0.0 go ahead', certificate: \(certs)/server.pem, key: \(certs)/server-key.pem}
          - expect: {pattern: '^EHLO [^\\r\\n]*\\r\\n', case-insensitive: true}
          - send: {parts: [{line: '250-fake.test'}, {line: '250 AUTH PLAIN'}]}
          - expect: {pattern: '^AUTH PLAIN [^\\r\\n]+\\r\\n', case-insensitive: true}
          - assert: {tls: true}
          - send: {line: '235 2.7.0 accepted'}
          - expect: {pattern: '^QUIT\\r\\n', case-insensitive: true}
          - send: {line: '221 2.0.0 bye'}
        """
    }

    static let client = """
        import smtplib, ssl, sys
        port, ca, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30) as smtp:
            if mode == "tls":
                smtp.starttls(context=ssl.create_default_context(cafile=ca))
            try:
                smtp.login("alice", "secret")
            except smtplib.SMTPException as error:
                print("login failed:", error)
        """

    @Test("smtplib with STARTTLS passes; smtplib logging in over plain text fails, named by the first command it sent")
    func goodAndBadClient() async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        let certs = FixtureCertificates.directory
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("credentials-under-tls.yaml")
        try Self.script(certs).write(to: file, atomically: true, encoding: .utf8)
        let output = Output()
        let transcript = Output()
        var frontend = ScriptServeFrontend(file: file.path, output: { output.write($0) }, transcript: { transcript.write($0) })
        frontend.connections = 2
        frontend.acceptTimeout = .seconds(30)
        let serving = Task { await frontend.run() }
        let listening = try #require(try await listeningPort(output), "\(output.all)")
        for mode in ["tls", "plain"] {
            let client = try ExternalProcess(
                ["python3", "-c", Self.client, listening, "\(certs)/ca.pem", mode], mergingStandardError: true)
            let status = try await client.waitForExit(seconds: 60)
            #expect(status != nil, "\(mode): \(String(decoding: client.stdout, as: UTF8.self))")
        }
        let status = await serving.value
        #expect(status == 1, "one of the two clients failed the case: \(output.all)")
        let lines = output.all.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("connection 1 from 127.0.0.1:") && $0.contains(": PASS client: credentials only under TLS") })
        let failed = try #require(lines.first { $0.hasPrefix("connection 2 from 127.0.0.1:") })
        #expect(failed.contains("FAIL client: credentials only under TLS"), "\(failed)")
        #expect(failed.contains("credentials-under-tls.yaml:9:"), "\(failed)")
        #expect(failed.contains("first_command"), "\(failed)")
        #expect(failed.contains("AUTH"), "\(failed)")
        #expect(
            transcript.all.contains("<-  AUTH PLAIN") || transcript.all.contains("AUTH PLAIN"), "the transcript shows the client's bytes")
    }

    @Test("a script with listen or accept is refused: serve --script runs it once per connection")
    func refusesListen() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("s.yaml")
        try "name: s\nsteps:\n  - listen:\n  - accept:\n".write(to: file, atomically: true, encoding: .utf8)
        let output = Output()
        let frontend = ScriptServeFrontend(file: file.path, output: { output.write($0) }, transcript: { _ in })
        #expect(await frontend.run() == 2)
        #expect(output.all.contains("s.yaml:3:5: error: a script for 'parley serve --script' runs once per connection"), "\(output.all)")
    }
}
