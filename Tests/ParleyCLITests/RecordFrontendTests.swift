// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServers
import ParleyCLI
import ParleyTestSupport
import Testing

/// `parley record` through its frontend: a real client (Python's smtplib) through the proxy to
/// a fake SMTP server, then both generated files played back.
@Suite("parley record: record through the proxy, replay both sides")
struct RecordFrontendTests {
    static let password = "s3cret-record-pw"

    /// smtplib as a client that wants TLS: STARTTLS verified against the CA for the name, AUTH PLAIN, one message.
    static let client = """
        import smtplib, ssl, sys
        port, ca, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=30) as smtp:
            smtp._host = "localhost"
            smtp.starttls(context=ssl.create_default_context(cafile=ca))
            smtp.login("alice", password)
            smtp.sendmail("alice@mail.test", ["alice@mail.test"], "Subject: recorded\\r\\n\\r\\nhello\\r\\n")
        """

    /// The port of the frontend's first line (`recording on 127.0.0.1:PORT ...` or `listening on ...`).
    static func port(_ output: Output) async throws -> String? {
        for _ in 0..<300 {
            for line in output.all.split(separator: "\n") {
                for prefix in ["recording on 127.0.0.1:", "listening on 127.0.0.1:"] where line.hasPrefix(prefix) {
                    return line.dropFirst(prefix.count).split(separator: " ").first.map(String.init)
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    /// A fake SMTP server (STARTTLS with the test PKI, alice's password) and a recorder in
    /// front of it that writes into `folder`, verifying the server for "localhost".
    static func withRecorder(folder: URL, _ body: (RecordFrontend, Output) async throws -> Void) async throws {
        let configuration = FakeSMTPServer.Configuration(tls: try TestPKI.serverContext(), users: ["alice": Self.password])
        try await withFakeSMTPServer(configuration) { server in
            let output = Output()
            var frontend = RecordFrontend(upstreamHost: "127.0.0.1", upstreamPort: server.port, preset: "smtp") { output.write($0) }
            frontend.outputFolder = folder.path
            frontend.upstreamCAFile = "\(FixtureCertificates.directory)/ca.pem"
            frontend.serverName = "localhost"
            frontend.acceptTimeout = .seconds(30)
            try await body(frontend, output)
        }
    }

    static func runClient(port: String, mustPass: Bool = true) async throws -> Int32? {
        let process = try ExternalProcess(
            ["python3", "-c", client, port, "\(FixtureCertificates.directory)/ca.pem", password], mergingStandardError: true)
        let status = try await process.waitForExit(seconds: 60)
        if mustPass, status != 0 { Issue.record("the client: \(String(decoding: process.stdout, as: UTF8.self))") }
        return status
    }

    @Test(
        "smtplib through the proxy: the files are written without the password; the client scenario passes against the server, the client against the server script, and --mode once replays"
    )
    func roundTrip() async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try await Self.withRecorder(folder: folder) { configured, output in
            var frontend = configured
            frontend.name = "fake"
            let recording = Task { await frontend.run() }
            let port = try #require(try await Self.port(output), "\(output.all)")
            #expect(try await Self.runClient(port: port) == 0)
            #expect(await recording.value == 0, "\(output.all)")
            #expect(output.all.contains("credentials became variables: MAIL_USER, MAIL_PASSWORD"))

            let files = try FileManager.default.subpathsOfDirectory(atPath: folder.path).sorted()
            #expect(
                files == [
                    "fake.cert.pem", "fake.client.yaml", "fake.key.pem", "fake.recording.json", "fake.server.yaml", "snapshots",
                    "snapshots/fake.client.recorded.txt",
                ])
            let encoded = Data("\0alice\0\(Self.password)".utf8).base64EncodedString()
            for file in files where !file.hasSuffix("snapshots") {
                let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
                #expect(!text.contains(Self.password) && !text.contains(encoded), "\(file) holds the credential")
            }
            let client = try String(contentsOf: folder.appendingPathComponent("fake.client.yaml"), encoding: .utf8)
            #expect(client.contains("- starttls: {command: \"STARTTLS\\r\\n\""))
            #expect(client.contains(#"{base64: "\0${MAIL_USER}\0${MAIL_PASSWORD}"}"#))

            // The client's side again, against the same server: a new session.
            let replay = Output()
            var run = RunFrontend(
                paths: [folder.appendingPathComponent("fake.client.yaml").path],
                variables: ["MAIL_USER": "alice", "MAIL_PASSWORD": Self.password]
            ) { replay.write($0) }
            run.environment["CI"] = "true"
            #expect(await run.run() == 0, "\(replay.all)")
            #expect(!replay.all.contains(Self.password))

            // The server's side, for the same client, without the server.
            let served = Output()
            var serve = ScriptServeFrontend(
                file: folder.appendingPathComponent("fake.server.yaml").path, output: { served.write($0) }, transcript: { _ in })
            serve.connections = 1
            serve.acceptTimeout = .seconds(30)
            let serving = Task { await serve.run() }
            let scriptPort = try #require(try await Self.port(served), "\(served.all)")
            #expect(try await Self.runClient(port: scriptPort) == 0)
            #expect(await serving.value == 0, "\(served.all)")

            // --mode once with the recording there: the proxy replays it.
            let once = Output()
            var again = frontend
            again.output = { once.write($0) }
            again.upstreamPort = 1
            let replaying = Task { await again.run() }
            let oncePort = try #require(try await Self.port(once), "\(once.all)")
            #expect(try await Self.runClient(port: oncePort) == 0)
            #expect(await replaying.value == 0, "\(once.all)")
            #expect(once.all.contains("the server is not contacted"))
        }
    }

    @Test("a 3 MiB message goes through the proxy whole, and the recording says where it was cut")
    func largeMessage() async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try await Self.withRecorder(folder: folder) { configured, output in
            var frontend = configured
            frontend.recordLimit = 1 << 20
            let recording = Task { await frontend.run() }
            let port = try #require(try await Self.port(output), "\(output.all)")
            let client = """
                import smtplib, ssl, sys
                body = ("x" * 998 + "\\r\\n") * 3150
                with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=60) as smtp:
                    smtp._host = "localhost"
                    smtp.starttls(context=ssl.create_default_context(cafile=sys.argv[2]))
                    smtp.login("alice", sys.argv[3])
                    refused = smtp.sendmail("alice@mail.test", ["alice@mail.test"], "Subject: big\\r\\n\\r\\n" + body)
                    print("sent", len(body), refused)
                """
            let process = try ExternalProcess(
                ["python3", "-c", client, port, "\(FixtureCertificates.directory)/ca.pem", Self.password], mergingStandardError: true)
            let status = try await process.waitForExit(seconds: 120)
            #expect(status == 0, "\(String(decoding: process.stdout, as: UTF8.self))")
            #expect(await recording.value == 0, "\(output.all)")
            #expect(output.all.contains("cut at the size limit"))
            let text = try String(contentsOf: folder.appendingPathComponent("smtp.client.yaml"), encoding: .utf8)
            #expect(text.contains("The recording was cut at its size limit"))
        }
    }

    @Test("a server whose certificate does not verify ends the dialog: the reason named, exit 3, nothing written")
    func upstreamNotVerified() async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try await Self.withRecorder(folder: folder) { configured, output in
            var frontend = configured
            frontend.upstreamCAFile = "\(FixtureCertificates.directory)/self-signed.pem"
            let recording = Task { await frontend.run() }
            let port = try #require(try await Self.port(output), "\(output.all)")
            #expect(try await Self.runClient(port: port, mustPass: false) != 0)
            #expect(await recording.value == 3, "\(output.all)")
            #expect(output.all.contains("TLS with the server 127.0.0.1:"), "\(output.all)")
            #expect(output.all.contains("nothing written"))
            #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("smtp.recording.json").path))
        }
    }

