// SPDX-License-Identifier: Apache-2.0

internal import CGnuTLS
internal import NIOCore

/// The outcome of one non-blocking GnuTLS operation.
///
/// `GNUTLS_E_AGAIN` and `GNUTLS_E_INTERRUPTED` become ``incomplete``: they only mean that GnuTLS
/// needs more ciphertext from the peer, and are never reported as errors.
enum OperationResult<Value> {
    /// The operation needs more input; call it again after the next read.
    case incomplete
    /// The operation finished.
    case complete(Value)
    /// The operation failed fatally.
    case failed(GnuTLSError)
}

/// The outcome of draining decrypted application data.
enum ReceiveResult {
    /// Every buffered record was decrypted; more ciphertext is needed for the next one.
    case drained
    /// The peer sent close_notify.
    case closeNotify
    /// A fatal record-layer error (or a fatal alert).
    case failed(GnuTLSError)
}

/// Owns one `gnutls_session_t` and its transport, and turns GnuTLS return codes into
/// ``OperationResult`` values. It never touches the channel; ``GnuTLSHandler`` does that.
final class GnuTLSSession {
    /// The shared credentials; retained because the session points into them.
    let context: GnuTLSContext
    /// The ciphertext buffers under the session.
    let transport: ByteBufferTransport
    /// The host name to verify and (unless it is an IP literal) to send as SNI.
    let serverHostname: String?
    /// The SNI name actually sent: `serverHostname` unless that is an IP literal.
    let sniHostname: String?

    /// `gnutls_session_t`.
    private let session: OpaquePointer
    /// NUL-terminated copy of the host name for `gnutls_session_set_verify_cert`, which keeps the
    /// pointer instead of copying the string; it must live as long as the session.
    private let verifyHostname: UnsafeMutableBufferPointer<CChar>?
    /// Whether GnuTLS verifies the peer inside the handshake (`gnutls_session_set_verify_cert`):
    /// then a finished handshake already carries the verification result.
    private(set) var verifiesInHandshake = false
    /// As a server, the client's first ClientHello (its body), recorded by a handshake hook.
    private(set) var clientHelloBody: [UInt8]?

    /// Creates a non-blocking session for the context's role and sets it up: priority,
    /// credentials, transport, SNI, verification, client-certificate request and ALPN.
    ///
    /// - Parameters:
    ///   - context: The loaded credentials and configuration.
    ///   - serverHostname: For clients, the name to send as SNI and to verify.
    ///   - allocator: Allocator for the ciphertext buffers.
    /// - Throws: ``GnuTLSError`` of kind `.configuration` when GnuTLS rejects a setting.
    init(context: GnuTLSContext, serverHostname: String?, allocator: ByteBufferAllocator) throws {
        let configuration = context.configuration
        self.context = context
        self.transport = ByteBufferTransport(allocator: allocator)
        let isClient = configuration.role == .client
        self.serverHostname = isClient ? serverHostname : nil
        self.sniHostname = isClient ? serverHostname.flatMap { TLSConfiguration.isIPLiteral($0) ? nil : $0 } : nil

        var session: OpaquePointer?
        let flags = UInt32(isClient ? GNUTLS_CLIENT : GNUTLS_SERVER) | UInt32(GNUTLS_NONBLOCK)
        var rc = gnutls_init(&session, flags)
        guard rc == GNUTLS_E_SUCCESS, let session else {
            throw GnuTLSError.gnutls(.configuration, code: rc, context: "creating a session")
        }
        self.session = session
        if isClient, configuration.verifyPeer, let serverHostname {
            let storage = UnsafeMutableBufferPointer<CChar>.allocate(capacity: serverHostname.utf8.count + 1)
            _ = storage.initialize(from: serverHostname.utf8CString)
            self.verifyHostname = storage
        } else {
            self.verifyHostname = nil
        }
        // From here on `deinit` cleans up if a step throws.

        rc = gnutls_priority_set(session, context.priorityCache)
        try Self.check(rc, "setting the priority")
        rc = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, UnsafeMutableRawPointer(context.credentials))
        try Self.check(rc, "setting the credentials")
        self.transport.attach(to: session)
        if let bits = context.configuration.minimumDHPrimeBits {
            // Rejects a DHE key exchange whose prime is shorter (Emacs's gnutls-min-prime-bits).
            gnutls_dh_set_prime_bits(session, UInt32(bits))
        }

