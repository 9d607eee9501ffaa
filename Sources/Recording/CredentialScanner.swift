// SPDX-License-Identifier: Apache-2.0
import Foundation
import Runner

/// The protocol family a preset belongs to, as far as recording cares: how STARTTLS, capability
/// commands and credentials look.
public enum DialogProtocol: String, Sendable, CaseIterable {
    case smtp, imap, pop3

    /// The family of a preset name (`submission` and `lmtp` speak SMTP's dialog).
    public init?(preset: String) {
        switch preset {
        case "smtp", "submission", "lmtp": self = .smtp
        case "imap": self = .imap
        case "pop3": self = .pop3
        default: return nil
        }
    }

    /// The presets `parley record` follows.
    public static let presets = ["smtp", "submission", "lmtp", "imap", "pop3"]
}

extension DialogProtocol {
    /// IMAP: the whole response to the command tagged `tag` (untagged lines, then the tagged
    /// status), as the imap preset's patterns say it for their own tags.
    static func imapTaggedResponse(tag: [UInt8]) -> String {
        #"^(?:\*[^\n]*\n)*"# + ScenarioWriter.escape(tag) + #" (?:OK|NO|BAD)\b[^\n]*\n"#
    }

    /// IMAP: the tagged OK of the command tagged `tag`.
    static func imapTaggedOK(tag: [UInt8]) -> String {
        "^" + ScenarioWriter.escape(tag) + #" OK\b"#
    }

    /// IMAP: a command line's tag (its first word).
    static func imapTag(of line: [UInt8]) -> [UInt8] {
        Array(line.prefix { $0 != 32 })
    }
}

/// Finds the credentials in the client's lines and turns them into variables, so that no
/// credential reaches a recording: SMTP and POP3 `AUTH mech [initial]`, IMAP `tag LOGIN user
/// password` and `tag AUTHENTICATE mech [initial]`, POP3 `USER`/`PASS`/`APOP`, and the client's
/// answers to SASL continuations (`334 ` in SMTP, `+ ` in IMAP and POP3). SASL PLAIN and LOGIN
/// become `${MAIL_USER}` and `${MAIL_PASSWORD}` inside a base64 piece; other mechanisms'
/// responses (CRAM-MD5, SCRAM, XOAUTH2) become secret variables `SASL_RESPONSE_N`.
///
/// A value: lines in, pieces out; the server's bytes tell it when a SASL exchange goes on.
struct CredentialScanner: Sendable {
    let dialog: DialogProtocol
    /// The variables used so far, in order of first use.
    private(set) var variables: [Recording.Variable] = []
    /// The secret values seen (and their encodings), to scrub from everything else.
    private(set) var secretValues: [[UInt8]] = []

    /// The SASL mechanism of the exchange in progress (upper-cased).
    private var mechanism: String?
    /// The server sent a continuation: the client's next line is a SASL response.
    private var awaitingResponse = false
    /// Responses already given in this exchange.
    private var responseCount = 0
    /// What the server's last AUTH LOGIN prompt asked for ("username:"/"password:"), lower-cased.
    private var loginPrompt: String?
    /// SMTP: DATA was sent; a 354 starts the message.
    private var dataRequested = false
    /// SMTP: inside the message (up to the lone dot).
    private var inMessage = false
    /// IMAP: a LOGIN with literals is in progress under this tag: every client line up to the
    /// tagged reply is part of it.
    private var opaqueLoginTag: [UInt8]?
    /// IMAP: bytes of a literal still to come (not scanned).
    private var literalRemaining = 0
    private var saslResponseNumber = 0
    private var opaqueNumber = 0

    init(dialog: DialogProtocol) {
        self.dialog = dialog
    }

    // MARK: - The server's side

    /// Follows the server's lines: continuations, final replies, SMTP's 354.
    mutating func server(_ bytes: [UInt8]) {
        for line in LineBytes.lines(bytes) {
            if dataRequested {
                dataRequested = false
                if line.starts(with: Array("354".utf8)) { inMessage = true }
                continue
            }
            if let tag = opaqueLoginTag, line.starts(with: tag + [32]) {
                opaqueLoginTag = nil
                continue
            }
            guard mechanism != nil else { continue }
            if line.starts(with: Array("334 ".utf8)) || line.starts(with: Array("+ ".utf8)) || line.starts(with: Array("+\r".utf8))
                || line == [43, 10]
            {
                awaitingResponse = true
                loginPrompt = Self.prompt(of: line)
            } else if !line.isEmpty {
                mechanism = nil
                awaitingResponse = false
                responseCount = 0
                loginPrompt = nil
            }
        }
    }

