// SPDX-License-Identifier: Apache-2.0
internal import Foundation
internal import GnuTLSNIO
internal import NIOCore
internal import NIOPosix
internal import Patterns

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// The external TLS provider: `gnutls-cli` as a child process whose standard input and output
/// are the connection (spec §8.6, Emacs's starttls.el).
///
/// With `--starttls` the helper connects and passes bytes through in clear; SIGALRM makes it
/// start the handshake. It writes to three places, and the provider reads all three:
/// * standard output: only the peer's bytes (clear, then decrypted);
/// * its log (`--logfile`), a pseudo-terminal so that its stdio output is line-buffered: the
///   preamble up to `- Simple Client Mode:`, and after the handshake its report (certificate,
///   `- Status:`, `- Description:`, …, ending with the `- Options:` line);
/// * standard error: `*** Starting TLS handshake`, and the reasons of a failure
///   (`*** Fatal error: …`, `*** Handshake has failed`, `Could not connect …`).
///
/// Plaintext after the go-ahead (the response-injection defence): from the moment the go-ahead
/// matched, standard output is no longer read. When the log says the handshake is done, every
/// byte in the output pipe was written before that, so all of it is discarded and counted; only
/// later bytes are passed on. (A server that spoke first under TLS would lose those bytes too;
/// plaintext is never passed on.)
enum ExternalTLS {
    /// What the helper writes to standard error when it starts the handshake.
    static let handshakeStartedLine = "*** Starting TLS handshake"

