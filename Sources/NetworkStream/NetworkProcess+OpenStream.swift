// SPDX-License-Identifier: Apache-2.0
internal import GnuTLSNIO
internal import NIOConcurrencyHelpers
internal import NIOCore
internal import NIOPosix
internal import Patterns

extension NetworkProcess {
    /// Emacs's `open-network-stream` with `:return-list`: connects by `parameters.type`, reads
    /// the greeting, queries capabilities, upgrades with STARTTLS when asked and offered.
    ///
    /// Unlike Emacs, every wait has a deadline, and a failure after the connect is a result with
    /// no process and an ``OpenStreamResult/error`` naming what failed (for a timeout, the wait);
    /// `starttls` that cannot upgrade gives "Server does not support TLS" instead of Emacs's
    /// unrelated `wrong-type-argument`.
    ///
    /// - Parameters:
    ///   - name: the name asked for (made unique in `table`).
    ///   - host: the host.
    ///   - service: the port or service name.
    ///   - parameters: the keywords.
    ///   - table: the process table.
    /// - Returns: the process and what was read.
    /// - Throws: `NetworkError`: `.connectFailed` or `.timeout` for the first connect (Emacs
    ///   signals `file-error`), `.invalidArgument` for a bad pattern, type or shell template.
    public static func openStream(
        name: String,
        host: String,
        service: Service,
        parameters: StreamParameters,
        table: ProcessTable = .shared
    ) async throws(NetworkError) -> OpenStreamResult {
        let opener = try StreamOpener(name: name, host: host, service: service, parameters: parameters, table: table)
        return try await opener.open()
    }
}

/// One run of `open-network-stream`: the compiled patterns and the steps of each worker.
///
/// - SeeAlso: spec/emacs-network.md §6.3–§6.5 and §7.
struct StreamOpener: Sendable {
    let name: String
    let host: String
    let service: NetworkProcess.Service
    let parameters: StreamParameters
    let table: ProcessTable
    /// `\G` + lazy prefix + end-of-command: matches from the read position to the end of the
    /// first end-of-command match, so the whole response is returned (Emacs's START..match end).
    let endOfCommand: BytePattern?
    let endOfCapability: BytePattern?
    let success: BytePattern?

    init(
        name: String,
        host: String,
        service: NetworkProcess.Service,
        parameters: StreamParameters,
        table: ProcessTable
    ) throws(NetworkError) {
        self.name = name
        self.host = host
        self.service = service
        self.parameters = parameters
        self.table = table
        let options: BytePattern.Options = parameters.caseFold ? [.multiline, .caseInsensitive] : [.multiline]
        func response(_ source: String?) throws(NetworkError) -> BytePattern? {
            guard let source else { return nil }
            do {
                return try BytePattern("\\G(?s:.*?)(?:\(source))", options: options)
            } catch {
                throw NetworkError(.invalidArgument, message: "invalid pattern \"\(source)\": \(error.message)")
            }
        }
        endOfCommand = try response(parameters.endOfCommand)
        endOfCapability = try response(parameters.endOfCapability) ?? endOfCommand
        if let source = parameters.success {
            do {
                success = try BytePattern(source, options: options)
            } catch {
                throw NetworkError(.invalidArgument, message: "invalid pattern \"\(source)\": \(error.message)")
            }
        } else {
            success = nil
        }
    }

    /// Dispatches as Emacs does (§6.3).
    func open() async throws(NetworkError) -> OpenStreamResult {
        let p = parameters
        let shortcut =
            !p.returnList
            && (p.type == .plain || (p.type == .network && !(p.success != nil && p.capabilityCommand != nil)))
        if shortcut {
            let process = try await connect(nowait: p.nowait, tls: nil)
            return OpenStreamResult(process: process)
        }
        switch p.type {
        case .plain where !p.alwaysQueryCapabilities:
            return try await openPlain()
        case .plain, .network, .starttls:
            return try await openStartTLS()
        case .tls, .ssl:
            return try await openTLS()
        case .shell:
            return try await openShell()
        }
    }

    // MARK: - Workers

    /// `plain` with `:return-list`: connect and read the greeting; nothing is sent.
    private func openPlain() async throws(NetworkError) -> OpenStreamResult {
        let process = try await connect(nowait: parameters.nowait, tls: nil)
        if parameters.nowait {
            return OpenStreamResult(process: process, type: .plain)
        }
        do {
            let greeting = try await readResponse(process, endOfCommand, wait: .greeting)
            return OpenStreamResult(process: process, greeting: greeting, type: .plain)
        } catch {
            return await failed(process, error, greeting: nil, capabilities: nil)
        }
    }

