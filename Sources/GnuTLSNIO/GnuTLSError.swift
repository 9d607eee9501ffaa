// SPDX-License-Identifier: Apache-2.0

internal import CGnuTLS

/// A TLS failure: loading credentials, the handshake, verification, an alert, or the record layer.
///
/// The handler fires it through `errorCaught`; for handshake failures it then closes the channel.
/// `GNUTLS_E_AGAIN` and `GNUTLS_E_INTERRUPTED` are never errors: they only mean "more bytes needed".
public struct GnuTLSError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The broad class of the failure, for deciding what to do about it.
    public enum Kind: Sendable, Equatable {
        /// Loading credentials or parsing the priority string failed.
        case configuration
        /// GnuTLS reported a fatal error during the handshake.
        case handshakeFailed
        /// The peer's certificate was rejected; ``GnuTLSError/verificationProblems`` says why.
        case verificationFailed
        /// The peer sent a fatal alert; its name is in the message.
        case alertReceived
        /// The record layer failed after the handshake.
        case recordError
        /// The connection ended (TCP EOF) without the peer's close_notify.
        case uncleanShutdown
    }

    /// The broad class of the failure.
    public var kind: Kind
    /// The GnuTLS error code, or 0 when none applies.
    public var code: Int32
    /// Human-readable detail, including `gnutls_strerror` text or the alert name.
    public var message: String
    /// Certificate problems, one short phrase each (see ``TLSSessionInfo/verificationProblems``).
    public var verificationProblems: [String]

    /// Creates an error.
    public init(kind: Kind, code: Int32 = 0, message: String, verificationProblems: [String] = []) {
        self.kind = kind
        self.code = code
        self.message = message
        self.verificationProblems = verificationProblems
    }

    /// `kind: message`, plus the GnuTLS error name and the problems when present.
    public var description: String {
        var text = "\(self.kind.label): \(self.message)"
        if self.code != 0 {
            text += " [\(GnuTLSError.errorName(self.code)) \(self.code)]"
        }
        if !self.verificationProblems.isEmpty {
            text += " (\(self.verificationProblems.joined(separator: ", ")))"
        }
        return text
    }
}

// MARK: - Building errors from GnuTLS return codes

extension GnuTLSError {
    /// Makes an error from a GnuTLS return code, with `gnutls_strerror` as the message.
    ///
    /// - Parameters:
    ///   - kind: The class to report.
    ///   - code: The negative GnuTLS return code.
    ///   - context: What was being done, prefixed to the message (for example "loading trust file x").
    static func gnutls(_ kind: Kind, code: Int32, context: String? = nil) -> GnuTLSError {
        let text = GnuTLSError.errorText(code)
        let message = context.map { "\($0): \(text)" } ?? text
        return GnuTLSError(kind: kind, code: code, message: message)
    }

    /// `gnutls_strerror(code)` as a Swift string.
    static func errorText(_ code: Int32) -> String {
        guard let text = gnutls_strerror(code) else { return "unknown GnuTLS error" }
        return String(cString: text)
    }

    /// `gnutls_strerror_name(code)` (for example `GNUTLS_E_FATAL_ALERT_RECEIVED`) as a Swift string.
    static func errorName(_ code: Int32) -> String {
        guard let name = gnutls_strerror_name(code) else { return "GNUTLS_E_UNKNOWN" }
        return String(cString: name)
    }
}

extension GnuTLSError.Kind {
    /// Lower-case words for ``GnuTLSError/description``.
    fileprivate var label: String {
        switch self {
        case .configuration: return "TLS configuration error"
        case .handshakeFailed: return "TLS handshake failed"
        case .verificationFailed: return "TLS certificate verification failed"
        case .alertReceived: return "TLS alert received"
        case .recordError: return "TLS record error"
        case .uncleanShutdown: return "TLS unclean shutdown"
        }
    }
}
