// SPDX-License-Identifier: Apache-2.0
internal import Foundation
internal import NIOConcurrencyHelpers
internal import NIOCore
internal import NIOPosix

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// A child process started with its standard input and output on pipes: a shell command
/// (standard error joins standard output, as Emacs's pipes do), or the external TLS helper
/// (standard error on a pipe of its own, where `gnutls-cli` reports the handshake).
final class ChildProcess: @unchecked Sendable {
    /// The argv it was started with (`shell -c COMMAND`), Emacs's `process-command`.
    let arguments: [String]
    /// The shell command's process (Foundation reaps it), or nil for a spawned helper.
    private let process: Foundation.Process?
    /// The spawned helper's id.
    private let spawned: Int32
    /// Set once the helper has been reaped.
    private let reaped = NIOLockedValueBox(false)
    /// Our end of the child's standard output (we read it).
    let readDescriptor: Int32
    /// Our end of the child's standard input (we write it).
    let writeDescriptor: Int32
    /// Our end of the child's standard error, when it has a pipe of its own.
    let errorDescriptor: Int32?
    /// The master side of a pseudo-terminal whose slave the child may open by name
    /// (``logTerminalPath``): a stream it writes to with stdio is then line-buffered.
    let logDescriptor: Int32?
    /// The slave's path.
    let logTerminalPath: String?
    /// Our descriptor of the slave, held so the master never reads EIO; closed by ``closeLog()``.
    private var logSlave: Int32 = -1
    /// How the child is ended by ``terminate()``: SIGTERM for shell commands, SIGKILL for the
    /// external helper (Emacs's `delete-process` kills).
    private let endSignal: Int32

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
        errorDescriptor = nil
        logDescriptor = nil
        logTerminalPath = nil
        try? output.fileHandleForReading.close()
        try? output.fileHandleForWriting.close()
        try? input.fileHandleForReading.close()
        try? input.fileHandleForWriting.close()
        self.process = process
        self.spawned = process.processIdentifier
        self.arguments = [shell, "-c", command]
        self.endSignal = SIGTERM
    }

    /// Starts `executable` with `arguments`, its standard error on a pipe of its own
    /// (``errorDescriptor``), with posix_spawn: every signal unblocked and at its default in
    /// the child. (Foundation's Process passes on the spawning thread's blocked signals, and the
    /// external helper must receive SIGALRM.) A thread waits for the child, so it is reaped as
    /// soon as it ends.
    ///
    /// - Parameters:
    ///   - executable: the program's path.
    ///   - arguments: its arguments (without argv[0]).
    /// - Throws: `POSIXError` when the pipes cannot be made or the program cannot be started.
    init(executable: String, arguments: (_ logTerminal: String) -> [String]) throws {
        // The log terminal: raw mode, so bytes pass unchanged.
        // posix_openpt, unlockpt and ptsname are not exported by Glibc's module; their Linux
        // form: open /dev/ptmx, TIOCSPTLCK 0, TIOCGPTN (grantpt does nothing with devpts).
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard master >= 0, ioctl(master, UInt(0x4004_5431), &unlock) == 0, ioctl(master, UInt(0x8004_5430), &number) == 0 else {
            let code = errno
            if master >= 0 { close(master) }
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
        let terminal = "/dev/pts/\(number)"
        let slave = open(terminal, O_RDWR | O_NOCTTY)
        guard slave >= 0 else {
            let code = errno
            close(master)
            throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
        }
        var settings = termios()
        if tcgetattr(slave, &settings) == 0 {
            cfmakeraw(&settings)
            tcsetattr(slave, TCSANOW, &settings)
        }
        for fd in [master, slave] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let arguments = arguments(terminal)
        var input: [Int32] = [-1, -1]
        var output: [Int32] = [-1, -1]
        var error: [Int32] = [-1, -1]
        var made: [Int32] = [master, slave]
        func closeAll() { for fd in made { close(fd) } }
        for index in 0..<3 {
            var fds: [Int32] = [-1, -1]
            // pipe2 is not exported by Glibc's module: pipe, then close-on-exec.
            guard pipe(&fds) == 0 else {
                let code = errno
                closeAll()
                throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
            }
            made += fds
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            switch index {
            case 0: input = fds
            case 1: output = fds
            default: error = fds
            }
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, error[1], 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) }
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv + [nil], environ)
        // The child's ends belong to the child now.
        close(input[0])
        close(output[1])
        close(error[1])
        guard rc == 0 else {
            close(input[1])
            close(output[0])
            close(error[0])
            close(master)
            close(slave)
            throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO)
        }
        readDescriptor = output[0]
        writeDescriptor = input[1]
        errorDescriptor = error[0]
        logDescriptor = master
        logTerminalPath = terminal
        logSlave = slave
        self.process = nil
        self.spawned = pid
        self.arguments = [executable] + arguments
        self.endSignal = SIGKILL
        let reaped = self.reaped
        let child = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            reaped.withLockedValue { $0 = true }
        }
    }

    /// The child's process id.
    var processIdentifier: Int32 { process?.processIdentifier ?? spawned }

    /// Whether the child still runs (it has not been reaped).
    var isRunning: Bool { process?.isRunning ?? !reaped.withLockedValue { $0 } }

    /// Sends `signal` to the child if it still runs.
    ///
    /// - Returns: whether the signal was sent.
    @discardableResult
    func send(signal: Int32) -> Bool {
        guard isRunning else { return false }
        return kill(processIdentifier, signal) == 0
    }

    /// Closes our descriptor of the log terminal's slave (once the child is done with it).
    func closeLog() {
        if logSlave >= 0 {
            close(logSlave)
            logSlave = -1
        }
    }

    /// Ends the child if it still runs (it is reaped by Foundation or by the waiting thread).
    func terminate() {
        send(signal: endSignal)
    }
}

extension ChildProcess {
    /// A channel on `eventLoop` that owns one of our ends of the child's pipes: it reads
    /// `reading`, and writes `writing` when given.
    ///
    /// - Parameter configure: adds the channel's handlers, on its event loop.
    func channel(
        on eventLoop: any EventLoop,
        reading: Int32,
        writing: Int32? = nil,
        configure: @escaping @Sendable (ChannelPipeline.SynchronousOperations) throws -> Void
    ) async throws -> any Channel {
        let bootstrap = NIOPipeBootstrap(group: eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try configure(channel.pipeline.syncOperations) }
            }
        if let writing {
            return try await bootstrap.takingOwnershipOfDescriptors(input: reading, output: writing).get()
        }
        return try await bootstrap.takingOwnershipOfDescriptor(input: reading).get()
    }
}