    /// Finds `program` as a shell would: a name containing `/` is used as is; otherwise each
    /// directory of `PATH` is tried.
    ///
    /// - Returns: the executable's path, or nil.
    static func locate(_ program: String, path: String? = ProcessInfo.processInfo.environment["PATH"]) -> String? {
        if program.contains("/") {
            return access(program, X_OK) == 0 ? program : nil
        }
        let directories = (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":", omittingEmptySubsequences: false)
        for directory in directories {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + program
            var status = stat()
            if stat(candidate, &status) == 0, status.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    /// The helper's arguments for these settings.
    ///
    /// - Parameters:
    ///   - host: the host to connect to.
    ///   - service: the port or service name.
    ///   - starttls: `--starttls` (clear text until SIGALRM) instead of TLS at once.
    ///   - settings: trust roots, verification, priority, server name, ALPN, DH prime bits.
    ///   - clientCertificate: the key and certificate files, if any.
    ///   - chainFile: where the helper saves the peer's chain (`--save-cert`).
    static func arguments(
        host: String,
        service: String,
        starttls: Bool,
        settings: StreamParameters.TLSSettings,
        clientCertificate: (key: String, certificate: String)?,
        chainFile: String?
    ) -> [String] {
        var arguments: [String] = []
        if starttls { arguments.append("--starttls") }
        arguments.append("--port=\(service)")
        if case .file(let path) = settings.trustRoots {
            arguments.append("--x509cafile=\(path)")
        }
        if !settings.verify {
            arguments.append("--insecure")
        }
        let name = settings.serverName ?? host
        arguments.append("--verify-hostname=\(name)")
        if let serverName = settings.serverName {
            arguments.append("--sni-hostname=\(serverName)")
        }
        arguments.append("--priority=\(settings.priority)")
        for protocolName in settings.alpn {
            arguments.append("--alpn=\(protocolName)")
        }
        if let clientCertificate {
            arguments.append("--x509keyfile=\(clientCertificate.key)")
            arguments.append("--x509certfile=\(clientCertificate.certificate)")
        }
        if let bits = settings.minimumDHPrimeBits {
            arguments.append("--dh-bits=\(bits)")
        }
        if let chainFile {
            arguments.append("--save-cert=\(chainFile)")
        }
        arguments.append(host)
        return arguments
    }

    /// The facts of the helper's report lines (`- Status:`, `- Description:`,
    /// `- Application protocol:`), with the peer chain read from `chainFile`.
    static func sessionInfo(report lines: [String], serverName: String, chainFile: String?) -> TLSSessionInfo {
        var description = ""
        var alpn: String?
        var verified = false
        var problems: [String] = []
        for line in lines {
            if let value = value(of: "- Description:", in: line) {
                description = value
            } else if let value = value(of: "- Application protocol:", in: line) {
                alpn = value
            } else if let value = value(of: "- Status:", in: line) {
                (verified, problems) = verification(status: value)
            }
        }
        // "(TLS1.3-X.509)-(ECDHE-SECP256R1)-(ECDSA-SECP256R1-SHA256)-(AES-256-GCM)"
        let groups = description.split(separator: ")").map { $0.drop(while: { $0 == "-" || $0 == "(" }) }
        let version = groups.first.map { String($0.split(separator: "-").first ?? $0) } ?? "unknown"
        var group: String?
        if groups.count > 1 {
            let exchange = groups[1].split(separator: "-")
            if exchange.count > 1, exchange[0].hasSuffix("DHE") { group = exchange.dropFirst().joined(separator: "-") }
        }
        var chain: [CertificateInfo] = []
        if let chainFile, FileManager.default.fileExists(atPath: chainFile) {
            chain = (try? CertificateInfo.load(pemFile: chainFile)) ?? []
        }
        if problems.contains("signer not found"), let leaf = chain.first, leaf.subject == leaf.issuer {
            problems.append("self-signed")
        }
        return TLSSessionInfo(
            protocolVersion: version,
            cipherSuite: description.isEmpty ? "unknown" : description,
            keyExchangeGroup: group,
            alpn: alpn,
            serverName: serverName,
            peerCertificates: chain,
            verified: verified,
            verificationProblems: problems
        )
    }

    /// The text after `prefix` in `line`, trimmed; nil when the line does not start with it.
    static func value(of prefix: String, in line: String) -> String? {
        guard line.hasPrefix(prefix) else { return nil }
        return line.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces)
    }

    /// Reads GnuTLS's verification sentence ("The certificate is NOT trusted. The name in the
    /// certificate does not match the expected.") as the built-in provider's short phrases.
    static func verification(status: String) -> (verified: Bool, problems: [String]) {
        if status.hasPrefix("The certificate is trusted") { return (true, []) }
        let phrases: [(String, String)] = [
            ("issuer is unknown", "signer not found"),
            ("does not match the expected", "host name mismatch"),
            ("uses expired certificate", "expired"),
            ("not yet valid", "not activated"),
            ("revoked", "revoked"),
            ("issuer is not a CA", "signer not a CA"),
            ("insecure algorithm", "insecure algorithm"),
            ("signature in the certificate is invalid", "signature failure"),
            ("purpose", "purpose mismatch"),
        ]
        var problems = phrases.filter { status.contains($0.0) }.map(\.1)
        if problems.isEmpty { problems = [status] }
        return (false, problems)
    }
}

/// One run of the helper: its child, its three streams, and the state of the upgrade. All
/// state is confined to `eventLoop`.
final class ExternalTLSHelper: @unchecked Sendable {
    let eventLoop: any EventLoop
    let child: ChildProcess
    let starttls: Bool
    let peer: String
    let serverName: String
    let chainFile: String
    let observer: @Sendable (ProcessEvent) -> Void
    private(set) var framer: ExternalTLSFramer!
    var stdoutChannel: (any Channel)?
    var stderrChannel: (any Channel)?
    var logChannel: (any Channel)?
    private var stdoutOpen = true
    private var stderrOpen = true
    /// What the helper said so far, and what it means.
    private var log = ExternalTLSLog()
    /// Completed when the helper says it is in client mode (connected, and for TLS at once, the
    /// handshake done), or failed when the helper ends first.
    private var ready: EventLoopPromise<TLSSessionInfo?>?
    /// The outcome of ``ready``, kept after it completed.
    private let readyOutcome: EventLoopFuture<TLSSessionInfo?>
    /// The STARTTLS handshake in progress.
    private var handshake: EventLoopPromise<TLSSessionInfo>?
    private var handshakeTimer: Scheduled<Void>?
    /// Plaintext discarded by the framer after the go-ahead.
    var discarded = 0

