// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation

/// `parley probe HOST SERVICE [options]`: open-network-stream with `:return-list`, from a shell.
///
/// The arguments are parsed by ``ProbeFrontend`` so that usage errors exit with status 2, as the
/// probe documents (ArgumentParser's own usage errors exit with 64).
struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Open a connection as Emacs's open-network-stream does and print what it returns.",
        discussion: ProbeFrontend.usage
    )

    @Argument(parsing: .captureForPassthrough, help: "HOST SERVICE [options]; see 'parley probe --help'.")
    var arguments: [String] = []

    func run() async throws {
        let frontend = ProbeFrontend(
            arguments: arguments,
            output: { FileHandle.standardOutput.write(Data($0.utf8)) },
            errorOutput: { FileHandle.standardError.write(Data($0.utf8)) }
        )
        let status = await frontend.run()
        if status != 0 { throw ExitCode(status) }
    }
}
