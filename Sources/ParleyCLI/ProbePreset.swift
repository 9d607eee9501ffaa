// SPDX-License-Identifier: Apache-2.0
import NetworkStream
import Scenario

/// What `parley probe --preset NAME` fills in: open-network-stream's keywords, taken from the
/// scenario preset of that name (``Preset``, Sources/Scenario/Preset.swift), with one value of
/// Emacs's where open-network-stream needs a different one. Options given on the command line
/// win over each of these.
struct ProbeDialog: Sendable, Equatable {
    /// `:capability-command`, with `${client-name}` and `${server-name}` expanded.
    var capabilityCommand: [UInt8]
    /// `:end-of-command`: ends the greeting and the reply to STARTTLS.
    var endOfCommand: String
    /// `:end-of-capability`.
    var endOfCapability: String
    /// The capability response that offers STARTTLS; nil when the preset knows none.
    var starttlsWhen: String?
    /// The STARTTLS command.
    var starttlsCommand: [UInt8]
    /// `:success`: the STARTTLS reply that means go ahead.
    var success: String
    /// `:nogreeting`: the client speaks first (XMPP).
    var noGreeting: Bool
}

extension Preset {
    /// What the probe sends for `${client-name}` in a capability command (`EHLO localhost`,
    /// `LHLO localhost`); scenarios default to `parley.test`, the probe has always said
    /// `localhost`.
    static let probeClientName = "localhost"

    /// Emacs's `:end-of-command` for IMAP (nnimap's `"\r\n"`, with the CR optional as the probe
    /// always had it). open-network-stream reads the greeting *and* the reply to STARTTLS up to
    /// `:end-of-command`; IMAP's greeting is untagged (`* OK`) and the reply is tagged (`P2 OK`),
    /// so the scenario preset, which has a pattern for each, has none that ends both.
    static let emacsIMAPEndOfCommand = #"\r?\n"#

    /// The keywords the probe uses for this preset.
    ///
    /// - Parameter host: the host connected to, for `${server-name}` (XMPP's `to`).
    /// - Returns: the dialog.
    /// - Throws: `TemplateError` when the preset's capability or STARTTLS command names a variable
    ///   other than `client-name` and `server-name`.
    func probeDialog(host: String) throws(TemplateError) -> ProbeDialog {
        let location = SourceLocation(file: "--preset \(name)", line: 1, column: 1)
        let variables = ["client-name": Self.probeClientName, "server-name": host]
        func expand(_ text: String) throws(TemplateError) -> [UInt8] {
            Array(try Template(text, at: location).expand { variables[$0] }.utf8)
        }
        let endOfCommand: String
        if name == Preset.imap.name {
            endOfCommand = Self.emacsIMAPEndOfCommand
        } else {
            // One pattern for the greeting and the STARTTLS reply: every other preset's greeting
            // pattern also ends its reply; a server that does not speak first (XMPP) has only
            // the reply.
            endOfCommand = greeting ?? starttlsReply
        }
        return ProbeDialog(
            capabilityCommand: try expand(capabilityCommand),
            endOfCommand: endOfCommand,
            endOfCapability: endOfCapabilities,
            // As the scenario loader's `open` does with the capability word.
            starttlsWhen: starttlsOffer ?? starttlsCapability.map { "\\b\($0)\\b" },
            starttlsCommand: try expand(starttlsCommand),
            success: starttlsSuccess,
            noGreeting: greeting == nil
        )
    }
}