    init(
        eventLoop: any EventLoop,
        child: ChildProcess,
        starttls: Bool,
        peer: String,
        serverName: String,
        chainFile: String,
        observer: @escaping @Sendable (ProcessEvent) -> Void
    ) {
        self.eventLoop = eventLoop
        self.child = child
        self.starttls = starttls
        self.peer = peer
        self.serverName = serverName
        self.chainFile = chainFile
        self.observer = observer
        let ready = eventLoop.makePromise(of: TLSSessionInfo?.self)
        self.ready = ready
        self.readyOutcome = ready.futureResult
        self.framer = ExternalTLSFramer(helper: self)
    }

    /// Waits until the helper is in client mode, with a deadline.
    func waitUntilReady(timeout: Duration, wait: Wait) async throws(NetworkError) -> TLSSessionInfo? {
        let future = eventLoop.flatSubmit { () -> EventLoopFuture<TLSSessionInfo?> in
            guard let ready = self.ready else { return self.readyOutcome }
            let timer = self.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
                guard let pending = self.ready else { return }
                self.ready = nil
                self.stop()
                pending.fail(
                    NetworkError(
                        .timeout,
                        wait: wait,
                        deadline: timeout,
                        message: "timed out after \(timeout.secondsText) waiting for \(wait) (gnutls-cli to \(self.peer))"
                    )
                )
            }
            ready.futureResult.whenComplete { _ in timer.cancel() }
            return ready.futureResult
        }
        do {
            return try await future.get()
        } catch let error as NetworkError {
            throw error
        } catch {
            throw NetworkError(.connectFailed, message: "gnutls-cli: \(describe(error))")
        }
    }

    /// Kills the child and stops reading its log.
    func stop() {
        child.terminate()
        closeLog()
    }

    private func closeLog() {
        removeChainFile()
        logChannel?.close(promise: nil)
        child.closeLog()
    }

    // MARK: - STARTTLS

    /// Sends the STARTTLS command through the helper, reads the reply and, on a go-ahead, tells
    /// the helper to start TLS and waits for its report.
    ///
    /// - Throws: `NetworkError` (`.starttlsRefused`, `.timeout`, `.tls` with the reasons).
    func startTLS(
        on process: NetworkProcess,
        command: [UInt8],
        reply: BytePattern,
        success: BytePattern,
        replyTimeout: Duration,
        handshakeTimeout: Duration
    ) async throws(NetworkError) -> NetworkProcess.StartTLSResult {
        try await process.send(command)
        let match = try await process.expect(reply, timeout: replyTimeout, wait: .starttlsReply)
        guard success.firstMatch(in: match.matched) != nil else {
            throw NetworkError(.starttlsRefused, wait: .starttlsReply, message: "the server refused STARTTLS", tail: match.matched)
        }
        let handshake = eventLoop.flatSubmit { self.beginHandshake(timeout: handshakeTimeout) }
        // Bytes that reached the receive buffer after the reply; later ones the framer discards.
        let early = await process.discardPending()
        let session: TLSSessionInfo
        do {
            session = try await handshake.get()
        } catch let error as NetworkError {
            throw error
        } catch {
            throw NetworkError(.tls, wait: .handshake, message: describe(error))
        }
        let late = (try? await eventLoop.submit { self.discarded }.get()) ?? 0
        return NetworkProcess.StartTLSResult(reply: match.matched, session: session, discardedBytes: early + late)
    }

