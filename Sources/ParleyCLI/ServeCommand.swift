// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import GnuTLSNIO
import Logging
import MailFixtures

/// `parley serve smtp`: runs a fake mail server in the foreground until SIGINT or SIGTERM.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a fake mail server on loopback, logging every session's dialog.",
        discussion: "The first line on standard output is 'listening on HOST:PORT'."
    )

    enum ServerProtocol: String, ExpressibleByArgument, CaseIterable {
        case smtp
    }

    @Argument(help: "The protocol to serve.")
    var serverProtocol: ServerProtocol

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on; 0 picks a free one.")
    var port = 0

    @Option(help: "The name in the greeting and the EHLO reply.")
    var hostname = "mail.test"

    @Option(help: "The server certificate chain (PEM). Default: the test PKI's server.pem.")
    var cert: String?

    @Option(help: "The server's private key (PEM). Default: the test PKI's server-key.pem.")
    var key: String?

    @Flag(inversion: .prefixedNo, help: "Offer STARTTLS.")
    var starttls = true

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535") }
        if (cert == nil) != (key == nil) { throw ValidationError("--cert and --key go together") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        var configuration = FakeSMTPServer.Configuration()
        configuration.host = host
        configuration.port = port
        configuration.hostname = hostname
        configuration.offerStartTLS = starttls
        if starttls {
            let certificate = cert ?? FixtureCertificates.directory + "/server.pem"
            let privateKey = key ?? FixtureCertificates.directory + "/server-key.pem"
            configuration.tls = try GnuTLSContext(
                configuration: .server(certificateChainFile: certificate, privateKeyFile: privateKey)
            )
        }
        let server = try await FakeSMTPServer.start(configuration)
        // Unbuffered: whoever started us waits for this line to learn the port.
        FileHandle.standardOutput.write(Data("listening on \(server.host):\(server.port)\n".utf8))
        await waitForTermination()
        try await server.stop()
    }
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
