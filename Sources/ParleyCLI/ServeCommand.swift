// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import GnuTLSNIO
import Logging
import MailServers

/// `parley serve smtp|imap|pop3`: runs a fake mail server in the foreground until SIGINT or
/// SIGTERM, logging every session's dialog to standard error.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a fake SMTP, IMAP or POP3 server, logging every session's dialog.",
        discussion: """
            The first line on standard output is 'listening on HOST:PORT' (the real port when 0 \
            was asked for); with the built-in test certificate, the next is 'trust: FILE (...)', \
            a file holding the test CA for clients to verify against. The dialog of each session \
            goes to standard error. SIGINT or SIGTERM stops the server and closes its connections. Known faults: \
            \(MailServerFault.knownNames.joined(separator: ", ")). See docs/fixtures.md.
            """
    )

    @Argument(help: "The protocol to serve: smtp, imap or pop3.")
    var serverProtocol: ServedProtocol

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on; 0 picks a free one.")
    var port = 0

    @Option(help: "The name in the greeting.")
    var hostname = "mail.test"

    @Flag(inversion: .prefixedNo, help: "Offer STARTTLS (POP3: STLS).")
    var starttls = true

    @Flag(help: "Speak TLS from the first byte (SMTPS, IMAPS, POP3S); STARTTLS is then not offered.")
    var implicitTLS = false

    @Option(help: "The server certificate chain (PEM). Default: the test PKI's server.pem.")
    var cert: String?

    @Option(help: "The server's private key (PEM). Default: the test PKI's server-key.pem.")
    var key: String?

    @Option(help: "CA certificates (PEM) for verifying client certificates; asks clients for one.")
    var clientCA: String?

    @Flag(help: "Fail the handshake when the client sends no valid certificate (default CA: the test PKI's).")
    var requireClientCert = false

    @Option(help: "The account's user name (default alice).")
    var user: String?

    @Option(help: "The account's password (default secret).")
    var password: String?

    @Option(name: .customLong("fault"), help: "A fault knob, NAME or NAME=VALUE; repeatable.")
    var faultTexts: [String] = []

    @Flag(help: "Log only problems, not every session's dialog (the log costs time under load, as in ci/bench).")
    var quiet = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
        if (cert == nil) != (key == nil) { throw ValidationError("--cert and --key go together") }
        if (user == nil) != (password == nil) { throw ValidationError("--user and --password go together") }
        for text in faultTexts {
            do {
                _ = try MailServerFault(parsing: text)
            } catch {
                throw ValidationError("--fault \(text): \(error)")
            }
        }
    }

    /// The server configuration the options describe.
    ///
    /// - Returns: the configuration.
    /// - Throws: `GnuTLSError` when a certificate or key cannot be loaded, or a fault error.
    func serverConfiguration() throws -> FakeMailServer.Configuration {
        var configuration = FakeMailServer.Configuration(protocol: serverProtocol.mailProtocol)
        configuration.host = host
        configuration.port = port
        configuration.hostname = hostname
        configuration.offerStartTLS = starttls
        configuration.implicitTLS = implicitTLS
        if let user, let password {
            configuration.users = [user: password]
        }
        configuration.faults = try faultTexts.map { try MailServerFault(parsing: $0) }
        if starttls || implicitTLS {
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
            configuration.tls = try GnuTLSContext(configuration: tls)
        }
        return configuration
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = quiet ? .warning : .info
            return handler
        }
        let logger = Logger(label: "parley.serve")
        let server = try await FakeMailServer.start(serverConfiguration(), logger: logger)
        // Unbuffered: whoever started us waits for this line to learn the port.
        FileHandle.standardOutput.write(Data("listening on \(server.host):\(server.port)\n".utf8))
        if cert == nil && (starttls || implicitTLS) { FileHandle.standardOutput.write(Data(InstalledFiles.trustLine().utf8)) }
        await waitForTermination()
        logger.info("stopping")
        try await server.stop()
        logger.info("stopped")
    }
}

/// The protocols `serve` accepts, as a command-line argument.
enum ServedProtocol: String, ExpressibleByArgument, CaseIterable {
    case smtp
    case imap
    case pop3

    /// The fake server's protocol.
    var mailProtocol: MailProtocol { MailProtocol(rawValue: rawValue)! }
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
