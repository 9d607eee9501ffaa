// SPDX-License-Identifier: Apache-2.0
import Foundation
internal import NetworkStream

/// Hides secrets in everything a scenario run shows: the values of secret variables, the bytes of
/// `send: {secret: true}`, and the credentials of AUTH dialogs (SMTP/POP3 `AUTH mech initial`,
/// IMAP `LOGIN user password` and `AUTHENTICATE mech initial`, POP3 `PASS`, and every client
/// line that answers a SASL continuation: SMTP `334`, IMAP and POP3 `+ `).
///
/// Masking happens once, before events reach any reporter, so every output agrees.
struct Masker: Sendable {
    /// What replaces a hidden value.
    static let mask = Array("****".utf8)

    /// Secret values, longest first so that a value containing another is hidden whole.
    private(set) var secrets: [[UInt8]] = []
    /// The server asked for a SASL response: the client's next line is one.
    private var awaitingResponse = false
    /// An AUTH or AUTHENTICATE command is in progress.
    private var inAuthentication = false
    /// The credentials masked in client lines and not yet taken, to hide wherever else they turn
    /// up (a scripted server's failure that shows what the client sent).
    private var maskedCredentials: [[UInt8]] = []

    /// The credentials masked since the last call (each handed over once).
    mutating func takeMaskedCredentials() -> [[UInt8]] {
        defer { maskedCredentials = [] }
        return maskedCredentials
    }

    /// Adds a value to hide; values shorter than 3 bytes are ignored (they would hide ordinary text).
    mutating func add(secret value: String) {
        let bytes = Array(value.utf8)
        guard bytes.count >= 3, !secrets.contains(bytes) else { return }
        secrets.append(bytes)
        secrets.sort { $0.count > $1.count }
    }

    /// Whether `text` contains the value of a secret.
    func containsSecret(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return secrets.contains { bytes.firstRange(of: $0) != nil }
    }

    /// Bytes the client sends, with credentials hidden.
    mutating func sent(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for line in LineBytes.lines(bytes) {
            out += maskCredentials(in: line)
        }
        return hideSecrets(out)
    }

    /// Bytes the server sends, with secret values hidden; continuation requests are noted.
    mutating func received(_ bytes: [UInt8]) -> [UInt8] {
        // The common case, and the one that must stay fast for large responses.
        if !inAuthentication && secrets.isEmpty { return bytes }
        for line in LineBytes.lines(bytes) where inAuthentication {
            if line.starts(with: Array("334 ".utf8)) || line.starts(with: Array("+ ".utf8)) || line == Array("+\r\n".utf8) {
                awaitingResponse = true
            } else if !line.isEmpty {
                // A final reply (2xx/5xx, tagged OK/NO, +OK/-ERR) ends the exchange.
                inAuthentication = false
                awaitingResponse = false
            }
        }
        return hideSecrets(bytes)
    }

    /// Hides the values of secrets anywhere in `bytes`.
    func hideSecrets(_ bytes: [UInt8]) -> [UInt8] {
        guard !secrets.isEmpty else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        outer: while index < bytes.count {
            for secret in secrets where bytes[index...].starts(with: secret) {
                out += Self.mask
                index += secret.count
                continue outer
            }
            out.append(bytes[index])
            index += 1
        }
        return out
    }

    /// One client line with its credentials hidden.
    private mutating func maskCredentials(in line: [UInt8]) -> [UInt8] {
        let (body, ending) = LineBytes.splitEnding(line)
        if awaitingResponse {
            awaitingResponse = false
            // "*" cancels the exchange; it is not a secret.
            if body == [42] { return line }
            maskedCredentials.append(body)
            return Self.mask + ending
        }
        let words = body.split(separator: 32, omittingEmptySubsequences: false).map(Array.init)
        let upper = words.map(LineBytes.uppercased)
        func keep(_ count: Int) -> [UInt8] {
            let hidden = Array(words.dropFirst(count).joined(separator: [32]))
            maskedCredentials.append(hidden)
            // A quoted IMAP password is also hidden without its quotes.
            if hidden.count > 2, hidden.first == 34, hidden.last == 34 { maskedCredentials.append(Array(hidden.dropFirst().dropLast())) }
            return Array(words.prefix(count).joined(separator: [32])) + [32] + Self.mask + ending
        }
        // SMTP/POP3: AUTH mech [initial]
        if upper.first == Array("AUTH".utf8), words.count >= 2 {
            inAuthentication = true
            return words.count >= 3 ? keep(2) : line
        }
        // IMAP: tag AUTHENTICATE mech [initial]; tag LOGIN user password
        if upper.count >= 3, upper[1] == Array("AUTHENTICATE".utf8) {
            inAuthentication = true
            return words.count >= 4 ? keep(3) : line
        }
        if upper.count >= 4, upper[1] == Array("LOGIN".utf8) {
            return keep(3)
        }
        // POP3: PASS password
        if upper.first == Array("PASS".utf8), words.count >= 2 {
            return keep(1)
        }
        return line
    }

}

/// A `Masker` behind a lock, shared by a run and its connections' event-loop callbacks.
final class SharedMasker: @unchecked Sendable {
    private let lock = NSLock()
    private var masker = Masker()
    /// The dialog state of accepted connections (the client's lines arrive there).
    private var serverSide = Masker()

    /// Adds a value to hide.
    func add(secret value: String) {
        lock.withLock { masker.add(secret: value) }
    }

    /// Whether `text` contains the value of a secret.
    func containsSecret(_ text: String) -> Bool {
        lock.withLock { masker.containsSecret(text) }
    }

    /// Hides secret values in bytes.
    func hideSecrets(_ bytes: [UInt8]) -> [UInt8] {
        lock.withLock { masker.hideSecrets(bytes) }
    }

    /// Hides secret values in text (a value shown in a report).
    func hideSecrets(in text: String) -> String {
        String(decoding: hideSecrets(Array(text.utf8)), as: UTF8.self)
    }

    /// Makes masked credentials secrets (values under 3 bytes are ignored by `add`). Called with the lock held.
    private func hideFromNowOn(_ credentials: [[UInt8]]) {
        for credential in credentials { masker.add(secret: String(decoding: credential, as: UTF8.self)) }
    }

    /// An engine event with its secrets hidden. On a connection the scenario accepted (playing
    /// the server) the roles turn round: the client's credentials arrive, the continuations
    /// leave; what is masked there is hidden everywhere from then on.
    func masked(_ event: ConnectionEvent, serverRole: Bool = false) -> ConnectionEvent {
        lock.withLock {
            switch (event, serverRole) {
            case (.sent(let bytes, let tls), false):
                let hidden = masker.sent(bytes)
                hideFromNowOn(masker.takeMaskedCredentials())
                return .sent(hidden, tls: tls)
            case (.received(let bytes, let tls), false): return .received(masker.received(bytes), tls: tls)
            case (.received(let bytes, let tls), true):
                let hidden = serverSide.sent(bytes)
                hideFromNowOn(serverSide.takeMaskedCredentials())
                return .received(masker.hideSecrets(hidden), tls: tls)
            case (.sent(let bytes, let tls), true):
                _ = serverSide.received(bytes)
                return .sent(masker.hideSecrets(bytes), tls: tls)
            case (.discarded(let bytes), _): return .discarded(masker.hideSecrets(bytes))
            default: return event
            }
        }
    }
}
