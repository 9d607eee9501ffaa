// SPDX-License-Identifier: Apache-2.0
internal import NetworkStream
import Scenario

extension Failure {
    /// A step's failure for an engine error: its class, the wait and deadline, and (for a wait
    /// that saw bytes) the bytes received and not matched, secrets hidden by `hide`.
    init(_ error: NetworkError, at location: SourceLocation, expected: String?, hide: ([UInt8]) -> [UInt8]) {
        let showTail = error.kind == .starttlsRefused || !error.tail.isEmpty || error.wait == .expect
        self.init(
            Self.kind(of: error),
            at: location,
            error.message,
            expected: expected,
            wait: error.wait.map(WaitKind.init),
            deadline: error.deadline,
            tail: showTail ? hide(error.tail) : nil
        )
    }

    /// Whether an engine error means "the dialog did not go as the scenario expects" or "the
    /// connection itself broke".
    static func kind(of error: NetworkError) -> Kind {
        switch error.kind {
        case .timeout:
            return error.wait == .connect || error.wait == .handshake ? .runtime : .expectation
        case .closedByPeer:
            return error.wait == .handshake || error.wait == nil ? .runtime : .expectation
        case .starttlsRefused, .unexpectedData:
            return .expectation
        case .connectFailed, .notOpen, .tls, .bufferLimit, .busy, .invalidArgument:
            return .runtime
        }
    }

    /// The failure with what helps to look into it: the commands that repeat its connection by
    /// hand (none for a connection to an embedded server, which is gone when the run ends), and
    /// the variables the run had set (`secrets` as `****`, other secrets hidden by `hide`).
    func enriched(
        target: ConnectionTarget?,
        embeddedServers: [(host: String, port: Int)],
        runtime: [String: String],
        secrets: Set<String>,
        hide: (String) -> String
    ) -> Failure {
        var described = self
        if let target, !embeddedServers.contains(where: { $0.host == target.host && $0.port == target.port }) {
            described.reproduce = Reproducer.commands(target).map(hide)
        }
        for (variable, value) in runtime {
            described.variables[variable] = secrets.contains(variable) ? "****" : hide(value)
        }
        return described
    }
}
