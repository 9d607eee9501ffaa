// SPDX-License-Identifier: Apache-2.0
internal import NIOCore

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
/// Added to TCP client connections where the option exists (``isAvailable``), not to Unix-domain
/// ones.
final class QuickAckHandler: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny

    /// Whether TCP client connections get this handler: TCP_QUICKACK is Linux's.
    static var isAvailable: Bool {
        #if os(Linux)
            true
        #else
            false
        #endif
    }

    func flush(context: ChannelHandlerContext) {
        context.flush()
        #if os(Linux)
            _ = try? context.channel.syncOptions?.setOption(.tcpOption(.init(rawValue: CInt(TCP_QUICKACK))), value: 1)
        #endif
    }
}

extension NetworkProcess {
    /// Whether TCP client connections set TCP_QUICKACK after each flush (on Linux; see
    /// `QuickAckHandler`), for reports that list the socket options in use.
    public static var setsQuickAckAfterFlush: Bool { QuickAckHandler.isAvailable }
}
