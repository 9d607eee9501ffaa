// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation

/// `parley test-client --protocol smtp|imap|pop3 [--suite DIR] -- COMMAND ARGS`.
struct TestClientCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-client",
        abstract: "Run a mail client against a suite of scripted servers, one case at a time, and judge what it did.",
        discussion: """
            For each case Parley listens on 127.0.0.1 and a free port, starts COMMAND with {host}, \
            {port}, {ca-file} (the CA that signed the cases' good certificate) and {case} (the case's \
            file name without .yaml) replaced in its arguments, plays the case's script with the \
            client's first connection, and judges the case from the dialog and from how the client \
            exited (a case's 'client-exit'). Without --suite the bundled suite of the protocol runs \
            (share/parley/suites/clients/PROTOCOL, or suites/clients/PROTOCOL in a checkout). \
            See docs/client-testing.md.

            \(exitStatusHelp)
            """
    )

    @Option(name: .customLong("protocol"), help: "The client's protocol: smtp, imap or pop3 (picks the bundled suite).")
    var clientProtocol: String

    @Option(help: ArgumentHelp("Case files, or folders of them (repeatable); default: the bundled suite.", valueName: "PATH"))
    var suite: [String] = []

    @Option(help: ArgumentHelp("The file {ca-file} names (default: the test CA).", valueName: "FILE"))
    var caFile: String?

    @Option(name: .customLong("var"), help: ArgumentHelp("Set a variable for ${NAME} references.", valueName: "NAME=VALUE"))
    var variables: [String] = []

    @Option(help: ArgumentHelp("Run only the cases with this tag (repeatable: any of them).", valueName: "TAG"))
    var tag: [String] = []

    @Option(help: ArgumentHelp("Seconds the client may take to connect after it starts (default 15).", valueName: "SECONDS"))
    var connectTimeout: Double = 15

    @Option(help: ArgumentHelp("Seconds the client may take to exit after its dialog (default 10).", valueName: "SECONDS"))
    var exitTimeout: Double = 10

    @Option(help: ArgumentHelp("Write a JUnit XML report.", valueName: "FILE"))
    var junit: String?

    @Option(help: ArgumentHelp("Write a JSON report of every event and result.", valueName: "FILE"))
    var json: String?

    @Option(help: ArgumentHelp("Write a self-contained HTML report with a sequence diagram per case.", valueName: "FILE"))
    var html: String?

    @Flag(help: "Never colour the output (NO_COLOR in the environment does the same).")
    var noColor = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The client's command line, after '--'.", valueName: "COMMAND"))
    var command: [String] = []

    func validate() throws {
        guard TestClientFrontend.ClientProtocol(rawValue: clientProtocol) != nil else {
            throw ValidationError("--protocol is smtp, imap or pop3, not '\(clientProtocol)'")
        }
        guard !command.isEmpty else {
            throw ValidationError("give the client's command after '--': parley test-client --protocol smtp -- COMMAND ARGS")
        }
        for item in variables where !item.contains("=") {
            throw ValidationError("--var takes NAME=VALUE, not '\(item)'")
        }
        guard connectTimeout > 0, connectTimeout <= 3600 else { throw ValidationError("--connect-timeout takes 0 to 3600 seconds") }
        guard exitTimeout > 0, exitTimeout <= 3600 else { throw ValidationError("--exit-timeout takes 0 to 3600 seconds") }
    }

    func run() async throws {
        var frontend = TestClientFrontend(
            clientProtocol: TestClientFrontend.ClientProtocol(rawValue: clientProtocol) ?? .smtp, command: command
        ) { text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        frontend.suite = suite
        frontend.caFile = caFile
        for item in variables {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            frontend.variables[String(parts[0])] = String(parts[1])
        }
        frontend.tags = tag
        frontend.connectTimeout = .milliseconds(Int(connectTimeout * 1000))
        frontend.exitTimeout = .milliseconds(Int(exitTimeout * 1000))
        frontend.junitPath = junit
        frontend.jsonPath = json
        frontend.htmlPath = html
        let environment = ProcessInfo.processInfo.environment
        frontend.colour = !noColor && environment["NO_COLOR"] == nil && isatty(STDOUT_FILENO) == 1
        // Interrupted: stop the client, write complete reports for the cases that finished.
        let interruptible = frontend
        onTermination { signal in
            Foundation.exit(interruptible.writeInterrupted(signal: signal))
        }
        let status = await frontend.run()
        if status != 0 { throw ExitCode(status) }
    }
}