    /// The decoded text of a continuation's base64 challenge, lower-cased ("username:").
    private static func prompt(of line: [UInt8]) -> String? {
        let body = line.drop { $0 != 32 }.dropFirst().filter { $0 != 13 && $0 != 10 }
        guard let data = Data(base64Encoded: Data(body)) else { return nil }
        return String(decoding: data, as: UTF8.self).lowercased()
    }

    // MARK: - The client's side

    /// One client line (with its line end) as recorded pieces.
    mutating func client(_ line: [UInt8]) -> [Recording.Piece] {
        if literalRemaining > 0 {
            let taken = min(literalRemaining, line.count)
            literalRemaining -= taken
            if opaqueLoginTag != nil { return opaque(line) }
            return [.bytes(line)]
        }
        if opaqueLoginTag != nil {
            noteLiteral(in: line)
            return opaque(line)
        }
        if inMessage {
            if line == Array(".\r\n".utf8) || line == Array(".\n".utf8) { inMessage = false }
            return [.bytes(line)]
        }
        let (body, ending) = LineBytes.splitEnding(line)
        if awaitingResponse {
            awaitingResponse = false
            // "*" cancels the exchange; it is not a secret.
            if body == [42] { return [.bytes(line)] }
            responseCount += 1
            return response(body, initial: false) + Self.ending(ending)
        }
        noteLiteral(in: line)
        let words = body.split(separator: 32, omittingEmptySubsequences: false).map(Array.init)
        let upper = words.map(LineBytes.uppercased)
        switch dialog {
        case .smtp, .pop3:
            if upper.first == Array("AUTH".utf8), words.count >= 2 {
                return authenticate(prefix: Array(words.prefix(2).joined(separator: [32])), words: Array(words.dropFirst()), ending: ending)
            }
            if dialog == .smtp, upper.first == Array("DATA".utf8), words.count == 1 { dataRequested = true }
            if dialog == .pop3 {
                if upper.first == Array("USER".utf8), words.count >= 2 {
                    noteUser()
                    return [.bytes(Array("USER ".utf8)), .variable(Self.user)] + Self.ending(ending)
                }
                if upper.first == Array("PASS".utf8), words.count >= 2 {
                    learn(password: Array(body.dropFirst(5)))
                    return [.bytes(Array("PASS ".utf8)), .variable(Self.password)] + Self.ending(ending)
                }
                if upper.first == Array("APOP".utf8), words.count == 3 {
                    noteUser()
                    let name = nextSecret(prefix: "APOP_DIGEST", meaning: "the APOP digest (it depends on the greeting's timestamp)")
                    secretValues.append(words[2])
                    return [.bytes(Array("APOP ".utf8)), .variable(Self.user), .bytes([32]), .variable(name)] + Self.ending(ending)
                }
            }
        case .imap:
            if upper.count >= 3, upper[1] == Array("AUTHENTICATE".utf8) {
                return authenticate(
                    prefix: Array(words.prefix(3).joined(separator: [32])), words: Array(words.dropFirst(2)), ending: ending)
            }
            if upper.count >= 3, upper[1] == Array("LOGIN".utf8) {
                return login(tag: words[0], arguments: Array(body.dropFirst(words[0].count + 7)), ending: ending)
            }
        }
        return [.bytes(line)]
    }

    /// `AUTH mech [initial]` (`words` from the mechanism on).
    private mutating func authenticate(prefix: [UInt8], words: [[UInt8]], ending: [UInt8]) -> [Recording.Piece] {
        mechanism = String(decoding: LineBytes.uppercased(words[0]), as: UTF8.self)
        responseCount = 0
        loginPrompt = nil
        guard words.count >= 2 else { return [.bytes(prefix)] + Self.ending(ending) }
        let initial = Array(words.dropFirst().joined(separator: [32]))
        // "=" is an empty initial response (RFC 4954 §4).
        if initial == [61] { return [.bytes(prefix + [32, 61])] + Self.ending(ending) }
        responseCount = 1
        return [.bytes(prefix + [32])] + response(initial, initial: true) + Self.ending(ending)
    }

