// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import GnuTLSNIO
import Logging
import MailAPI
import MailServers

/// `parley serve smtp|imap|pop3|all`: runs local mail servers in the foreground until SIGINT or
/// SIGTERM, logging every session's dialog to standard error.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run local mail servers (SMTP, submission, IMAP, POP3, with TLS) sharing one mail store.",
        discussion: """
            'serve smtp', 'serve imap' and 'serve pop3' run one server; its first line on standard \
            output is 'listening on HOST:PORT' (the real port when 0 was asked for). 'serve all' runs \
            SMTP, submission (AUTH required), SMTPS, IMAP, IMAPS, POP3 and POP3S on one mail store: \
            mail accepted over SMTP for a local user lands in that user's INBOX, readable over IMAP \
            and POP3; each listener prints 'listening on HOST:PORT (NAME)'. The dialog of each \
            session goes to standard error. With the built-in test certificate the next line is \
            'trust: FILE (...)', a file holding the test CA for clients to verify against. SIGINT \
            or SIGTERM stops the servers and closes their \
            connections. Known faults (--fault NAME[=VALUE], or LISTENER:NAME[=VALUE] for one \
            listener of 'serve all'): \(MailServerFault.knownNames.joined(separator: ", ")). See \
            docs/fixtures.md.
            """
    )

    @Argument(help: "What to serve: smtp, imap, pop3, or all (or give --script).")
    var served: ServedProtocol?

    @Option(
        help: ArgumentHelp(
            "Serve a scripted server: every connection runs this scenario's steps with the client as its connection; a verdict line per connection.",
            valueName: "FILE"
        )
    )
    var script: String?

    @Option(help: "With --script: stop after this many connections, exiting 0 when every one passed.")
    var connections: Int?

    /// What is served (validate() makes sure there is one unless --script is given).
    var serverProtocol: ServedProtocol { served ?? .smtp }

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on (smtp, imap, pop3); 0 picks a free one.")
    var port = 0

    @Option(help: "serve all: the SMTP port (0: a free one).")
    var smtpPort: Int?
    @Option(help: "serve all: the submission port (AUTH required).")
    var submissionPort: Int?
    @Option(help: "serve all: the SMTPS port (implicit TLS).")
    var smtpsPort: Int?
    @Option(help: "serve all: the IMAP port.")
    var imapPort: Int?
    @Option(help: "serve all: the IMAPS port (implicit TLS).")
    var imapsPort: Int?
    @Option(help: "serve all: the POP3 port.")
    var pop3Port: Int?
    @Option(help: "serve all: the POP3S port (implicit TLS).")
    var pop3sPort: Int?

    @Option(help: "serve all: the HTTP API's port (Mailpit's API v1; 0: a free one).")
    var httpPort: Int?
    @Flag(help: "serve all: no HTTP API.")
    var noHTTP = false

    @Option(help: "The name in the greeting.")
    var hostname = "mail.test"

    @Flag(inversion: .prefixedNo, help: "Offer STARTTLS (POP3: STLS).")
    var starttls = true

    @Flag(help: "smtp, imap, pop3: speak TLS from the first byte (SMTPS, IMAPS, POP3S); STARTTLS is then not offered.")
    var implicitTLS = false

    @Option(help: "The server certificate chain (PEM). Default: the test PKI built into Parley.")
    var cert: String?

    @Option(help: "The server's private key (PEM). Default: the test PKI's.")
    var key: String?

    @Option(help: "CA certificates (PEM) for verifying client certificates; asks clients for one.")
    var clientCA: String?

    @Flag(help: "Fail the handshake when the client sends no valid certificate (default CA: the test PKI's).")
    var requireClientCert = false

    @Option(
        name: .customLong("user"),
        help: "An account, NAME:PASSWORD; repeatable (default alice:secret). With --password: one NAME."
    )
    var userTexts: [String] = []

    @Option(help: "The password of the one --user NAME.")
    var password: String?

    @Flag(help: "Accept any user name and password, and mail for any recipient (accounts are made on first use).")
    var acceptAnyLogin = false

    @Option(help: "Keep the mail store in this folder, Maildir++ layout (one Maildir per account); mail there is loaded.")
    var maildir: String?

    @Option(help: "Seconds a client may stay silent (default: SMTP 300, POP3 600, IMAP 1800).")
    var idleTimeout: Double?

    @Option(help: "The most connections open at once per listener.")
    var maxConnections = 16384

    @Option(
        name: .customLong("fault"),
        help: "A fault knob, NAME or NAME=VALUE (serve all: LISTENER:NAME[=VALUE] for one listener); repeatable.")
    var faultTexts: [String] = []

    @Flag(help: "Log only problems, not every session's dialog (the log costs time under load, as in ci/bench).")
    var quiet = false

    func validate() throws {
        switch (served, script) {
        case (nil, nil): throw ValidationError("serve what? smtp, imap, pop3, all, or --script FILE")
        case (.some(let what), .some): throw ValidationError("serve \(what.rawValue) and --script exclude each other")
        default: break
        }
        if let connections, connections < 1 { throw ValidationError("--connections must be at least 1") }
        if connections != nil && script == nil { throw ValidationError("--connections goes with --script") }
        let ports = [("--port", port)] + namedPorts.map { ("--\($0.key)-port", $0.value) } + (httpPort.map { [("--http-port", $0)] } ?? [])
        for (name, value) in ports where !(0...65535).contains(value) {
            throw ValidationError("\(name) must be 0 to 65535")
        }
        if serverProtocol == .all {
            if port != 0 { throw ValidationError("--port is for serve smtp|imap|pop3; serve all takes --smtp-port, --imap-port, ...") }
            if implicitTLS { throw ValidationError("--implicit-tls is for serve smtp|imap|pop3; serve all runs smtps, imaps and pop3s") }
            if noHTTP && httpPort != nil { throw ValidationError("--http-port and --no-http contradict each other") }
        } else if !namedPorts.isEmpty || httpPort != nil || noHTTP {
            throw ValidationError("--smtp-port, --imap-port, --http-port, ... are for serve all; use --port")
        }
        if (cert == nil) != (key == nil) { throw ValidationError("--cert and --key go together") }
        if let idleTimeout, !(idleTimeout > 0) { throw ValidationError("--idle-timeout must be more than 0") }
        if maxConnections < 1 { throw ValidationError("--max-connections must be at least 1") }
        do {
            _ = try ServePlan.users(userTexts, password: password)
            for text in faultTexts { _ = try ServePlan.ScopedFault(parsing: text) }
        } catch let error as ServePlanError {
            throw ValidationError(error.description)
        } catch {
            throw ValidationError("--fault: \(error)")
        }
    }

    /// The `--*-port` options given, by listener name.
    var namedPorts: [String: Int] {
        let all: [(String, Int?)] = [
            ("smtp", smtpPort), ("submission", submissionPort), ("smtps", smtpsPort), ("imap", imapPort),
            ("imaps", imapsPort), ("pop3", pop3Port), ("pop3s", pop3sPort),
        ]
        return Dictionary(uniqueKeysWithValues: all.compactMap { name, port in port.map { (name, $0) } })
    }

    /// The listeners, accounts and faults the options describe.
    ///
    /// - Throws: ``ServePlanError`` or a fault error.
    func plan() throws -> ServePlan {
        var users = try ServePlan.users(userTexts, password: password)
        if users.isEmpty && !acceptAnyLogin { users = ["alice": "secret"] }
        let faults = try faultTexts.map { try ServePlan.ScopedFault(parsing: $0) }
        switch serverProtocol {
        case .all:
            var ports = namedPorts
            if let httpPort { ports["http"] = httpPort }
            return ServePlan.all(ports: ports, users: users, faults: faults, http: !noHTTP)
        case .smtp, .imap, .pop3:
            return ServePlan.single(serverProtocol.mailProtocol!, port: port, implicitTLS: implicitTLS, users: users, faults: faults)
        }
    }

    /// The server TLS context the options describe (nil without STARTTLS and implicit TLS).
    ///
    /// - Throws: `GnuTLSError` when a certificate or key cannot be loaded.
    func tlsContext() throws -> GnuTLSContext? {
        guard starttls || implicitTLS || serverProtocol == .all else { return nil }
        var tls: TLSConfiguration
        switch (cert, key) {
        case (let cert?, let key?):
            tls = .server(certificateChainFile: cert, privateKeyFile: key)
        case (nil, nil):
            // The test PKI built into the program: an installed binary serves with no file.
            tls = .server(credential: TestPKI.credential(.server))
        default:
            throw ValidationError("--cert and --key go together")
        }
        if clientCA != nil || requireClientCert {
            tls.trustRoots = clientCA.map { .file($0) } ?? TestPKI.caTrust
            tls.clientCertificateMode = requireClientCert ? .require : .request
        }
        return try GnuTLSContext(configuration: tls)
    }

    /// The configuration of each listener of a plan.
    ///
    /// - Parameters:
    ///   - plan: the plan.
    ///   - store: the shared store (`serve all`, or `--maildir`), or nil for each server's own
    ///     store with the sample mailbox.
    /// - Returns: the configurations, in the plan's order.
    /// - Throws: `GnuTLSError` when a certificate or key cannot be loaded.
    func serverConfigurations(_ plan: ServePlan, store: MailStore?) throws -> [FakeMailServer.Configuration] {
        let tls = try tlsContext()
        return plan.listeners.map { listener in
            var configuration = FakeMailServer.Configuration(protocol: listener.mailProtocol)
            configuration.host = host
            configuration.port = listener.port
            configuration.hostname = hostname
            configuration.offerStartTLS = starttls
            configuration.implicitTLS = listener.implicitTLS
            configuration.users = plan.users
            configuration.faults = listener.faults
            configuration.tls = tls
            configuration.store = store
            configuration.requireAuth = listener.requireAuth
            configuration.rejectUnknownRecipients = store != nil && !acceptAnyLogin
            configuration.idleTimeout = idleTimeout
            configuration.maxConnections = maxConnections
            return configuration
        }
    }

    /// The configuration of `serve smtp|imap|pop3` (tests use it).
    ///
    /// - Throws: `GnuTLSError` when a certificate or key cannot be loaded, or a fault error.
    func serverConfiguration() throws -> FakeMailServer.Configuration {
        try serverConfigurations(try plan(), store: nil)[0]
    }

    func run() async throws {
        if let script {
            var frontend = ScriptServeFrontend(
                file: script, output: { FileHandle.standardOutput.write(Data($0.utf8)) },
                transcript: { FileHandle.standardError.write(Data($0.utf8)) })
            frontend.host = host
            frontend.port = port
            frontend.connections = connections
            let status = await frontend.run()
            if status != 0 { throw ExitCode(status) }
            return
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = quiet ? .warning : .info
            return handler
        }
        let logger = Logger(label: "parley.serve")
        let plan = try plan()
        let store: MailStore?
        if serverProtocol == .all || maildir != nil || acceptAnyLogin {
            store = try MailStore(users: plan.users, acceptsAnyLogin: acceptAnyLogin, maildir: maildir)
        } else {
            store = nil
        }
        var servers: [FakeMailServer] = []
        do {
            for (listener, configuration) in zip(plan.listeners, try serverConfigurations(plan, store: store)) {
                let server = try await FakeMailServer.start(configuration, logger: logger)
                servers.append(server)
                // Unbuffered: whoever started us waits for these lines to learn the ports.
                let suffix = serverProtocol == .all ? " (\(listener.name))" : ""
                FileHandle.standardOutput.write(Data("listening on \(server.host):\(server.port)\(suffix)\n".utf8))
            }
        } catch {
            for server in servers { try? await server.stop() }
            throw error
        }
        var api: RunningMailAPI?
        if let httpPort = plan.httpPort, let store {
            do {
                api = try await MailAPIServer.start(
                    store: store,
                    configuration: .init(host: host, port: httpPort, version: ParleyVersion.string),
                    logger: logger
                )
            } catch {
                for server in servers { try? await server.stop() }
                throw error
            }
            FileHandle.standardOutput.write(Data("listening on \(host):\(api!.port) (http)\n".utf8))
        }
        if cert == nil && (starttls || implicitTLS || serverProtocol == .all) {
            FileHandle.standardOutput.write(Data(InstalledFiles.trustLine().utf8))
        }
        await waitForTermination()
        logger.info("stopping")
        await api?.stop()
        for server in servers { try await server.stop() }
        logger.info("stopped")
    }
}

