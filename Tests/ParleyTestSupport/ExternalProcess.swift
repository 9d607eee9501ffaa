// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServers

/// A program run from a test with a deadline: output is collected as bytes while it runs (so a
/// full pipe never stalls it), stdin can be written in steps, and the process is killed when a
/// wait runs out.
///
/// For a program that only has to run to its end, ``run(_:environment:mergingStandardError:seconds:)``
/// or ``run(executable:arguments:environment:mergingStandardError:seconds:)`` do it in one call.
public final class ExternalProcess: Sendable {
    /// Holds the output shared with the pipes' reader threads.
    private final class OutputBox: Sendable {
        let output = Locked(Output())
    }

    /// Collected output, and how many of the output pipes have not reached end of file yet.
    private struct Output {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var openPipes = 0
    }

    /// How long, after the process exited, its output may take to reach end of file (a child
    /// that it left running may hold the pipes open; what arrived by then is kept).
    private static let drainLimit: Duration = .seconds(5)

    private let process: Process
    private let input: Pipe
    private let box = OutputBox()
    /// The program and its first argument, for messages.
    public let command: String

    /// Starts `arguments[0]`, found on PATH (through /usr/bin/env), with the remaining arguments.
    ///
    /// - Parameters:
    ///   - arguments: the program's name (or path) and its arguments.
    ///   - environment: variables added to (or replacing ones in) the test's environment.
    ///   - mergingStandardError: whether stderr goes into the same pipe as stdout (``stdout``
    ///     then holds both, interleaved as written; ``stderr`` stays empty).
    /// - Throws: when the process cannot be started.
    public convenience init(
        _ arguments: [String],
        environment: [String: String]? = nil,
        mergingStandardError: Bool = false
    ) throws {
        try self.init(
            executableURL: URL(fileURLWithPath: "/usr/bin/env"),
            arguments: arguments,
            environment: environment,
            mergingStandardError: mergingStandardError,
            command: arguments.prefix(2).joined(separator: " ")
        )
    }

    /// Starts the program at `executable` with `arguments`.
    ///
    /// - Parameters:
    ///   - executable: the program's absolute path.
    ///   - arguments: its arguments.
    ///   - environment: variables added to (or replacing ones in) the test's environment.
    ///   - mergingStandardError: whether stderr goes into the same pipe as stdout.
    /// - Throws: when the process cannot be started.
    public convenience init(
        executable: String,
        arguments: [String],
        environment: [String: String]? = nil,
        mergingStandardError: Bool = false
    ) throws {
        try self.init(
            executableURL: URL(fileURLWithPath: executable),
            arguments: arguments,
            environment: environment,
            mergingStandardError: mergingStandardError,
            command: ([executable] + arguments).prefix(2).joined(separator: " ")
        )
    }

    private init(
        executableURL: URL,
        arguments: [String],
        environment: [String: String]?,
        mergingStandardError: Bool,
        command: String
    ) throws {
        process = Process()
        process.executableURL = executableURL
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        self.command = command
        input = Pipe()
        process.standardInput = input
        let box = self.box
        /// Appends what a pipe delivers; at end of file stops reading it.
        func collect(_ pipe: Pipe, isStdout: Bool) {
            box.output.withLock { $0.openPipes += 1 }
            pipe.fileHandleForReading.readabilityHandler = { handle in
                let data = handle.availableData
                box.output.withLock {
                    if data.isEmpty {
                        $0.openPipes -= 1
                    } else if isStdout {
                        $0.stdout += data
                    } else {
                        $0.stderr += data
                    }
                }
                if data.isEmpty { handle.readabilityHandler = nil }
            }
        }
        let stdout = Pipe()
        process.standardOutput = stdout
        collect(stdout, isStdout: true)
        if mergingStandardError {
            process.standardError = stdout
        } else {
            let stderr = Pipe()
            process.standardError = stderr
            collect(stderr, isStdout: false)
        }
        try process.run()
    }

