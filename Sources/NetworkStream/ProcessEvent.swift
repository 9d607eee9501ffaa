// SPDX-License-Identifier: Apache-2.0
public import GnuTLSNIO

/// The status of a connection, named as Emacs's `process-status` names it.
public enum ProcessStatus: String, Sendable, Hashable {
    case connect
    case open
    case closed
    case failed
    case stop
    case listen
}

/// What happened on a connection, in order; the transcript is built from these.
public enum ProcessEvent: Sendable {
    /// The TCP connection is up.
    case connected(local: String, remote: String)
    /// Bytes were written (inside TLS when `tls`).
    case sent([UInt8], tls: Bool)
    /// Bytes arrived (inside TLS when `tls`).
    case received([UInt8], tls: Bool)
    /// The TLS handshake began.
    case handshakeStarted(serverName: String?)
    /// The TLS handshake finished.
    case tlsEstablished(TLSSessionInfo)
    /// Plaintext that arrived after the STARTTLS go-ahead and was thrown away unread.
    case discarded([UInt8])
    /// The connection closed.
    case closed(byPeer: Bool)
}

/// A view of a connection's state at one moment.
public struct ProcessSnapshot: Sendable {
    /// The connection status.
    public var status: ProcessStatus
    /// The TLS session, once a handshake has completed.
    public var tls: TLSSessionInfo?
    /// Plaintext bytes discarded after STARTTLS go-aheads.
    public var discardedBytes: Int
    /// Bytes received and not yet consumed by a match.
    public var bufferedBytes: Int
}
