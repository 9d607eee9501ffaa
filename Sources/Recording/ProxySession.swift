// SPDX-License-Identifier: Apache-2.0
import Foundation
public import Patterns
import Runner

/// The recording proxy's rules for one dialog, as a value: bytes from either side in, actions
/// out (``Action``), the recording kept as it goes. The I/O shell (``RecordingProxy``) only
/// moves bytes and starts TLS when told.
///
/// Everything is relayed unchanged and at once, except around STARTTLS: once the client has
/// sent the STARTTLS command, its further bytes are held and the server's reply is read whole;
/// a go-ahead is relayed and then both sides start TLS (``Action/startTLS``), and what either
/// side sent in plain text behind it is dropped and recorded as discarded (the
/// response-injection defence); a refusal is relayed with the held bytes behind it.
public struct ProxySession: Sendable {
    /// What the shell does.
    public enum Action: Sendable, Equatable {
        /// Write these bytes to the server.
        case toServer([UInt8])
        /// Write these bytes to the client.
        case toClient([UInt8])
        /// Start TLS toward both (after the writes before it): the client's side with the
        /// proxy's certificate, the server's verified.
        case startTLS
        /// End the dialog: close both connections.
        case close(String)
    }

    /// Where the dialog is.
    enum Phase: Sendable, Equatable {
        case plain
        /// STARTTLS sent (IMAP: with this tag); reading the reply whole.
        case awaitingReply(tag: [UInt8])
        /// Go-ahead relayed; the handshakes run.
        case upgrading
        case tls
    }

    /// The longest partial client line kept before it is recorded as it is.
    public static let lineLimit = 64 * 1024
    /// The longest STARTTLS reply read before the proxy gives up on the dialog.
    public static let replyLimit = 64 * 1024

    public let dialog: DialogProtocol
    private(set) var phase: Phase
    private var recording: Recording
    private var scanner: CredentialScanner
    private var partialLine: [UInt8] = []
    private var heldReply: [UInt8] = []
    private var heldClient: [UInt8] = []
    private var recordedBytes = 0
    private let recordLimit: Int
    private let starttlsCommand: BytePattern
    private var replyPattern: BytePattern?
    private var successPattern: BytePattern?

    /// A session for one client.
    ///
    /// - Parameters:
    ///   - preset: `smtp`, `submission`, `lmtp`, `imap` or `pop3`.
    ///   - upstream: the server.
    ///   - recordedAt: the time the client connected, as written in the recording.
    ///   - recordLimit: bytes kept at most; the dialog goes on beyond, the recording says it was cut.
    public init(preset: String, upstream: Recording.Upstream, recordedAt: String, recordLimit: Int = 16 << 20) throws(RecordingError) {
        guard let dialog = DialogProtocol(preset: preset) else {
            throw RecordingError("parley record follows \(DialogProtocol.presets.joined(separator: ", ")), not '\(preset)'")
        }
        self.dialog = dialog
        self.recording = Recording(preset: preset, upstream: upstream, recordedAt: recordedAt)
        self.scanner = CredentialScanner(dialog: dialog)
        self.phase = upstream.implicitTLS ? .upgrading : .plain
        self.recordLimit = recordLimit
        let command =
            switch dialog {
            case .smtp: #"^STARTTLS\r?\n"#
            case .imap: #"^[^ \r\n]+ STARTTLS\r?\n"#
            case .pop3: #"^STLS\r?\n"#
            }
        do {
            self.starttlsCommand = try BytePattern(command, options: [.caseInsensitive])
        } catch {
            throw RecordingError("\(error)")
        }
    }

    // MARK: - Input

    /// Bytes from the client (plaintext: under TLS, what the handler decrypted).
    public mutating func clientSent(_ bytes: [UInt8], at time: Double) -> [Action] {
        if case .awaitingReply = phase {
            heldClient += bytes
            if heldClient.count > Self.replyLimit {
                return [.close("the client sent more than \(Self.replyLimit) bytes while the reply to STARTTLS was awaited")]
            }
            return []
        }
        var actions: [Action] = [.toServer(bytes)]
        partialLine += bytes
        var start = 0
        var index = 0
        while index < partialLine.count {
            if partialLine[index] == 10 {
                let line = Array(partialLine[start...index])
                start = index + 1
                record(line: line, at: time)
                if phase == .plain, let tag = starttls(line) {
                    // Bytes behind the command wait for the reply.
                    phase = .awaitingReply(tag: tag)
                    heldClient = Array(partialLine[start...])
                    partialLine = []
                    actions = [.toServer(Array(bytes.dropLast(heldClient.count)))]
                    setReplyPatterns(tag: tag)
                    return actions.filter { $0 != .toServer([]) }
                }
            }
            index += 1
        }
        partialLine.removeFirst(start)
        if partialLine.count > Self.lineLimit {
            record(line: partialLine, at: time)
            partialLine = []
        }
        return actions
    }

