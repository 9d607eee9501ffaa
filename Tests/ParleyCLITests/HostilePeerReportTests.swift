// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyCLI
import ParleyTestSupport
import Testing

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// `parley run` against hostile peers: each run ends with the documented exit status, names the
/// wait or bound that ended it, and still writes complete, parseable JUnit and JSON reports whose
/// wire data stays bounded.
@Suite("parley run against hostile peers")
struct HostilePeerReportTests {
    /// What one run left behind.
    struct RunOutcome {
        var status: Int32
        var output: String
        var junit: String
        var junitParses: Bool
        var jsonSize: Int
        /// The JSON report's first scenario's failure.
        var failure: [String: Any]
    }

    /// Writes `yaml` to a scratch folder and runs it through the frontend with --junit and --json.
    func run(_ yaml: String, variables: [String: String] = [:]) async throws -> RunOutcome {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("hostile.yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let output = Output()
        var frontend = RunFrontend(paths: [file.path], variables: variables) { output.write($0) }
        frontend.junitPath = folder.appendingPathComponent("junit.xml").path
        frontend.jsonPath = folder.appendingPathComponent("run.json").path
        let status = await frontend.run()
        let junitData = try Data(contentsOf: folder.appendingPathComponent("junit.xml"))
        let jsonData = try Data(contentsOf: folder.appendingPathComponent("run.json"))
        let report = try #require(try JSONSerialization.jsonObject(with: jsonData) as? [String: Any])
        let scenario = try #require((report["scenarios"] as? [[String: Any]])?.first)
        return RunOutcome(
            status: status,
            output: output.all,
            junit: String(decoding: junitData, as: UTF8.self),
            junitParses: XMLParser(data: junitData).parse(),
            jsonSize: jsonData.count,
            failure: scenario["failure"] as? [String: Any] ?? [:]
        )
    }

    @Test("a server that never speaks: exit 1, the greeting deadline named in both reports")
    func silent() async throws {
        let outcome = try await run(
            """
            server: {protocol: smtp, starttls: false, faults: [no-greeting]}
            steps:
              - connect:
              - greeting: {pattern: '^220 ', timeout: 300ms}
            """
        )
        #expect(outcome.status == 1, "\(outcome.output)")
        #expect(outcome.failure["kind"] as? String == "expectation")
        #expect(outcome.failure["wait"] as? String == "greeting")
        #expect(outcome.failure["deadline"] as? Double == 0.3)
        #expect(outcome.junitParses)
        #expect(outcome.junit.contains("failures=\"1\""))
        #expect(outcome.output.contains("deadline: greeting (0.3s)"), "\(outcome.output)")
    }

    @Test("a tarpit: exit 1, the expect deadline fires with the bytes that trickled in")
    func tarpit() async throws {
        let outcome = try await run(
            """
            server: {protocol: smtp, starttls: false, faults: [tarpit=0.1]}
            steps:
              - connect:
              - expect: {pattern: '^220 .*\\r\\n', timeout: 400ms}
            """
        )
        #expect(outcome.status == 1, "\(outcome.output)")
        #expect(outcome.failure["wait"] as? String == "expect")
        #expect(outcome.failure["deadline"] as? Double == 0.4)
        let tail = try #require((outcome.failure["tail"] as? [String: Any])?["base64"] as? String)
        let bytes = [UInt8](Data(base64Encoded: tail) ?? Data())
        #expect(Array("220 mail.test ESMTP".utf8).starts(with: bytes.prefix(19)), "\(bytes)")
        #expect(outcome.junitParses)
    }

    @Test("a 32 MiB flood without the awaited pattern: exit 1 at the deadline, and the reports stay small")
    func flood() async throws {
        let outcome = try await run(
            """
            server: {protocol: smtp, starttls: false, faults: [flood=33554432]}
            steps:
              - connect:
              - expect: {pattern: '^599 never', timeout: 1s}
            """
        )
        #expect(outcome.status == 1, "\(outcome.output)")
        #expect(outcome.failure["kind"] as? String == "expectation")
        #expect(outcome.failure["wait"] as? String == "expect")
        #expect(outcome.failure["deadline"] as? Double == 1)
        #expect(outcome.jsonSize < 4 * 1024 * 1024, "the JSON report holds \(outcome.jsonSize) bytes")
        #expect(outcome.junit.utf8.count < 4 * 1024 * 1024)
        #expect(outcome.junitParses)
    }

    @Test("garbage after the STARTTLS go-ahead: exit 3, the handshake failure in both reports")
    func garbageAfterGoAhead() async throws {
        let certs = FixtureCertificates.directory
        let outcome = try await run(
            """
            preset: smtp
            server:
              protocol: smtp
              certificate: \(certs)/server.pem
              key: \(certs)/server-key.pem
              faults: [garbage-after-starttls]
            steps:
              - connect:
              - greeting:
              - capability:
              - starttls: {ca-file: \(certs)/ca.pem, server-name: localhost}
            """
        )
        #expect(outcome.status == 3, "\(outcome.output)")
        #expect(outcome.failure["kind"] as? String == "runtime")
        #expect(outcome.failure["wait"] as? String == "handshake")
        #expect(outcome.junitParses)
        #expect(outcome.junit.contains("errors=\"1\""))
    }

    @Test("NUL bytes and invalid UTF-8 from the peer: the JSON tail keeps the exact bytes and the JUnit XML stays well-formed")
    func binaryBytes() async throws {
        let hostile: [UInt8] =
            Array("220 a".utf8) + [0x00, 0x62, 0xFF, 0xFE, 0x1B, 0x0C, 0xC3, 0x28, 0xED, 0xA0, 0x80] + Array("\r\n".utf8)
        // The peer writes and closes: the expect fails on the close with every byte in its tail
        // (a deadline instead could fire before a loaded machine delivered them).
        let peer = try RawPeer { connection in
            connection.write(hostile)
        }
        defer { peer.stop() }
        let outcome = try await run(
            """
            steps:
              - connect: {host: 127.0.0.1, port: '${PORT}'}
              - expect: {pattern: '^599 ', timeout: 10s}
            """,
            variables: ["PORT": "\(peer.port)"]
        )
        #expect(outcome.status == 1, "\(outcome.output)")
        let tail = try #require((outcome.failure["tail"] as? [String: Any])?["base64"] as? String)
        #expect([UInt8](Data(base64Encoded: tail) ?? Data()) == hostile)
        #expect(outcome.junitParses, "\(outcome.junit)")
        #expect(!outcome.junit.utf8.contains(0), "no NUL in XML")
    }

    @Test("a close in the middle of a multi-line reply: exit 1, closed by the peer while waiting for the capabilities")
    func closeMidMultiline() async throws {
        let peer = try RawPeer { connection in
            connection.write(Array("220 ready\r\n".utf8))
            _ = connection.read(until: Array("\r\n".utf8))
            connection.write(Array("250-mail.test\r\n250-PIPELINING\r\n".utf8))
        }
        defer { peer.stop() }
        let outcome = try await run(
            """
            preset: smtp
            steps:
              - connect: {host: 127.0.0.1, port: '${PORT}'}
              - greeting:
              - capability:
            """,
            variables: ["PORT": "\(peer.port)"]
        )
        #expect(outcome.status == 1, "\(outcome.output)")
        #expect(outcome.failure["wait"] as? String == "capabilities")
        #expect((outcome.failure["message"] as? String)?.contains("closed the connection") == true, "\(outcome.failure)")
        #expect(outcome.junitParses)
    }

    @Test("a reset in the middle of the TLS handshake: exit 3, the handshake named")
    func resetMidHandshake() async throws {
        let peer = try RawPeer { connection in
            connection.write(Array("220 ready\r\n".utf8))
            _ = connection.read(until: Array("\r\n".utf8))
            connection.write(Array("250-mail.test\r\n250 STARTTLS\r\n".utf8))
            _ = connection.read(until: Array("STARTTLS\r\n".utf8))
            connection.write(Array("220 go ahead\r\n".utf8))
            _ = connection.read(atLeast: 1)
            connection.reset()
        }
        defer { peer.stop() }
        let certs = FixtureCertificates.directory
        let outcome = try await run(
            """
            preset: smtp
            steps:
              - connect: {host: 127.0.0.1, port: '${PORT}'}
              - greeting:
              - capability:
              - starttls: {ca-file: \(certs)/ca.pem, server-name: localhost}
            """,
            variables: ["PORT": "\(peer.port)"]
        )
        #expect(outcome.status == 3, "\(outcome.output)")
        #expect(outcome.failure["kind"] as? String == "runtime")
        #expect(outcome.failure["wait"] as? String == "handshake")
        #expect(outcome.junitParses)
    }

    @Test("a 10 MB line is matched, and the reports keep a bounded part of it")
    func tenMegabyteLine() async throws {
        let line = Array("220 ".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 10_000_000) + Array("\r\n".utf8)
        let peer = try RawPeer { connection in
            connection.write(line)
            connection.waitForClose()
        }
        defer { peer.stop() }
        let outcome = try await run(
            """
            steps:
              - connect: {host: 127.0.0.1, port: '${PORT}'}
              - expect: {pattern: '^220 x+\\r\\n', timeout: 30s}
              - close:
            """,
            variables: ["PORT": "\(peer.port)"]
        )
        #expect(outcome.status == 0, "\(outcome.output.prefix(2000))")
        #expect(outcome.jsonSize < 4 * 1024 * 1024, "the JSON report holds \(outcome.jsonSize) bytes")
        #expect(outcome.junit.utf8.count < 4 * 1024 * 1024)
        #expect(outcome.junitParses)
    }

    @Test("parley itself stays within 64 MiB of resident memory while a 128 MiB flood passes one expect")
    func residentMemory() throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("flood.yaml")
        try """
        server: {protocol: smtp, starttls: false, faults: [flood=134217728]}
        steps:
          - connect:
          - expect: {pattern: '^220 ', timeout: 50s}
        """.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = try ExecutableTests().executable()
        process.arguments = ["run", "--json", folder.appendingPathComponent("run.json").path, file.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        // VmHWM is the peak resident size so far; the last reading before the exit is the peak.
        var peak = 0
        let deadline = Date().addingTimeInterval(55)
        while process.isRunning && Date() < deadline {
            if let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
            {
                peak = max(peak, kib * 1024)
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(peak > 0)
        // Under ci/sanitize the executable carries ASan/TSan shadow memory and quarantine, which
        // say nothing about Parley's own buffers: the bound holds for the real build.
        let sanitized = ProcessInfo.processInfo.environment["PARLEY_SANITIZER"] != nil
        #expect(sanitized || peak < 64 * 1024 * 1024, "peak resident memory \(peak / 1024 / 1024) MiB")
    }
}

// MARK: - A raw loopback peer

/// A one-connection TCP server on 127.0.0.1 and a free port, scripted with blocking socket calls
/// on a thread of its own. Every call on the connection has a deadline, so a script cannot hang.
final class RawPeer: @unchecked Sendable {
    /// One accepted connection.
    struct Connection {
        let fd: Int32

        /// Writes all of `bytes` (gives up when the peer stops reading for 10 s).
        func write(_ bytes: [UInt8]) {
            var offset = 0
            while offset < bytes.count {
                guard wait(for: Int16(POLLOUT)) else { return }
                let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if written <= 0 { return }
                offset += written
            }
        }

        /// Reads until `needle` has arrived, the peer closes, or 10 s pass.
        func read(until needle: [UInt8]) -> [UInt8] {
            var received: [UInt8] = []
            while received.firstRange(of: needle) == nil {
                let chunk = read(atLeast: 1)
                if chunk.isEmpty { break }
                received += chunk
            }
            return received
        }

        /// Reads what is there once something arrived (empty at EOF or after 10 s).
        func read(atLeast count: Int) -> [UInt8] {
            guard wait(for: Int16(POLLIN)) else { return [] }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
            return n > 0 ? Array(buffer[..<n]) : []
        }

        /// Waits until the client closes (or 30 s pass), discarding what it sends.
        func waitForClose() {
            for _ in 0..<3 {
                while !read(atLeast: 1).isEmpty {}
            }
        }

        /// Ends the connection with a TCP reset.
        func reset() {
            var option = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        }

        private func wait(for events: Int16) -> Bool {
            var entry = pollfd(fd: fd, events: events, revents: 0)
            return poll(&entry, 1, 10_000) > 0
        }
    }

    private let listener: Int32
    let port: Int
    private let thread: Thread

    /// Listens and serves one connection with `script` on a thread; the connection is closed
    /// when the script returns.
    init(_ script: @escaping @Sendable (Connection) -> Void) throws {
        let (fd, chosen) = try LoopbackSocket.bind(listen: 4)
        listener = fd
        port = chosen
        thread = Thread {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 30_000) > 0 else { return }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            script(Connection(fd: client))
            close(client)
        }
        thread.start()
    }

    /// Stops listening (the script's connection ends when the script returns).
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}
