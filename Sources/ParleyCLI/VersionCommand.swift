// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import GnuTLSNIO
import Patterns

/// `parley version [--json]`: Parley's version, the libraries it runs on, and the TLS
/// availability report (Emacs's `gnutls-available-p`).
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the versions of Parley, GnuTLS, PCRE2 and libyaml, and what GnuTLS offers."
    )

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() {
        print(json ? VersionReport.json() : VersionReport.text(), terminator: "")
    }
}

/// The text of `parley version`, testable without a process.
public enum VersionReport {
    /// libyaml is compiled into Yams, which does not expose its version to Parley's modules.
    static let libyaml = "bundled with Yams (version not exposed)"

    /// The report for people.
    public static func text() -> String {
        let tls = GnuTLSLibrary.availability
        return """
            parley \(ParleyVersion.string)
            GnuTLS \(GnuTLSLibrary.runtimeVersion)
            PCRE2 \(BytePattern.libraryVersion)
            libyaml \(libyaml)
            TLS protocols: \(tls.protocols.joined(separator: " "))
            TLS ciphers: \(tls.ciphers.joined(separator: " "))
            TLS MACs: \(tls.macs.joined(separator: " "))
            TLS key exchanges: \(tls.keyExchanges.joined(separator: " "))
            TLS groups: \(tls.groups.joined(separator: " "))
            TLS features: \(tls.features.joined(separator: ", "))

            """
    }

    /// The report as one JSON object.
    public static func json() -> String {
        let tls = GnuTLSLibrary.availability
        func string(_ text: String) -> String { JSONText.string(Array(text.utf8)) }
        func list(_ items: [String]) -> String { "[" + items.map(string).joined(separator: ",") + "]" }
        let available = [
            "\"version\":\(string(tls.version))",
            "\"protocols\":\(list(tls.protocols))",
            "\"ciphers\":\(list(tls.ciphers))",
            "\"macs\":\(list(tls.macs))",
            "\"key_exchanges\":\(list(tls.keyExchanges))",
            "\"groups\":\(list(tls.groups))",
            "\"features\":\(list(tls.features))",
        ].joined(separator: ",")
        return "{\"parley\":\(string(ParleyVersion.string)),\"gnutls\":\(string(GnuTLSLibrary.runtimeVersion)),"
            + "\"pcre2\":\(string(BytePattern.libraryVersion)),\"libyaml\":\(string(libyaml)),"
            + "\"tls\":{\(available)}}\n"
    }
}