    /// On the loop: stop reading standard output, discard what comes, and signal the helper.
    private func beginHandshake(timeout: Duration) -> EventLoopFuture<TLSSessionInfo> {
        eventLoop.preconditionInEventLoop()
        guard let stdoutChannel, stdoutChannel.isActive, child.isRunning else {
            return eventLoop.makeFailedFuture(
                NetworkError(.notOpen, wait: .handshake, message: "cannot start TLS: gnutls-cli is no longer running")
            )
        }
        let promise = eventLoop.makePromise(of: TLSSessionInfo.self)
        handshake = promise
        log.beginHandshake()
        framer.beginDiscarding()
        stdoutChannel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        observer(.handshakeStarted(serverName: serverName))
        handshakeTimer = eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
            guard let pending = handshake else { return }
            handshake = nil
            stop()
            pending.fail(
                NetworkError(
                    .timeout,
                    wait: .handshake,
                    deadline: timeout,
                    message: "timed out after \(timeout.secondsText) waiting for \(Wait.handshake) (gnutls-cli)"
                )
            )
        }
        // gnutls-cli --starttls: "start TLS when EOF or a SIGALRM is received".
        if !child.send(signal: SIGALRM) {
            finishHandshake(.failure(NetworkError(.notOpen, wait: .handshake, message: "cannot signal gnutls-cli")))
        }
        return promise.futureResult
    }

    private func finishHandshake(_ outcome: Result<TLSSessionInfo, NetworkError>) {
        guard let promise = handshake else { return }
        handshake = nil
        handshakeTimer?.cancel()
        switch outcome {
        case .success(let info):
            observer(.tlsEstablished(info))
            promise.succeed(info)
        case .failure(let error):
            stop()
            promise.fail(error)
        }
    }

    // MARK: - Events from the streams (on the loop)

    /// Bytes from the log terminal: the helper's reports, line by line.
    func logReceived(_ bytes: [UInt8]) {
        act(on: log.logReceived(bytes))
    }

    private func act(on signals: [ExternalTLSLog.Signal]) {
        for signal in signals {
            switch signal {
            case .clientMode(let lines):
                guard let ready else { continue }
                self.ready = nil
                if starttls {
                    ready.succeed(nil)
                } else {
                    let info = ExternalTLS.sessionInfo(report: lines, serverName: serverName, chainFile: chainFile)
                    removeChainFile()
                    ready.succeed(info)
                }
            case .handshakeDone(let report):
                guard handshake != nil else { continue }
                // The handshake is done, so every byte now in the output pipe was written before it
                // ended: plaintext after the go-ahead (or, from a server that speaks first under
                // TLS, data that is discarded with it; never plaintext passed on).
                var pending: Int32 = 0
                if let stdoutChannel, stdoutChannel.isActive {
                    _ = ioctl(child.readDescriptor, UInt(FIONREAD), &pending)
                }
                framer.skip(Int(pending))
                stdoutChannel?.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
                stdoutChannel?.read()
                let info = ExternalTLS.sessionInfo(report: report, serverName: serverName, chainFile: chainFile)
                removeChainFile()
                finishHandshake(.success(info))
            }
        }
    }

    func stderrReceived(_ bytes: [UInt8]) {
        log.stderrReceived(bytes)
    }

    func stdoutClosed() {
        stdoutOpen = false
        if !stderrOpen { helperEnded() }
    }

    func stderrClosed() {
        stderrOpen = false
        if !stdoutOpen { helperEnded() }
    }

    /// Whether the helper ended and the rest of its log is awaited.
    private var finishing = false

    /// Standard output and error closed: the helper ended. Its log may still be in transit in
    /// the terminal, so our slave descriptor is closed and the rest is read until the master
    /// reports the hang-up (bounded), then whatever was waiting fails with the reasons.
    private func helperEnded() {
        guard !finishing else { return }
        finishing = true
        guard let logChannel, logChannel.isActive else {
            finish()
            return
        }
        child.closeLog()
        let fallback = eventLoop.scheduleTask(in: .seconds(2)) { [self] in finish() }
        logChannel.closeFuture.whenComplete { [self] _ in
            fallback.cancel()
            finish()
        }
    }

    private var finished = false

    private func finish() {
        guard !finished else { return }
        finished = true
        act(on: log.logEnded())
        let said = log.said
        if let ready {
            self.ready = nil
            if starttls || log.couldNotConnect {
                ready.fail(
                    NetworkError(
                        .connectFailed,
                        wait: .connect,
                        message: "cannot connect to \(peer) through gnutls-cli: \(said.isEmpty ? "it ended" : said)"
                    )
                )
            } else {
                ready.fail(tlsFailure(reasons: said, report: log.lines))
            }
        }
        if handshake != nil {
            finishHandshake(.failure(tlsFailure(reasons: said, report: log.report)))
        }
        closeLog()
    }

    /// A handshake failure, as a verification failure when the helper reported one.
    private func tlsFailure(reasons: String, report: [String]) -> NetworkError {
        let info = ExternalTLS.sessionInfo(report: report, serverName: serverName, chainFile: nil)
        let text = reasons.isEmpty ? "gnutls-cli ended during the handshake" : "gnutls-cli: \(reasons)"
        let rejected = !info.verified && report.contains { $0.hasPrefix("- Status:") }
        let error = GnuTLSError(
            kind: rejected ? .verificationFailed : .handshakeFailed,
            message: text,
            verificationProblems: rejected ? info.verificationProblems : []
        )
        return NetworkError(.tls, wait: .handshake, message: "TLS: \(error)", tlsError: error)
    }

    private func removeChainFile() {
        try? FileManager.default.removeItem(atPath: chainFile)
    }
}