    @Test("two dialogs in one run are NAME and NAME-2")
    func twoDialogs() async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try await Self.withRecorder(folder: folder) { configured, output in
            var frontend = configured
            frontend.name = "two"
            frontend.connections = 2
            let recording = Task { await frontend.run() }
            let port = try #require(try await Self.port(output), "\(output.all)")
            #expect(try await Self.runClient(port: port) == 0)
            #expect(try await Self.runClient(port: port) == 0)
            #expect(await recording.value == 0, "\(output.all)")
            for name in ["two", "two-2"] {
                #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("\(name).client.yaml").path), "\(output.all)")
            }
        }
    }

    @Test("the generated scenario names its CA file relative to its own folder")
    func relativeCAFile() {
        #expect(RecordFrontend.relative("/work/p/fixtures/certs/ca.pem", to: "/work/p/recordings") == "../fixtures/certs/ca.pem")
        #expect(RecordFrontend.relative("/work/p/recordings/ca.pem", to: "/work/p/recordings") == "ca.pem")
        #expect(RecordFrontend.relative("/etc/ssl/ca.pem", to: "/work/p/recordings") == "/etc/ssl/ca.pem")
    }

    @Test("--mode none without a recording, an unknown preset and a bad name are bad usage; a server that is not there is a runtime error")
    func badUsage() async throws {
        guard ExternalProcess.isAvailable("python3") else { return }
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = Output()
        var frontend = RecordFrontend(upstreamHost: "127.0.0.1", upstreamPort: 9, preset: "smtp") { output.write($0) }
        frontend.outputFolder = folder.path
        frontend.mode = .none
        #expect(await frontend.run() == 2)
        #expect(output.all.contains("--mode none replays only"))
        frontend.mode = .all
        frontend.preset = "xmpp"
        #expect(await frontend.run() == 2)
        frontend.preset = "smtp"
        frontend.name = "../x"
        #expect(await frontend.run() == 2)
        frontend.name = nil
        // Nothing listens on port 9 of 127.0.0.1: the dialog ends at once, nothing is written.
        frontend.acceptTimeout = .seconds(30)
        let unreachable = Output()
        frontend.output = { unreachable.write($0) }
        let unreachableFrontend = frontend
        let recording = Task { await unreachableFrontend.run() }
        let port = try #require(try await Self.port(unreachable), "\(unreachable.all)")
        // A client that connects and waits for a greeting that never comes: the proxy closes it.
        let client = try ExternalProcess(
            ["python3", "-c", "import socket; s = socket.create_connection(('127.0.0.1', \(port))); s.settimeout(30); s.recv(10)"],
            mergingStandardError: true)
        #expect(await recording.value == 3, "\(unreachable.all)")
        _ = try await client.waitForExit(seconds: 30)
        #expect(unreachable.all.contains("cannot connect to the server 127.0.0.1:9"))
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("smtp.recording.json").path))
        // No client at all: the accept deadline ends the run (status 1).
        let nobody = Output()
        frontend.output = { nobody.write($0) }
        frontend.acceptTimeout = .milliseconds(300)
        #expect(await frontend.run() == 1, "\(nobody.all)")
        #expect(nobody.all.contains("no client within"))
    }
}
