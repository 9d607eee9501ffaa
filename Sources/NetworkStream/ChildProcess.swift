// SPDX-License-Identifier: Apache-2.0
internal import Foundation

/// A shell command's child process, started with its standard input and output on pipes
/// (standard error joins standard output, as Emacs's pipes do).
final class ChildProcess: @unchecked Sendable {
    /// The argv it was started with (`shell -c COMMAND`), Emacs's `process-command`.
    let arguments: [String]
    private let process: Foundation.Process
    /// Our end of the child's standard output (we read it).
    let readDescriptor: Int32
    /// Our end of the child's standard input (we write it).
    let writeDescriptor: Int32

    /// Starts `shell -c command`.
    ///
    /// - Parameters:
    ///   - shell: the shell (Emacs's `shell-file-name`).
    ///   - command: the command line.
    /// - Throws: when the shell cannot be started.
    init(shell: String, command: String) throws {
        let process = Foundation.Process()
        process.executableURL = URL(fileURLWithPath: shell)
        process.arguments = ["-c", command]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // Our own copies, owned by the NIO pipe channel; Foundation's handles are closed here.
        readDescriptor = dup(output.fileHandleForReading.fileDescriptor)
        writeDescriptor = dup(input.fileHandleForWriting.fileDescriptor)
        try? output.fileHandleForReading.close()
        try? output.fileHandleForWriting.close()
        try? input.fileHandleForReading.close()
        try? input.fileHandleForWriting.close()
        self.process = process
        self.arguments = [shell, "-c", command]
    }

    /// Terminates the child if it still runs.
    func terminate() {
        if process.isRunning { process.terminate() }
    }
}
