// SPDX-License-Identifier: Apache-2.0
internal import Foundation

/// What the external helper (`gnutls-cli`) says, read as a value: its log terminal's lines and
/// its standard error, and what they mean for the upgrade. ``ExternalTLSHelper`` feeds it bytes
/// and acts on the ``Signal``s it returns; the rules can be tested without a child process.
///
/// Bounded: at most ``lineLimit`` lines are kept (the earliest are dropped, the report's start
/// moves with them), a line longer than ``lineLengthLimit`` bytes is cut there, and at most
/// ``stderrLimit`` bytes of standard error are kept (the latest).
struct ExternalTLSLog {
    /// A line that moves the upgrade on.
    enum Signal: Equatable {
        /// `- Simple Client Mode:`: connected (and, for TLS at once, the handshake done); the
        /// lines so far are the report.
        case clientMode([String])
        /// `- Options:` during a STARTTLS handshake: the handshake is done; its report.
        case handshakeDone([String])
    }

    static let lineLimit = 2000
    static let lineLengthLimit = 65536
    static let stderrLimit = 65536

    /// The log's lines so far.
    private(set) var lines: [String] = []
    private var partial: [UInt8] = []
    /// Where the handshake report starts in ``lines``.
    private var reportStart = 0
    /// A STARTTLS handshake is in progress (its end is the next `- Options:` line).
    private var inHandshake = false
    private var stderrBytes: [UInt8] = []

    /// The lines of the handshake report so far.
    var report: [String] { Array(lines[min(reportStart, lines.count)...]) }

    /// The STARTTLS handshake begins: its report starts with the next line.
    mutating func beginHandshake() {
        reportStart = lines.count
        inHandshake = true
    }

    /// Bytes from the log terminal.
    mutating func logReceived(_ bytes: [UInt8]) -> [Signal] {
        partial += bytes
        var signals: [Signal] = []
        while let newline = partial.firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(partial[..<newline])
            partial.removeSubrange(...newline)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            if let signal = add(line) { signals.append(signal) }
        }
        if partial.count > Self.lineLengthLimit {
            let line = Array(partial.prefix(Self.lineLengthLimit))
            partial = []
            if let signal = add(line) { signals.append(signal) }
        }
        return signals
    }

    /// The log ended: an unfinished last line counts too.
    mutating func logEnded() -> [Signal] {
        guard !partial.isEmpty else { return [] }
        let line = partial
        partial = []
        return add(line).map { [$0] } ?? []
    }

    private mutating func add(_ bytes: [UInt8]) -> Signal? {
        let line = String(decoding: bytes.prefix(Self.lineLengthLimit), as: UTF8.self)
        lines.append(line)
        if lines.count > Self.lineLimit {
            lines.removeFirst()
            reportStart = max(0, reportStart - 1)
        }
        if line.hasPrefix("- Simple Client Mode:") {
            return .clientMode(lines)
        }
        if line.hasPrefix("- Options:"), inHandshake {
            inHandshake = false
            return .handshakeDone(report)
        }
        return nil
    }

    /// Bytes from standard error (the latest ``stderrLimit`` are kept).
    mutating func stderrReceived(_ bytes: [UInt8]) {
        stderrBytes += bytes
        if stderrBytes.count > Self.stderrLimit { stderrBytes.removeFirst(stderrBytes.count - Self.stderrLimit) }
    }

    /// The helper's reasons on standard error, without the handshake's start line: `Could not
    /// connect …`, `*** Fatal error: …`.
    var reasons: [String] {
        String(decoding: stderrBytes, as: UTF8.self)
            .split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && $0 != ExternalTLS.handshakeStartedLine }
    }

    /// The reasons as one sentence, without the `*** ` marks.
    var said: String {
        reasons.map { $0.hasPrefix("*** ") ? String($0.dropFirst(4)) : $0 }.joined(separator: "; ")
    }

    /// Whether the helper could not reach the server at all.
    var couldNotConnect: Bool {
        reasons.contains { $0.hasPrefix("Could not connect") || $0.hasPrefix("Cannot resolve") }
    }
}
