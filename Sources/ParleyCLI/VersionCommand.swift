// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import GnuTLSNIO
import Patterns
import Reporting

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

    /// The report as one JSON object on one line (``VersionJSON``, keys sorted), with a newline.
    public static func json() -> String {
        // Strings and arrays of strings always encode.
        ((try? JSONOutput.string(VersionJSON.current, pretty: false)) ?? "{}") + "\n"
    }
}

/// What `parley version --json` prints: `parley`, `gnutls`, `pcre2`, `libyaml` (versions), and
/// `tls`, what this GnuTLS offers (`version`, `protocols`, `ciphers`, `macs`, `key_exchanges`,
/// `groups`, `features`).
struct VersionJSON: Encodable {
    /// What GnuTLS offers, as `gnutls-available-p` lists it.
    struct Available: Encodable {
        var version: String
        var protocols: [String]
        var ciphers: [String]
        var macs: [String]
        var keyExchanges: [String]
        var groups: [String]
        var features: [String]

        enum CodingKeys: String, CodingKey {
            case version, protocols, ciphers, macs
            case keyExchanges = "key_exchanges"
            case groups, features
        }
    }

    var parley: String
    var gnutls: String
    var pcre2: String
    var libyaml: String
    var tls: Available

    /// The versions and the TLS on offer in this process.
    static var current: VersionJSON {
        let tls = GnuTLSLibrary.availability
        return VersionJSON(
            parley: ParleyVersion.string,
            gnutls: GnuTLSLibrary.runtimeVersion,
            pcre2: BytePattern.libraryVersion,
            libyaml: VersionReport.libyaml,
            tls: Available(
                version: tls.version, protocols: tls.protocols, ciphers: tls.ciphers, macs: tls.macs,
                keyExchanges: tls.keyExchanges, groups: tls.groups, features: tls.features
            )
        )
    }
}
