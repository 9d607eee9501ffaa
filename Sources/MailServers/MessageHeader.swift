// SPDX-License-Identifier: Apache-2.0

/// The header section of an RFC 5322 message, parsed from bytes: fields in order, folded lines
/// unfolded, and the address lists that IMAP ENVELOPE and the HTTP API show.
///
/// Parsing never fails: a line without a colon ends the header section as RFC 5322 §2.2 would
/// have it be a body line; bytes are kept as they are (no charset is assumed).
public struct MessageHeader: Sendable, Equatable {
    /// One field: its name as written and its unfolded value (leading blanks removed, the CRLF
    /// of each folded line removed, trailing blanks kept out).
    public struct Field: Sendable, Equatable {
        /// The name, as written.
        public var name: [UInt8]
        /// The unfolded value.
        public var value: [UInt8]
    }

    /// The fields in order.
    public var fields: [Field]
    /// Where the body starts in the message (after the blank line), or the message's length
    /// when there is no body.
    public var bodyOffset: Int
    /// The header section's bytes, the blank line included when there is one.
    public var headerLength: Int { bodyOffset }

    /// The longest header section parsed (bigger ones end there; the rest counts as body).
    public static let maximumLength = 1 << 20

    /// Parses the header section at the start of `message`.
    ///
    /// - Parameter message: a message (CRLF or bare-LF line endings).
    public init(parsing message: some Collection<UInt8>) {
        let bytes = Array(message.prefix(Self.maximumLength + 2))
        var fields: [Field] = []
        var index = 0
        var end = bytes.count
        while index < bytes.count {
            // One physical line.
            var lineEnd = index
            while lineEnd < bytes.count && bytes[lineEnd] != ASCII.lf { lineEnd += 1 }
            let next = min(lineEnd + 1, bytes.count)
            var content = bytes[index..<lineEnd]
            if content.last == ASCII.cr { content = content.dropLast() }
            if content.isEmpty {
                end = next
                break
            }
            if content.first == ASCII.space || content.first == Self.tab {
                // A continuation: folded into the previous field (RFC 5322 §2.2.3).
                if !fields.isEmpty {
                    fields[fields.count - 1].value += content
                }
                index = next
                continue
            }
            guard let colon = content.firstIndex(of: Self.colon), colon > content.startIndex,
                !content[content.startIndex..<colon].contains(where: { $0 <= 0x20 || $0 >= 0x7F })
            else {
                // Not a field: the header section ends here and this line is body.
                end = index
                break
            }
            let name = Array(content[content.startIndex..<colon])
            let value = Array(content[content.index(after: colon)...].drop { $0 == ASCII.space || $0 == Self.tab })
            fields.append(Field(name: name, value: value))
            index = next
            end = index
        }
        self.fields = fields.map { field in
            var value = field.value
            while let last = value.last, last == ASCII.space || last == Self.tab { value.removeLast() }
            return Field(name: field.name, value: value)
        }
        self.bodyOffset = min(end, message.count)
    }

    /// The value of the first field with a name (ASCII case-insensitive), or nil.
    public func value(_ name: String) -> [UInt8]? {
        let wanted = ASCII.uppercased(name.utf8)
        return fields.first { ASCII.uppercased($0.name) == wanted }?.value
    }

    /// Every value of fields with a name, in order.
    public func values(_ name: String) -> [[UInt8]] {
        let wanted = ASCII.uppercased(name.utf8)
        return fields.filter { ASCII.uppercased($0.name) == wanted }.map(\.value)
    }

    /// The value of a field as text: RFC 2047 encoded words decoded (UTF-8, ISO-8859-1 and
    /// US-ASCII charsets; others are left encoded), other bytes read as UTF-8.
    public func text(_ name: String) -> String? {
        value(name).map(EncodedWords.decode)
    }

    /// The addresses of an address-list field (From, To, Cc, Bcc, Reply-To, Sender).
    public func addresses(_ name: String) -> [MailAddress] {
        values(name).flatMap { MailAddress.list(parsing: $0) }
    }

    static let colon = UInt8(ascii: ":")
    static let tab = UInt8(ascii: "\t")
}

/// One mailbox of an address list: `Name <local@domain>` or `local@domain`.
public struct MailAddress: Sendable, Equatable {
    /// The display name as written (quotes removed, encoded words still encoded), or nil.
    public var name: [UInt8]?
    /// The local part (before the last `@`).
    public var mailbox: [UInt8]
    /// The domain (after the last `@`), or nil when the address has none.
    public var host: [UInt8]?

    /// Creates an address.
    public init(name: [UInt8]?, mailbox: [UInt8], host: [UInt8]?) {
        self.name = name
        self.mailbox = mailbox
        self.host = host
    }

    /// `local@domain` as text.
    public var address: String {
        String(decoding: mailbox, as: UTF8.self) + (host.map { "@" + String(decoding: $0, as: UTF8.self) } ?? "")
    }

    /// The display name decoded (RFC 2047), or "" when there is none.
    public var displayName: String {
        name.map(EncodedWords.decode) ?? ""
    }

