// SPDX-License-Identifier: Apache-2.0
public import NIOCore

#if canImport(Glibc)
    internal import Glibc
#endif

/// Turns on TCP_QUICKACK after every flush, so that what the peer sends next is acknowledged at
/// once instead of after the delayed-ACK timer (40 ms on Linux).
///
/// A client that sends a command and then only waits enters Linux's "ping-pong" mode, where ACKs
/// wait to ride on the next data it sends. A server with Nagle's algorithm on that answers in two
/// writes (Postfix after a TLS 1.3 handshake: its session tickets, then the EHLO reply) holds the
/// second write until the first is acknowledged: 40 ms per session. The flag is not sticky (the
/// kernel drops it as it sees fit), hence once per flush: one `setsockopt` per command sent.
///
/// Servers meet the same timer from the other side: a TLS 1.3 client with Nagle's algorithm on
/// (Python's smtplib, swaks) sends its Finished and then its next command; GnuTLS's server has
/// nothing to answer the Finished with (its session tickets left with its own flight), so the
/// kernel delays the ACK, and the client's command waits for it: 40 ms per STARTTLS session.
/// With this handler the server acknowledges the Finished at once.
///
/// The engine adds it to TCP client connections and the mail servers to accepted connections
/// where the option exists (``isAvailable``), not to Unix-domain ones.
public final class QuickAckHandler: ChannelOutboundHandler {
    public typealias OutboundIn = NIOAny

    /// Called after each flush that set the option (tests watch the handshake's flushes pass).
    private let onFlush: (@Sendable () -> Void)?

    /// Creates the handler.
    ///
    /// - Parameter onFlush: called after each flush, once the option is set.
    public init(onFlush: (@Sendable () -> Void)? = nil) {
        self.onFlush = onFlush
    }

    /// Whether TCP connections get this handler: TCP_QUICKACK is Linux's.
    public static var isAvailable: Bool {
        #if os(Linux)
            true
        #else
            false
        #endif
    }

    public func flush(context: ChannelHandlerContext) {
        context.flush()
        #if os(Linux)
            _ = try? context.channel.syncOptions?.setOption(.tcpOption(.init(rawValue: CInt(TCP_QUICKACK))), value: 1)
        #endif
        onFlush?()
    }
}

@available(*, unavailable)
extension QuickAckHandler: Sendable {}
