// SPDX-License-Identifier: Apache-2.0
public import ArgumentParser

/// The `parley` command: runs protocol scenarios and serves fake mail servers.
public struct Parley: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "Script and check protocol dialogs: connect, expect, STARTTLS, assert.",
        discussion: """
            Exit status of 'run': 0 every scenario passed; 1 a scenario failed; 2 a scenario \
            file has errors; 3 a scenario could not run (for example its embedded server did \
            not start); 64 bad command-line usage.
            """,
        version: ParleyVersion.string,
        subcommands: [RunCommand.self, ServeCommand.self, VersionCommand.self, ProbeCommand.self]
    )

    public init() {}
}

/// Parley's own version.
public enum ParleyVersion {
    /// The version string.
    public static let string = "0.1.0"
}

/// The executable's entry point.
public enum ParleyMain {
    /// Parses the command line, runs the command, and exits with its status.
    public static func run() async {
        await Parley.main()
    }
}
