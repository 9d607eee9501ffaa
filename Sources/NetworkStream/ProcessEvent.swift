// SPDX-License-Identifier: Apache-2.0
public import GnuTLSNIO

/// The status of a connection, named as Emacs's `process-status` names it.
///
/// Reported in Emacs's order: `closed` once exited (deleted, or closed by the peer); `stop` while
/// stopped; then `open` (network) or `run` (a shell connection's child), `listen` (stream
/// server), `connect` (non-blocking connect in progress), `failed`.
public enum ProcessStatus: String, Sendable, Hashable {
    case connect
    case open
    case closed
    case failed
    case stop
    case listen
    /// A shell connection (`process-type` `real`) that is running.
    case run
}

/// What kind of process this is, as Emacs's `process-type` says.
public enum ProcessType: String, Sendable, Hashable {
    /// A TCP or Unix-socket client, server, accepted connection, or datagram socket.
    case network
    /// A child process (the `shell` connection type).
    case real
}

/// Why a process ended, as Emacs's `process-exit-status` gives it.
public enum ExitStatus: Sendable, Hashable, CustomStringConvertible {
    /// A number: 0 after delete, 256 after the peer closed, an errno after a failed connect.
    case code(Int)
    /// A message, for TLS failures ("TLS negotiation failed").
    case message(String)

    /// The value as Emacs prints it with `%s`.
    public var description: String {
        switch self {
        case .code(let code): "\(code)"
        case .message(let text): text
        }
    }
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
    /// The process's name.
    public var name: String = ""
    /// `network`, or `real` for a shell connection.
    public var type: ProcessType = .network
    /// Why it ended, once it has.
    public var exitStatus: ExitStatus?
    /// Whether it is stopped (Emacs's `process-command` is then `t`).
    public var stopped: Bool = false
    /// The contact: host, service and the local and remote addresses.
    public var contact: ProcessContact = ProcessContact()
    /// The user plist.
    public var plist: [String: String] = [:]
}

/// Emacs's `process-contact` with its `:host`, `:service`, `:local` and `:remote` entries.
public struct ProcessContact: Sendable, Equatable {
    /// The host as given (or the peer's address for an accepted connection).
    public var host: String?
    /// The service: the port (as chosen, for a server on port 0), or a Unix socket path.
    public var service: String?
    /// Whether this is a server.
    public var server: Bool = false
    /// The local address, `127.0.0.1:4321`, `[::1]:4321`, or a socket path.
    public var local: String?
    /// The remote address.
    public var remote: String?
    /// The local port, when there is one.
    public var localPort: Int?

    /// Creates an empty contact.
    public init() {}
}