        if isClient {
            if let sni = self.sniHostname {
                rc = sni.withCString { gnutls_server_name_set(session, GNUTLS_NAME_DNS, $0, sni.utf8.count) }
                try Self.check(rc, "setting the server name")
            }
            if configuration.verifyPeer {
                // With this set, GnuTLS verifies the chain (and the host name when given) inside
                // the handshake and fails it with GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR, sending
                // the server a proper alert.
                gnutls_session_set_verify_cert(session, self.verifyHostname?.baseAddress, 0)
                self.verifiesInHandshake = true
            }
        } else {
            switch configuration.clientCertificateMode {
            case .none:
                break
            case .request:
                gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST)
            case .require:
                gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE)
            }
            // In .require mode GnuTLS can verify inside the handshake. In .request mode it cannot:
            // with a verify target set, a client sending no certificate fails the handshake with
            // GNUTLS_E_CERTIFICATE_ERROR. There the handler checks after the handshake instead
            // (`rejectionAfterHandshake`).
            if configuration.clientCertificateMode == .require, configuration.verifyPeer {
                gnutls_session_set_verify_cert(session, nil, 0)
                self.verifiesInHandshake = true
            }
            // Records what the client offers (versions, ALPN, SNI), not only what it got.
            gnutls_session_set_ptr(session, Unmanaged.passUnretained(self).toOpaque())
            gnutls_handshake_set_hook_function(
                session, UInt32(GNUTLS_HANDSHAKE_CLIENT_HELLO.rawValue), GNUTLS_HOOK_PRE, Self.clientHelloHook)
            if let key = context.ticketKey {
                // Resumption for clients that keep tickets (TLSConfiguration.sessionTickets).
                rc = gnutls_session_ticket_enable_server(session, key)
                try Self.check(rc, "enabling session tickets")
            }
        }

        if !configuration.alpn.isEmpty {
            try Self.setALPN(configuration.alpn, mandatory: configuration.alpnMandatory, on: session)
        }
    }

    /// GnuTLS's hook for received handshake messages: keeps the first ClientHello's body (at
    /// most 64 KiB, the most one can be), found through the session's user pointer.
    private static let clientHelloHook: gnutls_handshake_hook_func = { session, _, _, incoming, message in
        guard incoming != 0, let session, let pointer = gnutls_session_get_ptr(session), let message,
            let data = message.pointee.data
        else { return 0 }
        let owner = Unmanaged<GnuTLSSession>.fromOpaque(pointer).takeUnretainedValue()
        if owner.clientHelloBody == nil {
            owner.clientHelloBody = Array(UnsafeBufferPointer(start: data, count: min(Int(message.pointee.size), 65536)))
        }
        return 0
    }

    deinit {
        // The session goes first: it may still refer to the transport pointer and host name.
        gnutls_deinit(self.session)
        self.verifyHostname?.deallocate()
    }

    // MARK: - Operations

    /// Runs one handshake step over whatever ciphertext is buffered.
    func handshake() -> OperationResult<Void> {
        while true {
            let rc = gnutls_handshake(self.session)
            switch rc {
            case GNUTLS_E_SUCCESS:
                return .complete(())
            case GNUTLS_E_AGAIN, GNUTLS_E_INTERRUPTED:
                return .incomplete
            default:
                if gnutls_error_is_fatal(rc) == 0 {
                    // A warning alert or similar: GnuTLS says to carry on with the handshake.
                    continue
                }
                // GnuTLS does not tell the peer why a handshake failed on our side; that is the
                // application's job. Queue the matching alert so the handler sends it before closing.
                if rc != GNUTLS_E_FATAL_ALERT_RECEIVED {
                    _ = gnutls_alert_send_appropriate(self.session, rc)
                }
                return .failed(self.handshakeError(rc))
            }
        }
    }

    /// Decrypts every complete record buffered in the transport and appends the plaintext.
    ///
    /// - Parameter plaintext: Receives the application data.
    /// - Returns: Why it stopped.
    func receive(into plaintext: inout ByteBuffer) -> ReceiveResult {
        var pendingBefore = self.transport.pendingInboundBytes
        while true {
            var rc = 0
            plaintext.writeWithUnsafeMutableBytes(minimumWritableBytes: 16 * 1024) { destination in
                rc = gnutls_record_recv(self.session, destination.baseAddress, destination.count)
                return max(rc, 0)
            }
            if rc > 0 {
                pendingBefore = self.transport.pendingInboundBytes
                continue
            }
            let code = Int32(rc)
            switch code {
            case 0:
                return .closeNotify
            case GNUTLS_E_AGAIN, GNUTLS_E_INTERRUPTED:
                // Also what TLS 1.3 post-handshake messages (tickets, key updates) end with: they
                // consume input and produce no plaintext. Records may follow them in the same
                // read (OpenSSL servers send their tickets and the greeting together): go on
                // while the last call consumed input, stop when it is only a partial record.
                let pending = self.transport.pendingInboundBytes
                if pending > 0, pending < pendingBefore {
                    pendingBefore = pending
                    continue
                }
                return .drained
            case GNUTLS_E_REHANDSHAKE:
                // A TLS 1.2 server asking to renegotiate. Declining is allowed (RFC 5246 §7.2.2):
                // ignoring the request is what GnuTLS documents as the default policy.
                continue
            default:
                if gnutls_error_is_fatal(code) == 0 {
                    continue
                }
                if code == GNUTLS_E_FATAL_ALERT_RECEIVED {
                    return .failed(self.alertError(code))
                }
                return .failed(.gnutls(.recordError, code: code, context: "receiving"))
            }
        }
    }

    /// Encrypts all readable bytes of `buffer` into the transport.
    ///
    /// `gnutls_record_send` takes at most one record's worth per call, so this loops, advancing
    /// the reader index by what each call accepted.
    ///
    /// - Parameter buffer: The plaintext; its reader index ends at its writer index on success.
    /// - Returns: `nil` on success, else the error.
    func send(_ buffer: inout ByteBuffer) -> GnuTLSError? {
        var stalls = 0
        while buffer.readableBytes > 0 {
            let rc = buffer.withUnsafeReadableBytes { bytes in
                gnutls_record_send(self.session, bytes.baseAddress, bytes.count)
            }
            if rc > 0 {
                buffer.moveReaderIndex(forwardBy: rc)
                stalls = 0
                continue
            }
            let code = Int32(rc)
            if code == GNUTLS_E_AGAIN || code == GNUTLS_E_INTERRUPTED {
                // Our push never refuses bytes, so this should not happen; retrying with the same
                // pointer and length is what GnuTLS requires if it does. Bound it.
                stalls += 1
                if stalls < 100 { continue }
            }
            return .gnutls(.recordError, code: code, context: "sending")
        }
        return nil
    }

    /// The verification GnuTLS could not do inside the handshake: a server in `.request` mode
    /// with `verifyPeer` on rejects a client certificate that was sent but does not verify.
    ///
    /// When it rejects, a fatal bad_certificate alert is queued for the handler to send.
    ///
    /// - Parameter info: The facts read after the handshake.
    /// - Returns: The error to fail the connection with, or `nil` to accept it.
    func rejectionAfterHandshake(_ info: TLSSessionInfo) -> GnuTLSError? {
        let configuration = self.context.configuration
        guard configuration.role == .server, configuration.clientCertificateMode == .request,
            configuration.verifyPeer, !info.peerCertificates.isEmpty, !info.verified
        else { return nil }
        _ = gnutls_alert_send(self.session, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE)
        return GnuTLSError(
            kind: .verificationFailed,
            message: "the client certificate does not verify",
            verificationProblems: info.verificationProblems
        )
    }

    /// Queues our close_notify (`gnutls_bye` with `GNUTLS_SHUT_WR`, which does not wait for the
    /// peer's). Errors are ignored: the connection is ending either way.
    func sendCloseNotify() {
        _ = gnutls_bye(self.session, GNUTLS_SHUT_WR)
    }

    // MARK: - Errors

    /// Classifies a fatal handshake return code.
    private func handshakeError(_ code: Int32) -> GnuTLSError {
        switch code {
        case GNUTLS_E_FATAL_ALERT_RECEIVED:
            return self.alertError(code)
        case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
            let status = gnutls_session_get_verify_cert_status(self.session)
            let problems = self.problems(forStatus: status)
            var error = GnuTLSError.gnutls(.verificationFailed, code: code)
            error.message =
                Self.statusText(status, type: gnutls_certificate_type_get(self.session))
                ?? error.message
            error.verificationProblems = problems
            return error
        default:
            return .gnutls(.handshakeFailed, code: code)
        }
    }

    /// An `.alertReceived` error naming the alert the peer sent.
    private func alertError(_ code: Int32) -> GnuTLSError {
        let alert = gnutls_alert_get(self.session)
        let name = gnutls_alert_get_name(alert).map { String(cString: $0) } ?? "alert \(alert.rawValue)"
        return GnuTLSError(kind: .alertReceived, code: code, message: "peer sent fatal alert: \(name)")
    }

    // MARK: - Helpers

    /// The session pointer, for the info extraction in `GnuTLSSession+Info.swift`.
    var rawSession: OpaquePointer { self.session }

    /// Throws a configuration error for a negative return code.
    private static func check(_ rc: Int32, _ what: String) throws {
        if rc < 0 {
            throw GnuTLSError.gnutls(.configuration, code: rc, context: what)
        }
    }

    /// Sets the ALPN protocol list.
    ///
    /// GnuTLS copies the names into the session, so the storage only has to live for the call.
    private static func setALPN(_ protocols: [String], mandatory: Bool, on session: OpaquePointer) throws {
        // All names back to back in one array, each datum pointing at its slice.
        let joined = protocols.flatMap { Array($0.utf8) }
        let rc = joined.withUnsafeBufferPointer { bytes -> Int32 in
            var offset = 0
            var datums: [gnutls_datum_t] = []
            for name in protocols {
                let length = name.utf8.count
                let start = UnsafeMutablePointer(mutating: bytes.baseAddress!.advanced(by: offset))
                datums.append(gnutls_datum_t(data: start, size: UInt32(length)))
                offset += length
            }
            let flags = mandatory ? UInt32(GNUTLS_ALPN_MANDATORY.rawValue) : 0
            return gnutls_alpn_set_protocols(session, datums, UInt32(datums.count), flags)
        }
        try check(rc, "setting ALPN protocols \(protocols)")
    }
}
