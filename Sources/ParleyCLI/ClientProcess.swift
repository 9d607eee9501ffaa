// SPDX-License-Identifier: Apache-2.0
import Foundation

/// A client under test, started as a child process (`parley test-client -- COMMAND ARGS`): its
/// standard output and error kept together (the last ``keptLimit`` bytes), its exit awaited
/// with a deadline, killed when it overruns.
final class ClientProcess: @unchecked Sendable {
    /// How many bytes of the client's output are kept (the end of it).
    static let keptLimit = 16 * 1024

    private let process = Process()
    private let pipe = Pipe()
    private let lock = NSLock()
    private var kept: [UInt8] = []
    private var status: Int32?
    private var signalled = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var drained = false

    /// Starts `arguments[0]` (found on PATH when it has no '/') with the rest as its arguments,
    /// its standard input empty.
    ///
    /// - Throws: `CLIError` naming the command when it cannot be started.
    init(_ arguments: [String], environment: [String: String]? = nil) throws {
        guard let command = arguments.first else { throw CLIError("no client command after '--'") }
        guard let executable = Self.find(command, path: (environment ?? ProcessInfo.processInfo.environment)["PATH"]) else {
            throw CLIError("client command '\(command)' not found (on PATH or as a path)")
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            guard !data.isEmpty else {
                // End of file: every writer (the client and whatever it started) is gone.
                handle.readabilityHandler = nil
                self.lock.withLock { self.drained = true }
                return
            }
            self.lock.withLock {
                self.kept += data
                if self.kept.count > Self.keptLimit { self.kept.removeFirst(self.kept.count - Self.keptLimit) }
            }
        }
        process.terminationHandler = { [weak self] ended in
            guard let self else { return }
            let waiters = self.lock.withLock { () -> [CheckedContinuation<Void, Never>] in
                self.status = ended.terminationStatus
                self.signalled = ended.terminationReason == .uncaughtSignal
                defer { self.waiters = [] }
                return self.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
        do {
            try process.run()
        } catch {
            throw CLIError("cannot start the client '\(command)': \(error.localizedDescription)")
        }
    }

    /// The executable for `command`: itself when it holds a '/', else the first match on `path`.
    static func find(_ command: String, path: String?) -> String? {
        if command.contains("/") { return FileManager.default.isExecutableFile(atPath: command) ? command : nil }
        for folder in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(folder)/\(command)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// How the client ended, once it has: `(status, by a signal)`.
    var ended: (status: Int32, signalled: Bool)? {
        lock.withLock { status.map { ($0, signalled) } }
    }

    /// The last bytes the client wrote (standard output and error together).
    var output: String {
        lock.withLock { String(decoding: kept, as: UTF8.self) }
    }

    /// Waits until the client exits or `timeout` passes; returns whether it exited.
    func waitForExit(timeout: Duration) async -> Bool {
        let deadline = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.wakeAll()
        }
        defer { deadline.cancel() }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = lock.withLock { () -> Bool in
                if status != nil { return true }
                waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        guard ended != nil else { return false }
        // The last of its output may still be on its way through the pipe: up to half a second.
        for _ in 0..<50 where !lock.withLock({ drained }) {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    private func wakeAll() {
        let waiters = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            defer { self.waiters = [] }
            return self.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// SIGKILL now, without waiting (a signal handler's way). Not SIGTERM: a client started
    /// after `parley` set SIGINT and SIGTERM to be ignored (to catch them itself) inherits that,
    /// and would ignore it.
    func terminateNow() {
        guard ended == nil else { return }
        let pid = process.processIdentifier
        if getpgid(pid) == pid { Foundation.kill(-pid, SIGKILL) }
        Foundation.kill(pid, SIGKILL)
    }

    /// Ends the client: SIGTERM, then SIGKILL after a second (to its process group too when it
    /// leads one, so a wrapper script's children go with it); waits for it.
    func kill() async {
        guard ended == nil else { return }
        let pid = process.processIdentifier
        let group = getpgid(pid) == pid
        process.terminate()
        if group { Foundation.kill(-pid, SIGTERM) }
        if await waitForExit(timeout: .seconds(1)) { return }
        Foundation.kill(pid, SIGKILL)
        if group { Foundation.kill(-pid, SIGKILL) }
        _ = await waitForExit(timeout: .seconds(5))
    }
}
