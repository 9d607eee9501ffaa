// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailFixtures
import Testing

/// Output of a subprocess, collected from its pipe's reader thread.
private final class OutputBuffer: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()

    func append(_ chunk: Data) {
        lock.withLock { data.append(chunk) }
    }

    var bytes: [UInt8] {
        lock.withLock { Array(data) }
    }

    func contains(_ needle: [UInt8]) -> Bool {
        bytes.contains(needle)
    }
}

/// Polls `condition` every 50 ms until it holds or `seconds` pass.
///
/// - Returns: whether the condition held in time.
private func waitUntil(seconds: Double, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}

@Suite("FakeSMTPServer against openssl s_client")
struct OpenSSLInteropTests {
    static let openssl = "/usr/bin/openssl"

    @Test(
        "openssl s_client -starttls smtp verifies the fake server's certificate",
        .enabled(if: FileManager.default.isExecutableFile(atPath: openssl), "needs /usr/bin/openssl")
    )
    func startTLSWithOpenSSL() async throws {
        let configuration = FakeSMTPServer.Configuration(tls: try FixtureCertificates.serverContext())
        try await withFakeSMTPServer(configuration) { server in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.openssl)
            process.arguments = [
                "s_client", "-starttls", "smtp",
                "-connect", "127.0.0.1:\(server.port)",
                "-CAfile", FixtureCertificates.path("ca.pem"),
                "-verify_return_error",
                "-verify_hostname", "localhost",
                "-servername", "localhost",
                // Without this, a line starting with "Q" makes s_client quit instead of sending it.
                "-nocommands",
            ]
            let input = Pipe()
            let output = Pipe()
            let errors = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = errors
            let stdout = OutputBuffer()
            let stderr = OutputBuffer()
            output.fileHandleForReading.readabilityHandler = { stdout.append($0.availableData) }
            errors.fileHandleForReading.readabilityHandler = { stderr.append($0.availableData) }
            try process.run()
            defer {
                if process.isRunning { process.terminate() }
                output.fileHandleForReading.readabilityHandler = nil
                errors.fileHandleForReading.readabilityHandler = nil
            }

            // Keep stdin open until the handshake summary is out: s_client quits on EOF, possibly
            // before it prints the verification result.
            let verified = try await waitUntil(seconds: 20) {
                stdout.contains(Array("Verify return code: 0 (ok)".utf8)) || !process.isRunning
            }
            #expect(verified)
            try input.fileHandleForWriting.write(contentsOf: Data("QUIT\r\n".utf8))
            // Likewise, EOF on stdin would end s_client before the 221 arrives.
            _ = try await waitUntil(seconds: 10) {
                stdout.contains(Array("221 2.0.0 Bye".utf8)) || !process.isRunning
            }
            try input.fileHandleForWriting.close()
            let exited = try await waitUntil(seconds: 10) { !process.isRunning }
            if !exited {
                process.terminate()
            }
            #expect(exited, "openssl s_client did not exit in time")

            let transcript = String(decoding: stdout.bytes, as: UTF8.self)
            let diagnostics = String(decoding: stderr.bytes, as: UTF8.self)
            #expect(
                stdout.contains(Array("Verify return code: 0 (ok)".utf8)),
                "stdout:\n\(transcript)\nstderr:\n\(diagnostics)"
            )
            #expect(stdout.contains(Array("221 2.0.0 Bye".utf8)), "stdout:\n\(transcript)")
        }
    }
}
