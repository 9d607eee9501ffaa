// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServers
import Testing

/// A program that no one here wrote, run with a deadline: output is collected as bytes, stdin can
/// be written in steps, and the process is killed when a wait runs out.
final class ExternalProcess: Sendable {
    /// Holds the output shared with the pipes' reader threads.
    private final class OutputBox: Sendable {
        let output = Locked(Output())
    }

    /// Collected output.
    private struct Output {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
    }

    private let process: Process
    private let input: Pipe
    private let box = OutputBox()
    let command: String

    /// Starts `arguments[0]` found on PATH (through /usr/bin/env) with the remaining arguments.
    init(_ arguments: [String], environment: [String: String]? = nil) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        command = arguments.prefix(2).joined(separator: " ")
        input = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = input
        process.standardOutput = stdout
        process.standardError = stderr
        let box = self.box
        stdout.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            box.output.withLock { $0.stdout += data }
        }
        stderr.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            box.output.withLock { $0.stderr += data }
        }
        try process.run()
    }

    /// Whether a program is on PATH.
    static func isAvailable(_ name: String) -> Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    }

    var stdout: [UInt8] { box.output.withLock { $0.stdout } }
    var stderr: [UInt8] { box.output.withLock { $0.stderr } }
    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    /// Everything it printed, for failure messages.
    var transcript: String {
        "\(command)\n--- stdout:\n\(String(decoding: stdout, as: UTF8.self))\n--- stderr:\n\(String(decoding: stderr, as: UTF8.self))"
    }

    /// Writes to its stdin.
    func write(_ text: String) throws {
        try input.fileHandleForWriting.write(contentsOf: Data(text.utf8))
    }

    /// Closes its stdin.
    func closeInput() {
        try? input.fileHandleForWriting.close()
    }

    /// Waits until stdout (or stderr) contains `needle` or the process exits.
    ///
    /// - Returns: whether the needle appeared.
    func waitForOutput(_ needle: String, seconds: Double = 20, includingStderr: Bool = false) async throws -> Bool {
        let bytes = Array(needle.utf8)
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        func found() -> Bool {
            box.output.withLock {
                $0.stdout.firstRange(of: bytes) != nil || (includingStderr && $0.stderr.firstRange(of: bytes) != nil)
            }
        }
        while ContinuousClock.now < deadline {
            if found() { return true }
            if !process.isRunning {
                // Let the reader threads drain the pipes.
                try await Task.sleep(for: .milliseconds(100))
                return found()
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return found()
    }

    /// Waits for the process to exit; kills it when the deadline passes.
    ///
    /// - Returns: its exit status, or nil when it had to be killed.
    func waitForExit(seconds: Double = 30) async throws -> Int32? {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while process.isRunning && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        guard !process.isRunning else {
            kill()
            return nil
        }
        // Let the reader threads drain the pipes.
        try await Task.sleep(for: .milliseconds(100))
        return process.terminationStatus
    }

    /// Sends a signal to the process.
    func signal(_ number: Int32) {
        if process.isRunning { Foundation.kill(process.processIdentifier, number) }
    }

    /// Kills the process (SIGKILL) if it still runs.
    func kill() {
        signal(SIGKILL)
    }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}