/// Sits before the process's own handler on the helper's standard output (which carries only
/// the peer's bytes): discards plaintext that followed the go-ahead.
final class ExternalTLSFramer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private enum State {
        case passing
        case discarding
        case skipping(Int)
    }

    private let helper: ExternalTLSHelper
    private var state = State.passing

    init(helper: ExternalTLSHelper) {
        self.helper = helper
    }

    /// From now on every byte is plaintext that followed the go-ahead.
    func beginDiscarding() {
        state = .discarding
    }

    /// The next `count` bytes are plaintext too; after them comes the session.
    func skip(_ count: Int) {
        guard case .discarding = state else { return }
        state = count > 0 ? .skipping(count) : .passing
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Array(unwrapInboundIn(data).readableBytesView)
        switch state {
        case .passing:
            context.fireChannelRead(data)
        case .discarding:
            discard(bytes)
        case .skipping(let count):
            let taken = min(count, bytes.count)
            discard(Array(bytes[..<taken]))
            state = count > taken ? .skipping(count - taken) : .passing
            if taken < bytes.count {
                var buffer = context.channel.allocator.buffer(capacity: bytes.count - taken)
                buffer.writeBytes(bytes[taken...])
                context.fireChannelRead(wrapInboundOut(buffer))
            }
        }
    }

    private func discard(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        helper.discarded += bytes.count
        helper.observer(.discarded(bytes))
    }

    func channelInactive(context: ChannelHandlerContext) {
        helper.stdoutClosed()
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension ExternalTLSFramer: Sendable {}

/// Reads the helper's standard error, or its log terminal.
final class ExternalTLSStreamReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let helper: ExternalTLSHelper
    private let isLog: Bool

    init(helper: ExternalTLSHelper, isLog: Bool) {
        self.helper = helper
        self.isLog = isLog
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Array(unwrapInboundIn(data).readableBytesView)
        if isLog { helper.logReceived(bytes) } else { helper.stderrReceived(bytes) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !isLog { helper.stderrClosed() }
    }
}

@available(*, unavailable)
extension ExternalTLSStreamReader: Sendable {}

extension NetworkProcess {
    /// Starts the external TLS helper for `host:service` on pipes: a `real` process in status
    /// `run` (as Emacs's starttls.el process is), with the helper's argv as its command.
    ///
    /// - Parameters:
    ///   - starttls: clear text until told to start TLS, or TLS at once.
    /// - Returns: the process and the helper, once the helper has connected (and, for TLS at
    ///   once, finished the handshake: its report is the third element).
    /// - Throws: `NetworkError` `.connectFailed` (gnutls-cli missing, or it could not connect),
    ///   `.timeout`, `.tls` (TLS at once: the handshake failed).
    static func spawnExternal(
        name: String,
        host: String,
        service: Service,
        starttls: Bool,
        clientCertificate: (key: String, certificate: String)?,
        parameters: StreamParameters,
        table: ProcessTable
    ) async throws(NetworkError) -> (NetworkProcess, ExternalTLSHelper, TLSSessionInfo?) {
        let program = parameters.externalTLSProgram
        guard let executable = ExternalTLS.locate(program) else {
            throw NetworkError(
                .connectFailed,
                message:
                    "the external TLS provider needs \(program), which was not found on PATH (Debian: apt-get install gnutls-bin)"
            )
        }
        let chainFile = FileManager.default.temporaryDirectory
            .appendingPathComponent("parley-gnutls-cli-\(UUID().uuidString).pem").path
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: executable) { logTerminal in
                ["--logfile=\(logTerminal)"]
                    + ExternalTLS.arguments(
                        host: host,
                        service: service.description,
                        starttls: starttls,
                        settings: parameters.tls,
                        clientCertificate: clientCertificate,
                        chainFile: chainFile
                    )
            }
        } catch {
            throw NetworkError(.connectFailed, message: "cannot start \(executable): \(error)")
        }
        let eventLoop = parameters.group.next()
        let peer = "\(host):\(service)"
        let helper = ExternalTLSHelper(
            eventLoop: eventLoop,
            child: child,
            starttls: starttls,
            peer: peer,
            serverName: parameters.tls.serverName ?? host,
            chainFile: chainFile,
            observer: parameters.observer
        )
        let process = NetworkProcess(
            child: child,
            name: name,
            peer: peer,
            eventLoop: eventLoop,
            parameters: parameters,
            table: table
        )
        process.contact.host = host
        process.contact.service = service.description
        let bridge = HandlerBridge()
        let framer = helper.framer!
        nonisolated(unsafe) let unsafeFramer = framer
        do {
            let channel = try await child.channel(on: eventLoop, reading: child.readDescriptor, writing: child.writeDescriptor) {
                try $0.addHandler(unsafeFramer)
                try $0.addHandler(ProcessChannelHandler(bridge: bridge))
            }
            let errors = try await child.channel(on: eventLoop, reading: child.errorDescriptor!) {
                try $0.addHandler(ExternalTLSStreamReader(helper: helper, isLog: false))
            }
            let log = try await child.channel(on: eventLoop, reading: child.logDescriptor!) {
                try $0.addHandler(ExternalTLSStreamReader(helper: helper, isLog: true))
            }
            try await eventLoop.submit {
                helper.stdoutChannel = channel
                helper.stderrChannel = errors
                helper.logChannel = log
                process.attach(channel, bridge: bridge, sentinelEvent: nil)
            }.get()
        } catch {
            child.terminate()
            child.closeLog()
            table.release(process.name)
            throw NetworkError(.connectFailed, message: "cannot attach to gnutls-cli's pipes: \(error)")
        }
        let info: TLSSessionInfo?
        do {
            info = try await helper.waitUntilReady(
                timeout: starttls ? parameters.timeouts.connect : parameters.timeouts.connect + parameters.timeouts.handshake,
                wait: starttls ? .connect : .handshake
            )
        } catch {
            await process.deleteSilently()
            throw error
        }
        if let info { parameters.observer(.tlsEstablished(info)) }
        return (process, helper, info)
    }
}

extension NetworkProcess {
    /// Emacs's `process-id`: the child's process id for a `real` process (a shell command or
    /// the external TLS helper), nil for network processes.
    public var processID: Int32? { child?.processIdentifier }
}
