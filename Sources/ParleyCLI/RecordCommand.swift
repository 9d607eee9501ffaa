// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation

/// `parley record --upstream HOST:PORT --preset P [--listen HOST:PORT] [--out DIR] ...`.
struct RecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record a live dialog through a STARTTLS-aware proxy; write a client scenario and a server script from it.",
        discussion: """
            Point a mail client at the proxy (--listen). The proxy relays the dialog to the server \
            (--upstream); at the STARTTLS go-ahead it ends TLS toward the client with a certificate \
            for the server's name issued by --ca-cert/--ca-key (default: the test CA, \
            share/parley/certs/ca.pem, which the client must trust) and starts a verified TLS session \
            toward the server (--upstream-ca-file, default the system store). Both directions are \
            recorded, credentials as variables. In --out DIR it writes NAME.recording.json, \
            NAME.client.yaml (replays the client's side against the server: parley run), \
            NAME.server.yaml (replays the server's side for the client: parley serve --script, \
            parley test-client --suite) and snapshots/NAME.client.recorded.txt. \
            --mode: once (default: record unless NAME is recorded, then replay it), new (record; keep \
            dialogs whose commands no recording has), all (always record), none (replay only). \
            See docs/recording.md.

            \(exitStatusHelp)
            """
    )

    @Option(help: ArgumentHelp("The server: HOST:PORT ([::1]:PORT for IPv6).", valueName: "HOST:PORT"))
    var upstream: String

    @Option(help: ArgumentHelp("The dialog: smtp, submission, lmtp, imap or pop3.", valueName: "PRESET"))
    var preset: String

    @Option(help: ArgumentHelp("Where clients connect (default 127.0.0.1:0, a free port, printed).", valueName: "HOST:PORT"))
    var listen = "127.0.0.1:0"

    @Option(help: ArgumentHelp("The folder the files go in (default recordings).", valueName: "DIR"))
    var out = "recordings"

    @Option(help: ArgumentHelp("The recording's name (default: the preset's).", valueName: "NAME"))
    var name: String?

    @Option(help: ArgumentHelp("once, new, all or none (default once).", valueName: "MODE"))
    var mode = "once"

    @Option(help: ArgumentHelp("The CA that issues the proxy's certificate (PEM; with --ca-key).", valueName: "FILE"))
    var caCert: String?

    @Option(help: ArgumentHelp("That CA's private key (PEM).", valueName: "FILE"))
    var caKey: String?

    @Option(help: ArgumentHelp("The CA the server is verified against (default: the system store).", valueName: "FILE"))
    var upstreamCaFile: String?

    @Option(
        help: ArgumentHelp(
            "The server's name: checked in its certificate, and the proxy's certificate is issued for it (default: the upstream host).",
            valueName: "NAME"))
    var serverName: String?

    @Flag(help: "TLS from the first byte on both sides (SMTPS, IMAPS, POP3S) instead of STARTTLS.")
    var tls = false

    @Flag(help: "Do not verify the server's certificate (shown in the output, the recording and the generated scenario).")
    var insecure = false

    @Option(help: ArgumentHelp("Dialogs to record before exiting (default 1).", valueName: "N"))
    var connections = 1

    @Option(help: ArgumentHelp("Seconds to wait for each client (default 300).", valueName: "SECONDS"))
    var acceptTimeout: Double = 300

    @Option(help: ArgumentHelp("Seconds of silence in both directions that end a dialog (default 60).", valueName: "SECONDS"))
    var idleTimeout: Double = 60

    static func hostPort(_ text: String, flag: String) throws -> (String, Int) {
        var host = ""
        var port = ""
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw ValidationError("\(flag) takes HOST:PORT, not '\(text)'") }
            port = String(rest.dropFirst())
        } else if let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") {
            host = String(text[..<colon])
            port = String(text[text.index(after: colon)...])
        }
        guard !host.isEmpty, let number = Int(port), (0...65535).contains(number) else {
            throw ValidationError("\(flag) takes HOST:PORT with a port from 0 to 65535, not '\(text)'")
        }
        return (host, number)
    }

    func validate() throws {
        let (_, upstreamPort) = try Self.hostPort(upstream, flag: "--upstream")
        guard upstreamPort > 0 else { throw ValidationError("--upstream needs a port, not 0") }
        _ = try Self.hostPort(listen, flag: "--listen")
        guard RecordFrontend.Mode(rawValue: mode) != nil else {
            throw ValidationError("--mode is once, new, all or none, not '\(mode)'")
        }
        guard (caCert == nil) == (caKey == nil) else { throw ValidationError("--ca-cert and --ca-key go together") }
        guard (1...100_000).contains(connections) else { throw ValidationError("--connections takes 1 to 100000") }
        guard acceptTimeout > 0, acceptTimeout <= 86400 else { throw ValidationError("--accept-timeout takes 0 to 86400 seconds") }
        guard idleTimeout > 0, idleTimeout <= 86400 else { throw ValidationError("--idle-timeout takes 0 to 86400 seconds") }
    }

    func run() async throws {
        let (upstreamHost, upstreamPort) = try Self.hostPort(upstream, flag: "--upstream")
        let (listenHost, listenPort) = try Self.hostPort(listen, flag: "--listen")
        var frontend = RecordFrontend(upstreamHost: upstreamHost, upstreamPort: upstreamPort, preset: preset) { text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        frontend.listenHost = listenHost
        frontend.listenPort = listenPort
        frontend.outputFolder = out
        frontend.name = name
        frontend.mode = RecordFrontend.Mode(rawValue: mode) ?? .once
        frontend.caCertificateFile = caCert
        frontend.caKeyFile = caKey
        frontend.upstreamCAFile = upstreamCaFile
        frontend.serverName = serverName
        frontend.implicitTLS = tls
        frontend.insecure = insecure
        frontend.connections = connections
        frontend.acceptTimeout = .milliseconds(Int(acceptTimeout * 1000))
        frontend.idleTimeout = .milliseconds(Int(idleTimeout * 1000))
        let status = await frontend.run()
        if status != 0 { throw ExitCode(status) }
    }
}
