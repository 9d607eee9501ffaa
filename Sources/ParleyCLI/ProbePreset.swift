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