    /// `network`, `starttls`, and `plain` with `:always-query-capabilities` (§6.5b).
    private func openStartTLS() async throws(NetworkError) -> OpenStreamResult {
        let p = parameters
        let requireTLS = p.type == .starttls
        // The external helper carries the whole dialog when it may be used: for `starttls`, or
        // for `network` with `:use-starttls-if-possible` (Emacs's rule for external helpers).
        let external = p.tlsProvider == .external && p.type != .plain && (requireTLS || p.useStartTLSIfPossible)
        var helper: ExternalTLSHelper?
        var process: NetworkProcess
        if external {
            (process, helper, _) = try await NetworkProcess.spawnExternal(
                name: name,
                host: host,
                service: service,
                starttls: true,
                clientCertificate: clientCertificateFiles(),
                parameters: p,
                table: table
            )
        } else {
            process = try await connect(nowait: false, tls: nil)
        }
        var greeting: [UInt8]?
        var capabilities: [UInt8]?
        var result = OpenStreamResult(process: nil)
        do {
            if !p.noGreeting {
                greeting = try await readResponse(process, endOfCommand, wait: .greeting)
            }
            let capabilityCommand = resolveCapabilityCommand(greeting)
            capabilities = try await command(
                process,
                capabilityCommand,
                endOfCapability,
                wait: .capabilities,
                afterResponse: greeting != nil
            )
            var starttlsCommand: [UInt8]?
            if let capabilities, success != nil, let function = p.starttlsFunction {
                starttlsCommand = try apply(function, to: capabilities)
            }
            // With the external provider but without the helper (`network` without
            // `:use-starttls-if-possible`), no upgrade is attempted, as in Emacs.
            if let starttlsCommand, p.type != .plain, p.tlsProvider == .builtin || helper != nil {
                let upgrader: any TLSUpgrade
                if let helper {
                    upgrader = helper
                } else {
                    upgrader = BuiltinTLSUpgrade(context: try makeContext(), serverHostname: serverName)
                }
                _ = await process.discardPending()
                if let endOfCommand, let success {
                    do {
                        let upgrade = try await upgrader.startTLS(
                            on: process,
                            command: starttlsCommand,
                            reply: endOfCommand,
                            success: success,
                            replyTimeout: p.timeouts.starttlsReply,
                            handshakeTimeout: p.timeouts.handshake
                        )
                        result.type = .tls
                        result.tls = upgrade.session
                        result.tlsProvider = upgrader.provider
                        result.discardedBytes = upgrade.discardedBytes
                        capabilities = try await command(process, capabilityCommand, endOfCapability, wait: .capabilities)
                    } catch let error where error.kind == .starttlsRefused {
                        // The reply did not match :success: plain on the same socket, no re-query.
                    } catch let error where Self.isHandshakeFailure(error) {
                        if requireTLS {
                            var failure = error
                            failure.message =
                                "Unable to negotiate a TLS connection with \(host)/\(service): \(error.message)"
                            return await failed(process, failure, greeting: greeting, capabilities: capabilities)
                        }
                        // Emacs's fallback: a new plain connection. Its greeting is read (with a
                        // deadline) and kept out of the capabilities, unlike Emacs (§6.9 Q5).
                        await process.deleteSilently()
                        process = try await connect(nowait: false, tls: nil)
                        _ = try await readResponse(process, endOfCommand, wait: .greeting)
                        capabilities = try await command(process, capabilityCommand, endOfCapability, wait: .capabilities)
                    }
                } else {
                    // Emacs's command with no end-of-command regexp: sent, nothing read.
                    try await process.send(starttlsCommand)
                }
            }
        } catch {
            return await failed(process, error, greeting: greeting, capabilities: capabilities)
        }
        if requireTLS && result.type == .plain {
            await process.deleteSilently()
            result.greeting = greeting
            result.capabilities = capabilities
            result.error = "Server does not support TLS"
            return result
        }
        result.process = process
        result.greeting = greeting
        result.capabilities = capabilities
        return result
    }