    /// Bytes from the server (under TLS, decrypted).
    public mutating func serverSent(_ bytes: [UInt8], at time: Double) -> [Action] {
        guard case .awaitingReply = phase else {
            recordServer(bytes, at: time)
            return [.toClient(bytes)]
        }
        heldReply += bytes
        guard let replyPattern, let match = replyPattern.firstMatch(in: heldReply), match.range.lowerBound == 0 else {
            if heldReply.count > Self.replyLimit {
                return [.close("the server's reply to STARTTLS is longer than \(Self.replyLimit) bytes")]
            }
            return []
        }
        let reply = Array(heldReply[..<match.range.upperBound])
        let behind = Array(heldReply[match.range.upperBound...])
        heldReply = []
        recordServer(reply, at: time)
        let goAhead = successPattern?.firstMatch(in: reply).map { $0.range.lowerBound == 0 } ?? false
        if goAhead {
            phase = .upgrading
            append(Recording.Event(at: time, kind: .starttls, tls: false))
            if !behind.isEmpty {
                append(Recording.Event(at: time, kind: .discarded, from: .server, tls: false, pieces: [.bytes(behind)]))
            }
            if !heldClient.isEmpty {
                append(Recording.Event(at: time, kind: .discarded, from: .client, tls: false, pieces: scannedPieces(heldClient)))
            }
            heldClient = []
            return [.toClient(reply), .startTLS]
        }
        // Refused: the dialog goes on in plain text.
        phase = .plain
        var actions: [Action] = [.toClient(reply)]
        if !behind.isEmpty {
            recordServer(behind, at: time)
            actions.append(.toClient(behind))
        }
        let held = heldClient
        heldClient = []
        if !held.isEmpty { actions += clientSent(held, at: time) }
        return actions
    }

    /// Both handshakes finished: the client's with the proxy, the proxy's with the server.
    public mutating func handshakesCompleted(client: Recording.TLSRecord, upstream: Recording.TLSRecord, at time: Double) {
        phase = .tls
        recording.clientTLS = client
        recording.upstreamTLS = upstream
        append(Recording.Event(at: time, kind: .handshake, tls: true))
    }

    /// One side closed its connection.
    public mutating func closed(by side: Recording.Side, at time: Double) {
        if !partialLine.isEmpty {
            record(line: partialLine, at: time)
            partialLine = []
        }
        append(Recording.Event(at: time, kind: .closed, from: side, tls: underTLS))
    }

    /// The recording so far, with every secret value seen replaced wherever it still occurs.
    public var finished: Recording {
        var result = recording
        result.variables = scanner.variables
        let secrets = scanner.secretValues.filter { $0.count >= 3 }.sorted { $0.count > $1.count }
        guard !secrets.isEmpty else { return result }
        for index in result.events.indices {
            guard let pieces = result.events[index].pieces else { continue }
            result.events[index].pieces = pieces.flatMap { piece -> [Recording.Piece] in
                guard case .bytes(let bytes) = piece else { return [piece] }
                return Self.scrub(bytes, secrets: secrets)
            }
        }
        return result
    }

    /// The secret values this session saw (for checks that none reached a file); never written.
    public var secretValues: [[UInt8]] { scanner.secretValues }

    // MARK: - Recording

    private func starttls(_ line: [UInt8]) -> [UInt8]? {
        guard let match = starttlsCommand.firstMatch(in: line), match.range.lowerBound == 0 else { return nil }
        if dialog == .imap { return DialogProtocol.imapTag(of: line) }
        return []
    }

    private mutating func setReplyPatterns(tag: [UInt8]) {
        let (reply, success) =
            switch dialog {
            case .smtp: (#"^(?:[0-9]{3}-[^\n]*\n)*[0-9]{3}(?: [^\n]*)?\n"#, "^220[ -]")
            case .imap: (DialogProtocol.imapTaggedResponse(tag: tag), DialogProtocol.imapTaggedOK(tag: tag))
            case .pop3: (#"^[+-](?:OK|ERR)\b[^\n]*\n"#, #"^\+OK\b"#)
            }
        replyPattern = try? BytePattern(reply, options: [.multiline, .caseInsensitive])
        successPattern = try? BytePattern(success, options: [.multiline, .caseInsensitive])
    }

    /// After the go-ahead (or from the start, with implicit TLS) everything relayed went under
    /// TLS: the handlers were in place before the next byte.
    private var underTLS: Bool { phase == .upgrading || phase == .tls }

    private mutating func record(line: [UInt8], at time: Double) {
        let pieces = scanner.client(line)
        append(Recording.Event(at: time, kind: .data, from: .client, tls: underTLS, pieces: pieces))
    }

    private mutating func scannedPieces(_ bytes: [UInt8]) -> [Recording.Piece] {
        LineBytes.lines(bytes).flatMap { scanner.client($0) }
    }

    private mutating func recordServer(_ bytes: [UInt8], at time: Double) {
        guard !bytes.isEmpty else { return }
        scanner.server(bytes)
        append(Recording.Event(at: time, kind: .data, from: .server, tls: underTLS, pieces: [.bytes(bytes)]))
    }

    private mutating func append(_ event: Recording.Event) {
        // Once cut, the recording keeps no more of the dialog (no holes), only how it ended.
        if recording.truncated, event.kind != .closed { return }
        let size = event.pieces.map { $0.reduce(0) { $0 + Self.size($1) } } ?? 0
        if recordedBytes + size > recordLimit {
            recording.truncated = true
            return
        }
        recordedBytes += size
        recording.events.append(event)
    }

    private static func size(_ piece: Recording.Piece) -> Int {
        switch piece {
        case .bytes(let bytes): bytes.count
        case .variable(let name), .base64(let name): name.utf8.count
        }
    }

    /// `bytes` with each secret value replaced by a variable piece.
    static func scrub(_ bytes: [UInt8], secrets: [[UInt8]]) -> [Recording.Piece] {
        var pieces: [Recording.Piece] = []
        var literal: [UInt8] = []
        var index = 0
        outer: while index < bytes.count {
            for secret in secrets where bytes[index...].starts(with: secret) {
                if !literal.isEmpty { pieces.append(.bytes(literal)) }
                literal = []
                pieces.append(.variable("REDACTED"))
                index += secret.count
                continue outer
            }
            literal.append(bytes[index])
            index += 1
        }
        if !literal.isEmpty { pieces.append(.bytes(literal)) }
        return pieces
    }
}
