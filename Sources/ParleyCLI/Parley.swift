// SPDX-License-Identifier: Apache-2.0
public import ArgumentParser
import Foundation

/// The `parley` command: runs protocol scenarios and serves fake mail servers.
public struct Parley: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "Script and check protocol dialogs: connect, expect, STARTTLS, assert.",
        discussion: exitStatusHelp,
        version: ParleyVersion.string,
        subcommands: [
            RunCommand.self, CheckCommand.self, ProbeCommand.self, ServeCommand.self, TestClientCommand.self, RecordCommand.self,
            VersionCommand.self,
        ]
    )

    public init() {}
}

/// The exit statuses of `parley run`, for `--help`.
let exitStatusHelp = """
    Exit status: 0 every scenario passed; 1 an expectation or assertion failed; 2 an invalid \
    scenario or bad usage, nothing run; 3 a connection or runtime error that the scenario did not \
    expect; 130 or 143 interrupted by SIGINT or SIGTERM (reports are still written).
    """

/// Parley's own version.
///
/// A plain `swift build` gives ``base`` with `-dev`; `ci/install` and `ci/package` build with
/// `-Xswiftc -DPARLEY_STAMPED_VERSION` and a generated, git-ignored `StampedVersion.swift` (written
/// by `ci/version --swift`) that holds the version `git describe` gives, in Debian's form.
public enum ParleyVersion {
    /// The release the source tree is on its way to; `ci/version` reads it from here.
    public static let base = "0.1.0"

    #if PARLEY_STAMPED_VERSION
        /// The version string: the one stamped by `ci/version`.
        public static let string = stamped
    #else
        /// The version string: an unstamped build from a source tree.
        public static let string = base + "-dev"
    #endif
}

/// The executable's entry point.
public enum ParleyMain {
    /// Parses the command line, runs the command, and exits with its status.
    ///
    /// Usage errors exit with 2 (ArgumentParser's default is 64), so that "invalid input,
    /// nothing run" has one status whether the problem is in a flag or in a scenario file.
    public static func run() async {
        do {
            var command = try Parley.parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if Parley.exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((Parley.fullMessage(for: error) + "\n").utf8))
                Parley.exit(withError: ExitCode(RunFrontend.Status.invalid))
            }
            Parley.exit(withError: error)
        }
    }
}
