// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import GnuTLSNIO
import Patterns

/// `parley version`: Parley's version and the libraries it runs on.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the versions of Parley, GnuTLS and PCRE2."
    )

    func run() {
        print("parley \(ParleyVersion.string)")
        print("GnuTLS \(GnuTLSLibrary.runtimeVersion)")
        print("PCRE2 \(BytePattern.libraryVersion)")
    }
}