    /// Parses an address list (RFC 5322 §3.4) leniently: groups are flattened, comments dropped,
    /// an entry without `@` keeps its text as the local part.
    ///
    /// - Parameter bytes: the unfolded field value.
    /// - Returns: the addresses in order.
    public static func list(parsing bytes: [UInt8]) -> [MailAddress] {
        var result: [MailAddress] = []
        for item in splitTopLevel(bytes) {
            var item = item
            // A group "name: a, b;" — take what follows the colon.
            if let colon = topLevelIndex(of: UInt8(ascii: ":"), in: item),
                !item.contains(UInt8(ascii: "<")) || colon < item.firstIndex(of: UInt8(ascii: "<"))!
            {
                item = Array(item[(colon + 1)...])
            }
            item.removeAll { $0 == UInt8(ascii: ";") }
            let trimmed = trim(stripComments(item))
            guard !trimmed.isEmpty else { continue }
            if let open = topLevelIndex(of: UInt8(ascii: "<"), in: trimmed), let close = trimmed[open...].firstIndex(of: UInt8(ascii: ">"))
            {
                let spec = Array(trimmed[(open + 1)..<close])
                var name = trim(Array(trimmed[..<open]))
                if name.count >= 2, name.first == ASCII.quote, name.last == ASCII.quote {
                    name = unquote(Array(name.dropFirst().dropLast()))
                }
                result.append(address(spec, name: name.isEmpty ? nil : name))
            } else {
                result.append(address(trimmed, name: nil))
            }
        }
        return result
    }

    /// An addr-spec split at its last `@` (a source route `@a,@b:` before it is dropped).
    static func address(_ spec: [UInt8], name: [UInt8]?) -> MailAddress {
        var spec = trim(spec)
        if spec.first == UInt8(ascii: "@"), let colon = spec.firstIndex(of: UInt8(ascii: ":")) {
            spec = Array(spec[(colon + 1)...])
        }
        guard let at = spec.lastIndex(of: UInt8(ascii: "@")) else {
            return MailAddress(name: name, mailbox: spec, host: nil)
        }
        return MailAddress(name: name, mailbox: Array(spec[..<at]), host: Array(spec[(at + 1)...]))
    }

    /// Splits at commas outside quotes, angle brackets and comments.
    static func splitTopLevel(_ bytes: [UInt8]) -> [[UInt8]] {
        var parts: [[UInt8]] = []
        var current: [UInt8] = []
        var quoted = false
        var depth = 0
        var angle = false
        var escaped = false
        for byte in bytes {
            if escaped {
                escaped = false
                current.append(byte)
                continue
            }
            switch byte {
            case ASCII.backslash where quoted || depth > 0: escaped = true
            case ASCII.quote where depth == 0: quoted.toggle()
            case UInt8(ascii: "(") where !quoted: depth += 1
            case UInt8(ascii: ")") where !quoted && depth > 0: depth -= 1
            case UInt8(ascii: "<") where !quoted && depth == 0: angle = true
            case UInt8(ascii: ">") where !quoted && depth == 0: angle = false
            case UInt8(ascii: ",") where !quoted && depth == 0 && !angle:
                parts.append(current)
                current = []
                continue
            default: break
            }
            current.append(byte)
        }
        parts.append(current)
        return parts
    }

    /// The first index of a byte outside quotes and comments.
    static func topLevelIndex(of target: UInt8, in bytes: [UInt8]) -> Int? {
        var quoted = false
        var depth = 0
        var escaped = false
        for (index, byte) in bytes.enumerated() {
            if escaped {
                escaped = false
                continue
            }
            if byte == ASCII.backslash && (quoted || depth > 0) {
                escaped = true
            } else if byte == ASCII.quote && depth == 0 {
                quoted.toggle()
            } else if !quoted && byte == UInt8(ascii: "(") {
                depth += 1
            } else if !quoted && byte == UInt8(ascii: ")") && depth > 0 {
                depth -= 1
            } else if !quoted && depth == 0 && byte == target {
                return index
            }
        }
        return nil
    }

    /// Removes comments `( … )` outside quotes.
    static func stripComments(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var quoted = false
        var depth = 0
        var escaped = false
        for byte in bytes {
            if escaped {
                escaped = false
                if depth == 0 { out.append(byte) }
                continue
            }
            if byte == ASCII.backslash && (quoted || depth > 0) {
                escaped = true
                if depth == 0 { out.append(byte) }
                continue
            }
            if byte == ASCII.quote && depth == 0 { quoted.toggle() }
            if !quoted && byte == UInt8(ascii: "(") {
                depth += 1
                continue
            }
            if !quoted && byte == UInt8(ascii: ")") && depth > 0 {
                depth -= 1
                continue
            }
            if depth == 0 { out.append(byte) }
        }
        return out
    }