    /// One SASL response (base64) as pieces.
    private mutating func response(_ encoded: [UInt8], initial: Bool) -> [Recording.Piece] {
        let decoded = Data(base64Encoded: Data(encoded)).map { Array($0) }
        secretValues.append(encoded)
        switch (mechanism, decoded) {
        case ("PLAIN", let decoded?):
            let parts = decoded.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false).map(Array.init)
            if parts.count == 3 {
                noteUser()
                learn(password: parts[2])
                let authorization = YAMLText.templateEscaped(parts[0])
                return [.base64(authorization + "\0${\(Self.user)}\0${\(Self.password)}")]
            }
        case ("LOGIN", let decoded?):
            // The prompt says which; without one, the first response is the user name.
            let isPassword = loginPrompt.map { $0.hasPrefix("pass") } ?? (responseCount >= 2)
            if isPassword {
                learn(password: decoded)
                return [.base64("${\(Self.password)}")]
            }
            noteUser()
            return [.base64("${\(Self.user)}")]
        default:
            break
        }
        let name = nextSecret(prefix: "SASL_RESPONSE", meaning: "a \(mechanism ?? "SASL") response (replay needs its value)")
        return [.variable(name)]
    }

    /// IMAP `tag LOGIN user password`, quoted strings or atoms; with a literal the whole login
    /// (up to the tagged reply) becomes secret variables.
    private mutating func login(tag: [UInt8], arguments: [UInt8], ending: [UInt8]) -> [Recording.Piece] {
        let prefix = tag + Array(" LOGIN ".utf8)
        var rest = arguments[...]
        if Self.astring(&rest) != nil, rest.first == 32 {
            rest = rest.dropFirst()
            if let password = Self.astring(&rest), rest.isEmpty {
                noteUser()
                learn(password: password)
                return [.bytes(prefix + [34]), .variable(Self.user), .bytes([34, 32, 34]), .variable(Self.password), .bytes([34])]
                    + Self.ending(ending)
            }
        }
        // The literal the line announces was noted by `client` already.
        opaqueLoginTag = tag
        secretValues.append(arguments)
        return [.bytes(prefix)] + opaque(arguments) + Self.ending(ending)
    }

    /// A line of a login that cannot be taken apart: a secret variable of its own.
    private mutating func opaque(_ line: [UInt8]) -> [Recording.Piece] {
        let (body, ending) = LineBytes.splitEnding(line)
        guard !body.isEmpty else { return Self.ending(ending) }
        secretValues.append(body)
        opaqueNumber += 1
        let name = "MAIL_LOGIN_PART_\(opaqueNumber)"
        note(Recording.Variable(name: name, secret: true, meaning: "part \(opaqueNumber) of an IMAP LOGIN sent with literals"))
        return [.variable(name)] + Self.ending(ending)
    }

    /// An IMAP literal announced at the end of a line (`{N}` or `{N+}`): its bytes are not commands.
    private mutating func noteLiteral(in line: [UInt8]) {
        guard dialog == .imap else { return }
        let (body, _) = LineBytes.splitEnding(line)
        guard body.last == 125, let open = body.lastIndex(of: 123) else { return }
        let digits = body[(open + 1)..<(body.count - 1)].filter { $0 != 43 }
        guard !digits.isEmpty, digits.count <= 9, digits.allSatisfy({ (48...57).contains($0) }) else { return }
        literalRemaining = Int(String(decoding: digits, as: UTF8.self)) ?? 0
    }

    // MARK: - Variables

    static let user = "MAIL_USER"
    static let password = "MAIL_PASSWORD"

    /// The client named a user: `${MAIL_USER}` stands for it (not a secret, and not scrubbed).
    private mutating func noteUser() {
        note(Recording.Variable(name: Self.user, secret: false, meaning: "the user name the client logged in with"))
    }

    private mutating func learn(password: [UInt8]) {
        note(Recording.Variable(name: Self.password, secret: true, meaning: "the password the client logged in with"))
        guard !password.isEmpty else { return }
        secretValues.append(password)
        secretValues.append(Array(Data(password).base64EncodedString().utf8))
    }

    private mutating func nextSecret(prefix: String, meaning: String) -> String {
        saslResponseNumber += 1
        let name = "\(prefix)_\(saslResponseNumber)"
        note(Recording.Variable(name: name, secret: true, meaning: meaning))
        return name
    }

    private mutating func note(_ variable: Recording.Variable) {
        if !variables.contains(where: { $0.name == variable.name }) { variables.append(variable) }
    }

    // MARK: - Bytes

    /// An IMAP astring: a quoted string (with `\"` and `\\`) or an atom; nil for a literal.
    static func astring(_ text: inout ArraySlice<UInt8>) -> [UInt8]? {
        if text.first == 34 {
            var value: [UInt8] = []
            var index = text.index(after: text.startIndex)
            while index < text.endIndex {
                let byte = text[index]
                if byte == 92, text.index(after: index) < text.endIndex {
                    value.append(text[text.index(after: index)])
                    index += 2
                    continue
                }
                if byte == 34 {
                    text = text[(index + 1)...]
                    return value
                }
                value.append(byte)
                index += 1
            }
            return nil
        }
        let atom = text.prefix { $0 != 32 && $0 != 123 && $0 != 40 && $0 != 41 && $0 != 34 }
        guard !atom.isEmpty, atom.endIndex == text.endIndex || text[atom.endIndex] == 32 else { return nil }
        text = text[atom.endIndex...]
        return Array(atom)
    }

    static func ending(_ ending: [UInt8]) -> [Recording.Piece] {
        ending.isEmpty ? [] : [.bytes(ending)]
    }

}