    /// Whether a program is on PATH.
    ///
    /// - Parameter name: the program's name, such as "openssl".
    /// - Returns: whether an executable file of that name is in a PATH folder.
    public static func isAvailable(_ name: String) -> Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
    }

    /// What it wrote to stdout so far (with `mergingStandardError`, stderr too).
    public var stdout: [UInt8] { box.output.withLock { $0.stdout } }
    /// What it wrote to stderr so far.
    public var stderr: [UInt8] { box.output.withLock { $0.stderr } }
    /// Whether it still runs.
    public var isRunning: Bool { process.isRunning }
    /// Its process id.
    public var pid: Int32 { process.processIdentifier }

    /// Everything it printed, for failure messages.
    public var transcript: String {
        "\(command)\n--- stdout:\n\(String(decoding: stdout, as: UTF8.self))\n--- stderr:\n\(String(decoding: stderr, as: UTF8.self))"
    }

    /// Writes to its stdin.
    ///
    /// - Parameter text: the text, sent as UTF-8.
    /// - Throws: when the pipe is closed.
    public func write(_ text: String) throws {
        try input.fileHandleForWriting.write(contentsOf: Data(text.utf8))
    }

    /// Closes its stdin.
    public func closeInput() {
        try? input.fileHandleForWriting.close()
    }

    /// Waits until stdout (or stderr) contains `needle` or the process exits.
    ///
    /// - Parameters:
    ///   - needle: the text to wait for.
    ///   - seconds: the longest wait.
    ///   - includingStderr: whether stderr counts too.
    /// - Returns: whether the needle appeared.
    public func waitForOutput(_ needle: String, seconds: Double = 20, includingStderr: Bool = false) async throws -> Bool {
        let bytes = Array(needle.utf8)
        func found() -> Bool {
            box.output.withLock {
                $0.stdout.firstRange(of: bytes) != nil || (includingStderr && $0.stderr.firstRange(of: bytes) != nil)
            }
        }
        let process = self.process
        _ = await eventually(.milliseconds(Int(seconds * 1000))) { found() || !process.isRunning }
        try Task.checkCancellation()
        if !found() && !process.isRunning {
            // It exited: what it printed last may still be in the pipes.
            _ = await eventually(Self.drainLimit) { self.drained || found() }
        }
        return found()
    }

    /// Waits for the process to exit; kills it when the deadline passes.
    ///
    /// - Parameter seconds: the longest wait.
    /// - Returns: its exit status, or nil when it had to be killed.
    public func waitForExit(seconds: Double = 30) async throws -> Int32? {
        let process = self.process
        _ = await eventually(.milliseconds(Int(seconds * 1000))) { !process.isRunning }
        try Task.checkCancellation()
        guard !process.isRunning else {
            kill()
            return nil
        }
        _ = await eventually(Self.drainLimit) { self.drained }
        return process.terminationStatus
    }

    /// What a program run to its end left behind.
    public struct Finished: Sendable {
        /// Its exit status, or nil when it overran its deadline and was killed.
        public var status: Int32?
        /// Its stdout (with `mergingStandardError`, stderr too).
        public var stdout: [UInt8]
        /// Its stderr (empty with `mergingStandardError`).
        public var stderr: [UInt8]
        /// Its stdout as text.
        public var output: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// Runs a program found on PATH to its end, with stdin at end of file; kills it when
    /// `seconds` pass. The calling thread waits.
    ///
    /// - Parameters:
    ///   - arguments: the program's name (or path) and its arguments.
    ///   - environment: variables added to (or replacing ones in) the test's environment.
    ///   - mergingStandardError: whether stderr goes into stdout (the default), interleaved.
    ///   - seconds: the deadline.
    /// - Returns: its status (nil when killed) and output.
    /// - Throws: when the process cannot be started.
    public static func run(
        _ arguments: [String],
        environment: [String: String]? = nil,
        mergingStandardError: Bool = true,
        seconds: Double = 60
    ) throws -> Finished {
        try ExternalProcess(arguments, environment: environment, mergingStandardError: mergingStandardError)
            .finish(seconds: seconds)
    }

    /// Runs the program at `executable` to its end, like ``run(_:environment:mergingStandardError:seconds:)``.
    ///
    /// - Parameters:
    ///   - executable: the program's absolute path.
    ///   - arguments: its arguments.
    ///   - environment: variables added to (or replacing ones in) the test's environment.
    ///   - mergingStandardError: whether stderr goes into stdout (the default), interleaved.
    ///   - seconds: the deadline.
    /// - Returns: its status (nil when killed) and output.
    /// - Throws: when the process cannot be started.
    public static func run(
        executable: String,
        arguments: [String],
        environment: [String: String]? = nil,
        mergingStandardError: Bool = true,
        seconds: Double = 60
    ) throws -> Finished {
        try ExternalProcess(
            executable: executable,
            arguments: arguments,
            environment: environment,
            mergingStandardError: mergingStandardError
        ).finish(seconds: seconds)
    }

    /// Closes stdin and waits, blocking the calling thread, for the exit and the end of the output.
    private func finish(seconds: Double) -> Finished {
        closeInput()
        let process = self.process
        Self.block(until: .milliseconds(Int(seconds * 1000))) { !process.isRunning }
        guard !process.isRunning else {
            kill()
            return Finished(status: nil, stdout: stdout, stderr: stderr)
        }
        Self.block(until: Self.drainLimit) { self.drained }
        return Finished(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    /// Whether every output pipe has reached end of file.
    private var drained: Bool { box.output.withLock { $0.openPipes == 0 } }

    /// Polls `condition` every 10 ms on the calling thread until it holds or `limit` passed.
    private static func block(until limit: Duration, _ condition: () -> Bool) {
        let end = ContinuousClock.now.advanced(by: limit)
        while !condition(), ContinuousClock.now < end {
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// Sends a signal to the process if it still runs.
    ///
    /// - Parameter number: the signal, such as `SIGTERM`.
    public func signal(_ number: Int32) {
        if process.isRunning { Foundation.kill(process.processIdentifier, number) }
    }

    /// Kills the process (SIGKILL) if it still runs.
    public func kill() {
        signal(SIGKILL)
    }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }
}

/// The built `parley` executable next to the test bundle, if it was built.
///
/// - Returns: its absolute path, or nil.
public func parleyExecutable() -> String? {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    return [bundle, bundle.deletingLastPathComponent()]
        .map { $0.appendingPathComponent("parley").path }
        .first { FileManager.default.isExecutableFile(atPath: $0) }
}
