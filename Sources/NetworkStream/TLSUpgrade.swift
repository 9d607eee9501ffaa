// SPDX-License-Identifier: Apache-2.0
internal import GnuTLSNIO
internal import Patterns

/// Upgrades a connection to TLS in place after a STARTTLS command: sends the command, reads the
/// reply, and on a go-ahead runs the handshake, discarding (and reporting) any plaintext that
/// followed the go-ahead.
///
/// Two providers implement it: the built-in one (``BuiltinTLSUpgrade``, GnuTLS in the process's
/// own pipeline) and the external one (``ExternalTLSHelper``, `gnutls-cli --starttls` told to
/// start TLS with SIGALRM).
protocol TLSUpgrade: Sendable {
    /// Which provider this is, for the result.
    var provider: StreamParameters.TLSProvider { get }

    /// Sends `command` on `process`, reads the reply (the end of it matched by `reply`) and, when
    /// `success` matches it, completes a handshake.
    ///
    /// - Throws: `NetworkError` (`.starttlsRefused` with the reply in `tail`, `.timeout`, `.tls`).
    func startTLS(
        on process: NetworkProcess,
        command: [UInt8],
        reply: BytePattern,
        success: BytePattern,
        replyTimeout: Duration,
        handshakeTimeout: Duration
    ) async throws(NetworkError) -> NetworkProcess.StartTLSResult
}

/// The built-in provider: the GnuTLS handler inserted at the front of the process's pipeline in
/// the same event-loop turn as the go-ahead's match.
struct BuiltinTLSUpgrade: TLSUpgrade {
    /// The credentials and settings.
    var context: GnuTLSContext
    /// The name to verify and send as SNI.
    var serverHostname: String?

    var provider: StreamParameters.TLSProvider { .builtin }

    func startTLS(
        on process: NetworkProcess,
        command: [UInt8],
        reply: BytePattern,
        success: BytePattern,
        replyTimeout: Duration,
        handshakeTimeout: Duration
    ) async throws(NetworkError) -> NetworkProcess.StartTLSResult {
        try await process.startTLS(
            command: command,
            reply: reply,
            success: success,
            context: context,
            serverHostname: serverHostname,
            replyTimeout: replyTimeout,
            handshakeTimeout: handshakeTimeout
        )
    }
}

/// The external provider: ``ExternalTLSHelper/startTLS(on:command:reply:success:replyTimeout:handshakeTimeout:)``
/// tells `gnutls-cli` to start TLS with SIGALRM and reads its report.
extension ExternalTLSHelper: TLSUpgrade {
    var provider: StreamParameters.TLSProvider { .external }
}