    /// `tls`/`ssl` (§6.5c).
    private func openTLS() async throws(NetworkError) -> OpenStreamResult {
        let p = parameters
        let process: NetworkProcess
        var externalSession: TLSSessionInfo?
        do {
            if p.tlsProvider == .external {
                // gnutls-cli without --starttls: TLS at once; `nowait` is not honoured (the
                // helper reports only once the handshake is done).
                (process, _, externalSession) = try await NetworkProcess.spawnExternal(
                    name: name,
                    host: host,
                    service: service,
                    starttls: false,
                    clientCertificate: clientCertificateFiles(),
                    parameters: p,
                    table: table
                )
            } else {
                let context = try makeContext()
                process = try await connect(nowait: p.nowait, tls: (context, serverName, p.timeouts.handshake))
            }
        } catch let error where error.wait == .handshake || error.kind == .tls {
            var result = OpenStreamResult(process: nil, type: .plain, error: error.message)
            result.failure = error
            return result
        }
        if p.nowait && p.tlsProvider == .builtin {
            return OpenStreamResult(process: process, type: .tls)
        }
        var result = OpenStreamResult(process: process, type: .tls)
        if let externalSession {
            result.tls = externalSession
            result.tlsProvider = .external
        } else {
            let snapshot = await process.snapshot()
            result.tls = snapshot.tls
            result.tlsProvider = .builtin
        }
        do {
            result.greeting = try await readResponse(process, endOfCommand, wait: .greeting)
            // Parley gives the function the greeting, as the manual says (Emacs gives nil here).
            let command = resolveCapabilityCommand(result.greeting)
            result.capabilities = try await self.command(
                process,
                command,
                endOfCapability,
                wait: .capabilities,
                afterResponse: result.greeting != nil
            )
        } catch {
            var failedResult = await failed(process, error, greeting: result.greeting, capabilities: result.capabilities)
            failedResult.type = .tls
            failedResult.tls = result.tls
            failedResult.tlsProvider = result.tlsProvider
            return failedResult
        }
        return result
    }

    /// `shell` (§7): the command's pipes, always plain; no STARTTLS.
    private func openShell() async throws(NetworkError) -> OpenStreamResult {
        guard let template = parameters.shellCommand else {
            throw NetworkError(.invalidArgument, message: "wrong-type-argument char-or-string-p nil: no shell command")
        }
        let command = try FormatSpec.expand(template, ["s": host, "p": service.description])
        let process = try await NetworkProcess.spawnShell(
            name: name,
            shell: parameters.shell,
            command: command,
            parameters: parameters,
            table: table
        )
        var greeting: [UInt8]?
        do {
            greeting = try await readResponse(process, endOfCommand, wait: .greeting)
            let capabilities = try await self.command(
                process,
                resolveCapabilityCommand(greeting),
                endOfCapability,
                wait: .capabilities,
                afterResponse: greeting != nil
            )
            return OpenStreamResult(process: process, greeting: greeting, capabilities: capabilities, type: .plain)
        } catch {
            return await failed(process, error, greeting: greeting, capabilities: nil)
        }
    }

    // MARK: - Steps

    /// Whether an error of the STARTTLS step is a failed handshake that Emacs answers with its
    /// plain reconnect: a TLS error other than a rejected certificate (Parley never downgrades
    /// after a verification failure), or the connection ending before or during the handshake.
    static func isHandshakeFailure(_ error: NetworkError) -> Bool {
        switch error.kind {
        case .tls: return error.tlsError?.kind != .verificationFailed
        case .notOpen, .closedByPeer: return error.wait == .handshake
        default: return false
        }
    }

    /// The name to verify and send as SNI.
    private var serverName: String { parameters.tls.serverName ?? host }

    /// Makes a client process.
    private func connect(
        nowait: Bool,
        tls: (context: GnuTLSContext, serverHostname: String?, timeout: Duration)?
    ) async throws(NetworkError) -> NetworkProcess {
        var spec = NetworkProcess.Spec(name: name, host: host, service: service)
        spec.nowait = nowait
        spec.tls = tls
        spec.timeout = parameters.timeouts.connect
        spec.receiveLimit = parameters.receiveLimit
        spec.group = parameters.group
        spec.observer = parameters.observer
        return try await NetworkProcess.make(spec, in: table)
    }

