// SPDX-License-Identifier: Apache-2.0

internal import CGnuTLS
internal import NIOCore

/// The memory "socket" under a GnuTLS session: ciphertext from the network waits in ``inbound``
/// until GnuTLS pulls it, and everything GnuTLS pushes collects in ``outbound`` until the handler
/// writes it to the channel.
///
/// Collecting pushes instead of writing each one is what lets the handler send one buffer per
/// flush: GnuTLS pushes a record header and body, or several handshake messages, separately, and
/// each small TCP write risks a Nagle/delayed-ACK stall.
final class ByteBufferTransport {
    /// Ciphertext received from the network and not yet consumed by GnuTLS.
    private(set) var inbound: ByteBuffer
    /// Ciphertext GnuTLS produced and the handler has not yet written.
    private(set) var outbound: ByteBuffer
    /// The session whose errno the pull function sets; `nil` until the session is attached.
    var session: OpaquePointer?
    private let allocator: ByteBufferAllocator

    /// Creates empty buffers from the channel's allocator.
    init(allocator: ByteBufferAllocator) {
        self.allocator = allocator
        self.inbound = allocator.buffer(capacity: 0)
        self.outbound = allocator.buffer(capacity: 0)
    }

    /// Queues ciphertext read from the network for GnuTLS to pull.
    func receive(_ buffer: ByteBuffer) {
        var buffer = buffer
        if self.inbound.readableBytes == 0 {
            // Nothing pending: adopt the buffer as it is instead of copying it.
            self.inbound = buffer
        } else {
            self.inbound.writeBuffer(&buffer)
        }
    }

    /// The number of received ciphertext bytes GnuTLS has not consumed.
    var pendingInboundBytes: Int { self.inbound.readableBytes }

    /// Hands over everything GnuTLS pushed since the last call, or `nil` if it pushed nothing.
    func takeOutbound() -> ByteBuffer? {
        guard self.outbound.readableBytes > 0 else { return nil }
        let result = self.outbound
        self.outbound = self.allocator.buffer(capacity: 0)
        return result
    }

    /// Drops buffered ciphertext in both directions.
    func reset() {
        self.inbound.clear()
        self.outbound.clear()
    }

    /// Installs the push, pull and pull-timeout callbacks on `session`.
    ///
    /// GnuTLS keeps only an unretained pointer to this object: the ``GnuTLSSession`` owns both the
    /// transport and the `gnutls_session_t` and deinitialises the session first, so the pointer
    /// never dangles and no reference cycle needs breaking.
    func attach(to session: OpaquePointer) {
        self.session = session
        gnutls_transport_set_ptr(session, Unmanaged.passUnretained(self).toOpaque())
        gnutls_transport_set_push_function(session) { pointer, data, count in
            guard let pointer else { return -1 }
            let transport = Unmanaged<ByteBufferTransport>.fromOpaque(pointer).takeUnretainedValue()
            return transport.push(UnsafeRawBufferPointer(start: data, count: count))
        }
        gnutls_transport_set_pull_function(session) { pointer, data, count in
            guard let pointer else { return -1 }
            let transport = Unmanaged<ByteBufferTransport>.fromOpaque(pointer).takeUnretainedValue()
            return transport.pull(UnsafeMutableRawBufferPointer(start: data, count: count))
        }
        // The manual says a pull-timeout function must accompany a custom pull function. With
        // GNUTLS_NONBLOCK it is not consulted for TLS, but answer truthfully anyway: 1 when bytes
        // are waiting, 0 otherwise.
        gnutls_transport_set_pull_timeout_function(session) { pointer, _ in
            guard let pointer else { return 0 }
            let transport = Unmanaged<ByteBufferTransport>.fromOpaque(pointer).takeUnretainedValue()
            return transport.inbound.readableBytes > 0 ? 1 : 0
        }
    }

    /// The push callback: always accepts everything.
    ///
    /// - Returns: The number of bytes taken (all of them).
    private func push(_ bytes: UnsafeRawBufferPointer) -> Int {
        self.outbound.writeBytes(bytes)
        return bytes.count
    }

    /// The pull callback: copies as much buffered ciphertext as fits.
    ///
    /// - Returns: The number of bytes copied, or -1 with errno EAGAIN when nothing is buffered.
    ///   Never 0: to GnuTLS 0 means the peer closed TCP, which it reports as a premature
    ///   termination. End of stream is the handler's business (`channelInactive`).
    private func pull(_ destination: UnsafeMutableRawBufferPointer) -> Int {
        let available = self.inbound.readableBytes
        guard available > 0 else {
            if let session = self.session {
                gnutls_transport_set_errno(session, cgnutls_eagain())
            }
            return -1
        }
        let count = min(available, destination.count)
        self.inbound.withUnsafeReadableBytes { source in
            destination.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: count)
        }
        self.inbound.moveReaderIndex(forwardBy: count)
        if self.inbound.readableBytes == 0 {
            // Reuse the storage from the start instead of letting it grow.
            self.inbound.clear()
        }
        return count
    }
}
