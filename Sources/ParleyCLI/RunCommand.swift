// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation

/// `parley run FILE...`: runs scenarios and prints their transcripts.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run scenario files (or every .yaml file under a folder) and print transcripts."
    )

    @Argument(help: "Scenario files, or folders to search for *.yaml and *.yml files.")
    var paths: [String]

    @Option(name: .customLong("var"), help: ArgumentHelp("Set a variable for ${NAME} references.", valueName: "NAME=VALUE"))
    var variables: [String] = []

    @Flag(help: "Never colour the output (NO_COLOR in the environment does the same).")
    var noColor = false

    func validate() throws {
        for item in variables where !item.contains("=") {
            throw ValidationError("--var takes NAME=VALUE, not '\(item)'")
        }
    }

    func run() async throws {
        var parsed: [String: String] = [:]
        for item in variables {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            parsed[String(parts[0])] = String(parts[1])
        }
        let environment = ProcessInfo.processInfo.environment
        let colour = !noColor && environment["NO_COLOR"] == nil && isatty(STDOUT_FILENO) == 1
        let frontend = RunFrontend(paths: paths, variables: parsed, colour: colour) { text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        let status = await frontend.run()
        if status != 0 { throw ExitCode(status) }
    }
}
