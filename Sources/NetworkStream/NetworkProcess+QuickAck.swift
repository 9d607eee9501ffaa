// SPDX-License-Identifier: Apache-2.0
internal import GnuTLSNIO

extension NetworkProcess {
    /// Whether TCP client connections set TCP_QUICKACK after each flush (on Linux; see
    /// `QuickAckHandler`), for reports that list the socket options in use.
    public static var setsQuickAckAfterFlush: Bool { QuickAckHandler.isAvailable }
}