    /// Removes backslash escapes of a quoted string's content.
    static func unquote(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var escaped = false
        for byte in bytes {
            if !escaped && byte == ASCII.backslash {
                escaped = true
                continue
            }
            escaped = false
            out.append(byte)
        }
        return out
    }

    /// Removes leading and trailing blanks.
    static func trim(_ bytes: [UInt8]) -> [UInt8] {
        let isBlank: (UInt8) -> Bool = { $0 == ASCII.space || $0 == UInt8(ascii: "\t") || $0 == ASCII.cr || $0 == ASCII.lf }
        guard let first = bytes.firstIndex(where: { !isBlank($0) }), let last = bytes.lastIndex(where: { !isBlank($0) }) else {
            return []
        }
        return Array(bytes[first...last])
    }
}

/// RFC 2047 encoded words (`=?charset?B|Q?text?=`) in header values.
public enum EncodedWords {
    /// Decodes the encoded words of a header value into text; whitespace between two adjacent
    /// encoded words is dropped (RFC 2047 §6.2). Charsets other than UTF-8, ISO-8859-1 and
    /// US-ASCII stay as written.
    public static func decode(_ bytes: [UInt8]) -> String {
        var text = ""
        var index = 0
        var pendingSpace: [UInt8] = []
        var lastWasEncoded = false
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "="), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "?"),
                let (decoded, length) = encodedWord(bytes, at: index)
            {
                if !lastWasEncoded { text += String(decoding: pendingSpace, as: UTF8.self) }
                pendingSpace = []
                text += decoded
                index += length
                lastWasEncoded = true
                continue
            }
            let byte = bytes[index]
            if byte == ASCII.space || byte == UInt8(ascii: "\t") {
                pendingSpace.append(byte)
                index += 1
                continue
            }
            var run: [UInt8] = []
            while index < bytes.count, bytes[index] != ASCII.space, bytes[index] != UInt8(ascii: "\t") {
                run.append(bytes[index])
                index += 1
            }
            text += String(decoding: pendingSpace, as: UTF8.self) + String(decoding: run, as: UTF8.self)
            pendingSpace = []
            lastWasEncoded = false
        }
        return text + String(decoding: pendingSpace, as: UTF8.self)
    }

    /// Decodes one encoded word starting at `start`, returning its text and length.
    static func encodedWord(_ bytes: [UInt8], at start: Int) -> (String, Int)? {
        // =?charset?E?text?=
        let limit = min(bytes.count, start + 1024)
        var parts: [Int] = []
        var index = start + 2
        while index < limit, parts.count < 2 {
            if bytes[index] == UInt8(ascii: "?") { parts.append(index) }
            if bytes[index] == ASCII.space { return nil }
            index += 1
        }
        guard parts.count == 2 else { return nil }
        var close = parts[1] + 1
        while close + 1 < limit, !(bytes[close] == UInt8(ascii: "?") && bytes[close + 1] == UInt8(ascii: "=")) {
            if bytes[close] == ASCII.space { return nil }
            close += 1
        }
        guard close + 1 < limit else { return nil }
        var charset = ASCII.uppercased(bytes[(start + 2)..<parts[0]])
        if let star = charset.firstIndex(of: UInt8(ascii: "*")) { charset = Array(charset[..<star]) }  // RFC 2231 language
        let encoding = ASCII.uppercased(bytes[(parts[0] + 1)..<parts[1]])
        let payload = Array(bytes[(parts[1] + 1)..<close])
        let raw: [UInt8]?
        switch encoding {
        case [UInt8(ascii: "B")]: raw = Base64.decode(payload.filter { $0 != UInt8(ascii: "=") }.paddedBase64)
        case [UInt8(ascii: "Q")]: raw = quotedPrintableWord(payload)
        default: raw = nil
        }
        guard let raw else { return nil }
        let text: String
        switch String(decoding: charset, as: UTF8.self) {
        case "UTF-8", "US-ASCII", "UTF8": text = String(decoding: raw, as: UTF8.self)
        case "ISO-8859-1", "LATIN1", "WINDOWS-1252": text = String(String.UnicodeScalarView(raw.map { Unicode.Scalar($0) }))
        default: return nil
        }
        return (text, close + 2 - start)
    }

    /// The Q encoding of RFC 2047 §4.2.
    static func quotedPrintableWord(_ payload: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var index = 0
        while index < payload.count {
            let byte = payload[index]
            if byte == UInt8(ascii: "_") {
                out.append(ASCII.space)
            } else if byte == UInt8(ascii: "=") {
                guard index + 2 < payload.count, let high = ASCII.hexValue(payload[index + 1]),
                    let low = ASCII.hexValue(payload[index + 2])
                else { return nil }
                out.append(high << 4 | low)
                index += 2
            } else {
                out.append(byte)
            }
            index += 1
        }
        return out
    }
}

extension Array where Element == UInt8 {
    /// Base64 text with its padding restored (encoded words sometimes omit it).
    fileprivate var paddedBase64: [UInt8] {
        self + [UInt8](repeating: UInt8(ascii: "="), count: (4 - count % 4) % 4)
    }
}