    /// Emacs's `network-stream-get-response`: nil without a pattern; otherwise the text from the
    /// read position to the end of the first match. Data that arrived before the peer closed
    /// still counts (Emacs checks the status first and returns nil).
    ///
    /// - Throws: `NetworkError` `.timeout` naming `wait`, `.bufferLimit`, `.tls`.
    private func readResponse(
        _ process: NetworkProcess,
        _ pattern: BytePattern?,
        wait: Wait
    ) async throws(NetworkError) -> [UInt8]? {
        guard let pattern else { return nil }
        let timeout = wait == .greeting ? parameters.timeouts.greeting : parameters.timeouts.capabilities
        do {
            return try await process.expect(pattern, timeout: timeout, wait: wait).matched
        } catch let error where error.kind == .closedByPeer || error.kind == .notOpen {
            return nil
        }
    }

    /// Emacs's `network-stream-command`: nil without a command; otherwise the response to it,
    /// searched from the end of what was received before it was sent.
    ///
    /// Emacs reads output only while it waits, so bytes still unread when a command is sent
    /// come after START. Parley reads eagerly; it discards only what arrived after a response it
    /// read (`afterResponse`), which is what Emacs's buffer holds before START.
    private func command(
        _ process: NetworkProcess,
        _ command: [UInt8]?,
        _ pattern: BytePattern?,
        wait: Wait,
        afterResponse: Bool = true
    ) async throws(NetworkError) -> [UInt8]? {
        guard let command else { return nil }
        if afterResponse { _ = await process.discardPending() }
        try await process.send(command)
        return try await readResponse(process, pattern, wait: wait)
    }

    /// The capability command to send, given the greeting.
    private func resolveCapabilityCommand(_ greeting: [UInt8]?) -> [UInt8]? {
        switch parameters.capabilityCommand {
        case nil: return nil
        case .bytes(let bytes): return bytes
        case .computed(let function): return function(greeting)
        }
    }

    /// Runs the STARTTLS function on the capability response.
    private func apply(
        _ function: StreamParameters.StartTLSFunction,
        to capabilities: [UInt8]
    ) throws(NetworkError) -> [UInt8]? {
        switch function {
        case .computed(let function):
            return function(capabilities)
        case .whenMatches(let source, let command):
            let options: BytePattern.Options = parameters.caseFold ? [.multiline, .caseInsensitive] : [.multiline]
            let pattern: BytePattern
            do {
                pattern = try BytePattern(source, options: options)
            } catch {
                throw NetworkError(.invalidArgument, message: "invalid pattern \"\(source)\": \(error.message)")
            }
            return pattern.firstMatch(in: capabilities) == nil ? nil : command
        }
    }

    /// The client certificate's key and certificate files, resolved as auth-source does.
    private func clientCertificateFiles() -> (key: String, certificate: String)? {
        switch parameters.clientCertificate {
        case .none:
            return nil
        case .files(let key, let certificate):
            return (key, certificate)
        case .lookUp(let file):
            return AuthSource.clientCertificate(in: file, host: host, port: service.description)
        }
    }

    /// The client TLS context for these parameters, with the client certificate resolved.
    private func makeContext() throws(NetworkError) -> GnuTLSContext {
        let settings = parameters.tls
        var configuration = TLSConfiguration(
            role: .client,
            trustRoots: settings.trustRoots,
            verifyPeer: settings.verify,
            priority: settings.priority,
            alpn: settings.alpn
        )
        configuration.minimumDHPrimeBits = settings.minimumDHPrimeBits
        switch parameters.clientCertificate {
        case .none:
            break
        case .files(let key, let certificate):
            configuration.privateKeyFile = key
            configuration.certificateChainFile = certificate
        case .lookUp(let file):
            if let found = AuthSource.clientCertificate(in: file, host: host, port: service.description) {
                configuration.privateKeyFile = found.key
                configuration.certificateChainFile = found.certificate
            }
        }
        do {
            return try OpenedContexts.shared.context(configuration)
        } catch let error as GnuTLSError {
            throw NetworkError(.invalidArgument, message: "TLS settings: \(error)", tlsError: error)
        } catch {
            throw NetworkError(.invalidArgument, message: "TLS settings: \(error)")
        }
    }

    /// Deletes the process and makes the no-process result for `error`.
    private func failed(
        _ process: NetworkProcess,
        _ error: NetworkError,
        greeting: [UInt8]?,
        capabilities: [UInt8]?
    ) async -> OpenStreamResult {
        await process.deleteSilently()
        var result = OpenStreamResult(
            process: nil,
            greeting: greeting,
            capabilities: capabilities,
            type: .plain,
            error: error.message
        )
        result.failure = error
        return result
    }
}

