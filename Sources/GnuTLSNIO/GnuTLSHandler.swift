// SPDX-License-Identifier: Apache-2.0

internal import CGnuTLS
public import NIOCore
internal import NIOTLS

/// TLS over GnuTLS as one NIO channel handler, for both roles: ciphertext below, plaintext above.
///
/// Added to an active channel (STARTTLS) it starts the handshake at once in `handlerAdded`;
/// otherwise it starts in `channelActive`. Writes from above are buffered until the handshake
/// completes. When it does, the handler fires ``GnuTLSEvent/handshakeCompleted(_:)`` followed by
/// NIOTLS's `TLSUserEvent.handshakeCompleted(negotiatedProtocol:)`.
///
/// Failures are fired through `errorCaught` as ``GnuTLSError``; a failed handshake then closes the
/// channel. `close(mode: .all)` sends close_notify before closing; the peer's close_notify fires
/// ``GnuTLSEvent/closeNotifyReceived`` and closes the channel; a TCP EOF without close_notify
/// after the handshake is reported as ``GnuTLSError/Kind-swift.enum/uncleanShutdown``.
public final class GnuTLSHandler: ChannelInboundHandler, ChannelOutboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Where the connection is in its TLS life.
    private enum State {
        /// Added, but the channel is not active yet.
        case idle
        /// Handshake messages are being exchanged.
        case handshaking
        /// Application data flows both ways.
        case active
        /// We sent close_notify with `close(mode: .output)`; reads still flow.
        case outputClosed
        /// We are closing the channel (our close_notify, if any, is sent).
        case closing
        /// Finished: failed, closed, or removed.
        case closed
    }

    /// A write from above waiting for the handshake or for a flush.
    private struct BufferedWrite {
        var data: ByteBuffer
        var promise: EventLoopPromise<Void>?
    }

    /// Deliver decoded plaintext early once this much has piled up within one read burst.
    private static let plaintextDeliveryThreshold = 64 * 1024

    private let tlsContext: GnuTLSContext
    private let serverHostname: String?
    private var session: GnuTLSSession?
    private var state: State = .idle
    /// Writes not yet encrypted; the first `flushedWriteCount` of them have been flushed.
    private var bufferedWrites: [BufferedWrite] = []
    private var flushedWriteCount = 0
    /// A `close(mode: .output)` that arrived during the handshake, run once it completes.
    private var pendingOutputClose: EventLoopPromise<Void>?
    /// Plaintext decoded during the current read burst, delivered on `channelReadComplete`.
    private var plaintext: ByteBuffer?
    /// Whether this read burst produced plaintext (to keep a non-autoRead channel reading).
    private var deliveredPlaintextThisBurst = false

    /// The facts of the session, once the handshake has completed (read on the event loop).
    public private(set) var sessionInfo: TLSSessionInfo?

    /// Creates a handler for one connection.
    ///
    /// - Parameters:
    ///   - context: The loaded credentials; its configuration's role decides client or server.
    ///   - serverHostname: Client role only: sent as SNI unless it is an IP literal, and checked
    ///     against the peer certificate (DNS SAN or IP SAN) when `verifyPeer` is on. `nil`: no SNI
    ///     and no host-name check.
    public init(context: GnuTLSContext, serverHostname: String? = nil) {
        self.tlsContext = context
        self.serverHostname = serverHostname
    }

    // MARK: - Lifecycle

    /// Creates the GnuTLS session, and starts the handshake if the channel is already active
    /// (the STARTTLS case).
    public func handlerAdded(context: ChannelHandlerContext) {
        do {
            self.session = try GnuTLSSession(
                context: self.tlsContext,
                serverHostname: self.serverHostname,
                allocator: context.channel.allocator
            )
        } catch {
            self.state = .closed
            context.fireErrorCaught(error)
            context.close(promise: nil)
            return
        }
        self.plaintext = context.channel.allocator.buffer(capacity: 0)
        if context.channel.isActive {
            self.startHandshake(context: context)
        }
    }

    /// Fails anything still buffered and frees the GnuTLS session.
    public func handlerRemoved(context: ChannelHandlerContext) {
        self.failBufferedWrites(ChannelError.ioOnClosedChannel)
        self.state = .closed
        // Dropping the session deinitialises gnutls_session_t, which is the only holder of the
        // unretained transport pointer: nothing can call back into us after this.
        self.session = nil
    }

    // MARK: - Inbound

    /// Passes `channelActive` on, then starts the handshake.
    public func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        if case .idle = self.state {
            self.startHandshake(context: context)
        }
    }

    /// Feeds ciphertext to GnuTLS and advances the handshake or decodes application data.
    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        guard let session = self.session else { return }
        session.transport.receive(buffer)

        switch self.state {
        case .idle:
            // Bytes before channelActive cannot happen on a real channel; keep them for the handshake.
            break
        case .handshaking:
            self.doHandshakeStep(context: context)
        case .active, .outputClosed:
            self.decodeData(context: context)
        case .closing, .closed:
            // We are going away; ciphertext after that is of no use to anyone.
            session.transport.reset()
        }
    }

    /// Delivers the plaintext decoded during this read burst, then passes `channelReadComplete` on.
    public func channelReadComplete(context: ChannelHandlerContext) {
        self.deliverPlaintext(context: context)
        let producedPlaintext = self.deliveredPlaintextThisBurst
        self.deliveredPlaintextThisBurst = false
        context.fireChannelReadComplete()

        // A burst of handshake records or tickets produces no plaintext, so nothing above would
        // ask for more; with autoRead off the connection would stall. Ask on its behalf.
        switch self.state {
        case .handshaking, .active, .outputClosed:
            if !producedPlaintext, let autoRead = try? context.channel.syncOptions?.getOption(.autoRead), !autoRead {
                context.read()
            }
        default:
            break
        }
    }

    /// Reports an EOF that came without close_notify, then passes `channelInactive` on.
    public func channelInactive(context: ChannelHandlerContext) {
        let previous = self.state
        self.state = .closed
        self.deliverPlaintext(context: context)
        switch previous {
        case .handshaking:
            let error = GnuTLSError(
                kind: .handshakeFailed,
                code: GNUTLS_E_PREMATURE_TERMINATION,
                message: "connection closed during the TLS handshake"
            )
            self.failBufferedWrites(error)
            context.fireErrorCaught(error)
        case .active, .outputClosed:
            let error = GnuTLSError(
                kind: .uncleanShutdown,
                code: GNUTLS_E_PREMATURE_TERMINATION,
                message: "connection closed without a TLS close_notify"
            )
            self.failBufferedWrites(error)
            context.fireErrorCaught(error)
        case .idle, .closing, .closed:
            self.failBufferedWrites(ChannelError.ioOnClosedChannel)
        }
        context.fireChannelInactive()
    }

    // MARK: - Outbound

    /// Buffers plaintext; it is encrypted on the next flush once the handshake is done.
    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch self.state {
        case .idle, .handshaking, .active:
            self.bufferedWrites.append(BufferedWrite(data: self.unwrapOutboundIn(data), promise: promise))
        case .outputClosed:
            promise?.fail(ChannelError.outputClosed)
        case .closing, .closed:
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    /// Marks the buffered writes as flushed and, after the handshake, encrypts and sends them.
    public func flush(context: ChannelHandlerContext) {
        self.flushedWriteCount = self.bufferedWrites.count
        if case .active = self.state {
            self.flushBufferedWrites(context: context)
        }
    }

    /// Sends close_notify before closing the channel (or its output).
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .input:
            context.close(mode: mode, promise: promise)
        case .output:
            switch self.state {
            case .active:
                self.closeOutput(context: context, promise: promise)
            case .handshaking:
                // Half-closing TCP mid-handshake would break it; do it once the handshake is done.
                if let pending = self.pendingOutputClose {
                    promise.map { pending.futureResult.cascade(to: $0) }
                } else {
                    self.pendingOutputClose = promise ?? context.eventLoop.makePromise()
                }
            case .idle, .outputClosed, .closing, .closed:
                context.close(mode: mode, promise: promise)
            }
        case .all:
            let previous = self.state
            self.state = .closing
            self.failBufferedWrites(ChannelError.ioOnClosedChannel)
            if case .active = previous {
                self.session?.sendCloseNotify()
                self.writeCiphertext(context: context)
            } else if case .outputClosed = previous {
                // close_notify already went out with close(mode: .output).
            }
            context.close(mode: .all, promise: promise)
        }
    }

    // MARK: - Handshake

    /// Moves to `.handshaking` and produces the first flight (a ClientHello, for a client).
    private func startHandshake(context: ChannelHandlerContext) {
        self.state = .handshaking
        self.doHandshakeStep(context: context)
    }

    /// Runs `gnutls_handshake` once over the buffered ciphertext and acts on the result.
    private func doHandshakeStep(context: ChannelHandlerContext) {
        guard let session = self.session else { return }
        switch session.handshake() {
        case .incomplete:
            self.writeCiphertext(context: context)
        case .complete:
            self.writeCiphertext(context: context)
            self.completeHandshake(context: context, session: session)
        case .failed(let error):
            self.fail(error, context: context)
        }
    }

    /// Reports the session, then decodes application data that came with the final flight, and
    /// only then releases writes buffered during the handshake (reads may trigger writes).
    private func completeHandshake(context: ChannelHandlerContext, session: GnuTLSSession) {
        let info = session.sessionInfo()
        if let error = session.rejectionAfterHandshake(info) {
            self.fail(error, context: context)
            return
        }
        self.sessionInfo = info
        self.state = .active
        context.fireUserInboundEventTriggered(GnuTLSEvent.handshakeCompleted(info))
        guard case .active = self.state else { return }  // a handler above may have closed
        context.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: info.alpn))
        guard case .active = self.state else { return }

        if session.transport.pendingInboundBytes > 0 {
            self.decodeData(context: context)
        }
        guard case .active = self.state else { return }
        self.flushBufferedWrites(context: context)
        if let pending = self.pendingOutputClose, case .active = self.state {
            self.pendingOutputClose = nil
            self.closeOutput(context: context, promise: pending)
        }
    }

    // MARK: - Application data

    /// Decrypts every complete record into the plaintext buffer; handles close_notify and errors.
    private func decodeData(context: ChannelHandlerContext) {
        guard let session = self.session, var plaintext = self.plaintext else { return }
        self.plaintext = nil  // avoid a copy-on-write while GnuTLS writes into it
        let result = session.receive(into: &plaintext)
        self.plaintext = plaintext

        switch result {
        case .drained:
            // Post-handshake messages (TLS 1.3 key updates) may need an answer.
            self.writeCiphertext(context: context)
            if plaintext.readableBytes >= Self.plaintextDeliveryThreshold {
                self.deliverPlaintext(context: context)
            }
        case .closeNotify:
            // Hand over what came before the close_notify, answer with ours, then close.
            self.deliverPlaintext(context: context)
            context.fireChannelReadComplete()
            self.state = .closing
            session.sendCloseNotify()
            self.writeCiphertext(context: context)
            self.failBufferedWrites(ChannelError.ioOnClosedChannel)
            context.fireUserInboundEventTriggered(GnuTLSEvent.closeNotifyReceived)
            context.close(promise: nil)
        case .failed(let error):
            self.deliverPlaintext(context: context)
            self.fail(error, context: context)
        }
    }

    /// Fires the plaintext decoded so far as one `channelRead`, if there is any.
    private func deliverPlaintext(context: ChannelHandlerContext) {
        guard let plaintext = self.plaintext, plaintext.readableBytes > 0 else { return }
        self.plaintext = context.channel.allocator.buffer(capacity: 0)
        self.deliveredPlaintextThisBurst = true
        context.fireChannelRead(self.wrapInboundOut(plaintext))
    }

    /// Encrypts the flushed writes and sends all their ciphertext as one buffer, completing their
    /// promises together when that write completes.
    private func flushBufferedWrites(context: ChannelHandlerContext) {
        guard self.flushedWriteCount > 0, let session = self.session else { return }
        let writes = self.bufferedWrites.prefix(self.flushedWriteCount)
        self.bufferedWrites.removeFirst(self.flushedWriteCount)
        self.flushedWriteCount = 0

        var promises: [EventLoopPromise<Void>] = []
        for (index, write) in writes.enumerated() {
            var data = write.data
            if let error = session.send(&data) {
                write.promise?.fail(error)
                for later in writes.dropFirst(index + 1) { later.promise?.fail(error) }
                for earlier in promises { earlier.fail(error) }
                self.fail(error, context: context)
                return
            }
            if let promise = write.promise { promises.append(promise) }
        }

        var combined: EventLoopPromise<Void>?
        if !promises.isEmpty {
            let promise = context.eventLoop.makePromise(of: Void.self)
            let waiting = promises
            promise.futureResult.whenComplete { result in
                for each in waiting { each.completeWith(result) }
            }
            combined = promise
        }
        self.writeCiphertext(context: context, promise: combined)
    }

    /// Sends close_notify and half-closes the channel's output.
    private func closeOutput(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        self.flushBufferedWrites(context: context)
        self.failBufferedWrites(ChannelError.outputClosed)
        guard case .active = self.state else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        self.state = .outputClosed
        self.session?.sendCloseNotify()
        self.writeCiphertext(context: context)
        context.close(mode: .output, promise: promise)
    }

    // MARK: - Plumbing

    /// Writes everything GnuTLS pushed since the last call as ONE buffer and flushes it.
    ///
    /// One write per flush matters: separate small writes of one flight can each wait for a
    /// delayed ACK (40 ms) on the peer's side.
    private func writeCiphertext(context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        guard let ciphertext = self.session?.transport.takeOutbound() else {
            promise?.succeed(())
            return
        }
        context.writeAndFlush(self.wrapOutboundOut(ciphertext), promise: promise)
    }

    /// Sends any alert GnuTLS queued, reports `error`, and closes the channel.
    private func fail(_ error: GnuTLSError, context: ChannelHandlerContext) {
        self.writeCiphertext(context: context)
        self.state = .closed
        self.failBufferedWrites(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    /// Fails every buffered write (and a pending output close) with `error`.
    private func failBufferedWrites(_ error: any Error) {
        let writes = self.bufferedWrites
        self.bufferedWrites.removeAll()
        self.flushedWriteCount = 0
        for write in writes { write.promise?.fail(error) }
        if let pending = self.pendingOutputClose {
            self.pendingOutputClose = nil
            pending.fail(error)
        }
    }
}

@available(*, unavailable)
extension GnuTLSHandler: Sendable {}
