// SPDX-License-Identifier: Apache-2.0
public import Scenario

/// Starts the servers a scenario embeds (its `server:` blocks). The runner knows servers only
/// through this protocol; the command line supplies the implementation (the fake mail servers,
/// in the `MailServerProvider` module), so the runner does not depend on them.
public protocol EmbeddedServerProvider: Sendable {
    /// Checks a fault knob (`NAME` or `NAME=VALUE`) when a scenario is loaded.
    ///
    /// - Returns: nil when the knob is valid, else what is wrong with it.
    func checkFault(_ knob: String) -> String?

    /// Starts one server on 127.0.0.1 and a free port.
    ///
    /// - Parameters:
    ///   - server: the `server:` block.
    ///   - certificate: its certificate chain file, resolved against the scenario's folder, or nil
    ///     for the provider's default.
    ///   - key: the private key file, likewise.
    /// - Returns: the running server.
    /// - Throws: ``EmbeddedServerError`` saying what went wrong, in one sentence.
    func start(_ server: EmbeddedServer, certificate: String?, key: String?) async throws(EmbeddedServerError)
        -> any RunningServer
}

/// A server started for a scenario.
public protocol RunningServer: Sendable {
    /// The address it listens on.
    var host: String { get }
    /// The port it listens on.
    var port: Int { get }
    /// Stops it; connections it accepted are closed.
    func stop() async
}

/// Why an embedded server could not start, in one sentence ("bad fault knob: …").
public struct EmbeddedServerError: Error, Sendable, CustomStringConvertible {
    /// The sentence.
    public var message: String

    /// An error with this sentence.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