extension NetworkProcess {
    /// Deletes without calling the sentinel (the caller never saw this process).
    func deleteSilently() async {
        await setSentinel(nil)
        await delete()
    }

    /// Starts `shell -c command` on pipes: a `real` process in status `run`.
    static func spawnShell(
        name: String,
        shell: String,
        command: String,
        parameters: StreamParameters,
        table: ProcessTable
    ) async throws(NetworkError) -> NetworkProcess {
        let child: ChildProcess
        do {
            child = try ChildProcess(shell: shell, command: command)
        } catch {
            throw NetworkError(.connectFailed, message: "cannot start \(shell): \(error)")
        }
        let process = NetworkProcess(
            child: child,
            name: name,
            peer: command,
            eventLoop: parameters.group.next(),
            parameters: parameters,
            table: table
        )
        process.contact.host = nil
        let bridge = HandlerBridge()
        let channel: any Channel
        do {
            channel = try await child.channel(on: process.eventLoop, reading: child.readDescriptor, writing: child.writeDescriptor) {
                try $0.addHandler(ProcessChannelHandler(bridge: bridge))
            }
        } catch {
            child.terminate()
            table.release(process.name)
            throw NetworkError(.connectFailed, message: "cannot attach to \(shell)'s pipes: \(error)")
        }
        try? await process.eventLoop.submit {
            process.attach(channel, bridge: bridge, sentinelEvent: nil)
        }.get()
        return process
    }

    /// A `real` process in status `connecting` whose bytes flow through a child's pipes (a shell
    /// command, or gnutls-cli for the external TLS provider), under a name claimed in `table`.
    convenience init(
        child: ChildProcess,
        name: String,
        peer: String,
        eventLoop: any EventLoop,
        parameters: StreamParameters,
        table: ProcessTable
    ) {
        self.init(
            name: table.claim(name),
            peer: peer,
            eventLoop: eventLoop,
            role: .shell,
            raw: .connecting,
            table: table,
            receiveLimit: parameters.receiveLimit,
            observer: parameters.observer
        )
        self.child = child
    }

    /// The argv of a shell connection's child (Emacs's `process-command`), nil for others.
    public var command: [String]? { child?.arguments }
}

/// The client TLS contexts `open-network-stream` has made, by configuration, shared by every open
/// with the same settings in this process: making one parses its trust roots (the system store is
/// about 140 certificates, a third of a megabyte and a few milliseconds), which is work per run,
/// not per connection (a domain suite's `tls-policy` step opens five probes per MX host). Bounded:
/// past ``limit`` configurations the cache starts again.
final class OpenedContexts: Sendable {
    static let shared = OpenedContexts()
    /// The most configurations kept.
    static let limit = 64

    private let contexts = NIOLockedValueBox<[String: GnuTLSContext]>([:])

    /// The context for `configuration`, made on first use.
    func context(_ configuration: TLSConfiguration) throws -> GnuTLSContext {
        let key = Self.key(configuration)
        if let cached = contexts.withLockedValue({ $0[key] }) { return cached }
        let context = try GnuTLSContext(configuration: configuration)
        contexts.withLockedValue { contexts in
            if contexts.count >= Self.limit { contexts.removeAll() }
            contexts[key] = context
        }
        return context
    }

    /// What tells two client configurations apart (built by hand: interpolating the enums would
    /// go through reflection on every open).
    static func key(_ c: TLSConfiguration) -> String {
        let roots: String
        switch c.trustRoots {
        case .system: roots = "system"
        case .file(let path): roots = "file:" + path
        case .pem(let pem): roots = "pem:" + pem.name + ":" + String(pem.text.hashValue)
        }
        return [
            roots, c.verifyPeer ? "verify" : "insecure", c.priority, c.alpn.joined(separator: ","), c.alpnMandatory ? "alpn!" : "",
            c.certificateChainFile ?? "", c.privateKeyFile ?? "", c.credential.map { $0.chain.name + ":" + $0.key.name } ?? "",
            c.minimumDHPrimeBits.map(String.init) ?? "", c.sessionTickets ? "tickets" : "",
        ].joined(separator: "|")
    }
}