/// The protocols `serve` accepts, as a command-line argument.
enum ServedProtocol: String, ExpressibleByArgument, CaseIterable {
    case smtp
    case imap
    case pop3
    case all

    /// The mail server's protocol (nil for `all`).
    var mailProtocol: MailProtocol? { MailProtocol(rawValue: rawValue) }
}

/// Suspends until SIGINT or SIGTERM arrives.
func waitForTermination() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let once = OnceFlag()
        onTermination { _ in
            if once.set() { continuation.resume() }
        }
    }
}

/// Calls `handler` (on a background queue) with the signal's number when SIGINT or SIGTERM
/// arrives, instead of the default of dying on the spot.
func onTermination(_ handler: @escaping @Sendable (Int32) -> Void) {
    var sources: [any DispatchSourceSignal] = []
    for signalNumber in [SIGINT, SIGTERM] {
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
        source.setEventHandler { handler(signalNumber) }
        source.resume()
        sources.append(source)
    }
    // The sources must live as long as the process.
    SignalSources.keep(sources)
}

/// A flag that can be set once, from any thread.
final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false

    /// Sets the flag; returns true for the first caller only.
    func set() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if done { return false }
        done = true
        return true
    }
}

/// Keeps signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var kept: [any DispatchSourceSignal] = []
    private static let lock = NSLock()

    static func keep(_ sources: [any DispatchSourceSignal]) {
        lock.lock()
        kept += sources
        lock.unlock()
    }
}
