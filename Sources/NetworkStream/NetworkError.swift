// SPDX-License-Identifier: Apache-2.0
public import GnuTLSNIO

/// The waits of a connection, each with its own deadline. An error names the one that ran out.
public enum Wait: String, Sendable, Hashable, CustomStringConvertible {
    case connect
    case greeting
    case capabilities
    case starttlsReply = "starttls-reply"
    case handshake
    case expect
    case silence
    case peerClose = "peer-close"

    /// What the wait was for, in words.
    public var description: String {
        switch self {
        case .connect: "the TCP connect"
        case .greeting: "the server's greeting"
        case .capabilities: "the capability response"
        case .starttlsReply: "the reply to the STARTTLS command"
        case .handshake: "the TLS handshake"
        case .expect: "the expected pattern"
        case .silence: "a quiet period with nothing received"
        case .peerClose: "the peer to close the connection"
        }
    }
}

/// Why an engine call failed.
public struct NetworkError: Error, Sendable, CustomStringConvertible {
    /// The class of failure.
    public enum Kind: Sendable, Equatable {
        /// The TCP connection could not be made (refused, unreachable, name not resolved).
        case connectFailed
        /// A deadline ran out; `wait` says which.
        case timeout
        /// The peer closed the connection before the awaited data arrived.
        case closedByPeer
        /// The connection is not open (closed earlier, or never connected).
        case notOpen
        /// TLS failed: handshake, verification, or a record error.
        case tls
        /// The receive buffer reached its bound while a match still needed the data.
        case bufferLimit
        /// The server refused to start TLS.
        case starttlsRefused
        /// Another wait is already in progress on this connection.
        case busy
        /// The call's arguments are wrong (Emacs signals an error before connecting).
        case invalidArgument
        /// Bytes arrived while the scenario expected none.
        case unexpectedData
    }

    /// The class of failure.
    public var kind: Kind
    /// The wait whose deadline ran out or that was interrupted, if any.
    public var wait: Wait?
    /// The deadline of that wait.
    public var deadline: Duration?
    /// What happened, in one sentence.
    public var message: String
    /// The last bytes received and not consumed, for the report.
    public var tail: [UInt8]
    /// The TLS failure, for `.tls`.
    public var tlsError: GnuTLSError?

    /// Creates an error.
    public init(
        _ kind: Kind,
        wait: Wait? = nil,
        deadline: Duration? = nil,
        message: String,
        tail: [UInt8] = [],
        tlsError: GnuTLSError? = nil
    ) {
        self.kind = kind
        self.wait = wait
        self.deadline = deadline
        self.message = message
        self.tail = tail
        self.tlsError = tlsError
    }

    /// The message, with the wait and deadline when there is one.
    public var description: String { message }
}

extension Duration {
    /// The duration as seconds, printed compactly (`5s`, `0.25s`).
    public var secondsText: String {
        let (seconds, attoseconds) = components
        let value = Double(seconds) + Double(attoseconds) / 1e18
        if value == value.rounded() { return "\(Int64(value))s" }
        return "\((value * 1000).rounded() / 1000)s"
    }
}
