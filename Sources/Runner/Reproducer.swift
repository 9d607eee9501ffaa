// SPDX-License-Identifier: Apache-2.0
import Foundation
internal import GnuTLSNIO
import Scenario

/// What is known of a connection to repeat it by hand: where it went and how TLS was set up.
struct ConnectionTarget: Sendable, Equatable {
    /// The TLS settings of the connection (implicit TLS or the latest STARTTLS).
    struct TLS: Sendable, Equatable {
        /// The CA file, resolved; nil for the system store.
        var caFile: String?
        /// The name sent as SNI and verified.
        var serverName: String?
        /// ALPN protocols offered.
        var alpn: [String] = []
        /// A GnuTLS priority string, when the scenario gives one.
        var priority: String?
        /// Verification off.
        var insecure = false
    }

    /// The host connected to.
    var host: String
    /// The port.
    var port: Int
    /// TLS from the first byte.
    var implicitTLS = false
    /// The STARTTLS protocol (`openssl s_client -starttls` and `gnutls-cli --starttls-proto`
    /// name), once a STARTTLS step ran on the connection; "" for a STARTTLS dialog that neither
    /// tool knows.
    var startTLSProtocol: String?
    /// The TLS settings, once TLS is set up.
    var tls: TLS?
}

/// Commands that open the same connection outside Parley — `openssl s_client`, `gnutls-cli`, or
/// `nc` for a connection without TLS — printed with a failure so that it can be looked at by hand
/// (hurl users asked for the curl equivalent; swaks users for the name that was verified).
enum Reproducer {
    /// The `-starttls` / `--starttls-proto` name of a preset's STARTTLS dialog.
    static func startTLSProtocol(preset: Preset?, command: Template) -> String {
        guard let preset else {
            // Without a preset, STARTTLS speaks SMTP unless the step changed the command.
            return command.raw == Preset.smtp.starttlsCommand ? "smtp" : ""
        }
        guard command.raw == preset.starttlsCommand else { return "" }
        switch preset.name {
        case "smtp", "submission": return "smtp"
        case "lmtp", "imap", "pop3", "sieve", "nntp", "ftp", "xmpp": return preset.name
        default: return ""
        }
    }

    /// The commands for a target, most useful first.
    static func commands(_ target: ConnectionTarget) -> [String] {
        let host = target.host
        guard let tls = target.tls, target.implicitTLS || target.startTLSProtocol.map({ !$0.isEmpty }) == true else {
            // No TLS, or a STARTTLS dialog the tools do not know: the plain connection.
            return ["nc -C \(shellWord(host)) \(target.port)"]
        }
        let proto = target.startTLSProtocol ?? ""
        var openssl = [
            "openssl", "s_client", "-connect", shellWord(host.contains(":") ? "[\(host)]:\(target.port)" : "\(host):\(target.port)"),
        ]
        if !proto.isEmpty { openssl += ["-starttls", proto] }
        // An address is checked against the certificate's IP entries and never sent as SNI.
        let address = tls.serverName.map(TLSConfiguration.isIPLiteral) ?? false
        if let name = tls.serverName, !address { openssl += ["-servername", shellWord(name)] }
        if let ca = tls.caFile { openssl += ["-CAfile", shellWord(ca)] }
        if !tls.alpn.isEmpty { openssl += ["-alpn", shellWord(tls.alpn.joined(separator: ","))] }
        if !tls.insecure {
            openssl += ["-verify_return_error"]
            if let name = tls.serverName { openssl += [address ? "-verify_ip" : "-verify_hostname", shellWord(name)] }
        }
        var gnutls = ["gnutls-cli"]
        if !proto.isEmpty { gnutls += ["--starttls-proto=\(proto)"] }
        gnutls += ["--port", "\(target.port)"]
        if let ca = tls.caFile { gnutls += ["--x509cafile", shellWord(ca)] }
        if let name = tls.serverName, name != host {
            gnutls += ["--sni-hostname", shellWord(name), "--verify-hostname", shellWord(name)]
        }
        for protocolName in tls.alpn { gnutls += ["--alpn", shellWord(protocolName)] }
        if let priority = tls.priority { gnutls += ["--priority", shellWord(priority)] }
        if tls.insecure { gnutls += ["--insecure"] }
        gnutls += [shellWord(host)]
        return [openssl.joined(separator: " "), gnutls.joined(separator: " ")]
    }

    /// A word as a POSIX shell reads it: as it is when it holds only safe characters, else in
    /// single quotes.
    static func shellWord(_ word: String) -> String {
        let safe = word.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "@%+=:,./_-".unicodeScalars.contains($0))
        }
        if safe && !word.isEmpty { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
