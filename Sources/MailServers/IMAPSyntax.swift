// SPDX-License-Identifier: Apache-2.0

/// One token of an IMAP command (RFC 3501 §9): an atom (fetch attributes with their `[...]`
/// section and `<...>` partial included), a string (quoted or literal), or a parenthesis.
enum IMAPToken: Sendable, Equatable {
    case atom([UInt8])
    /// A quoted string.
    case string([UInt8])
    /// A literal (`{n}` and its bytes).
    case literal([UInt8])
    case open
    case close

    /// The bytes of an atom or string (astring), or nil for a parenthesis.
    var astring: [UInt8]? {
        switch self {
        case .atom(let bytes), .string(let bytes), .literal(let bytes): bytes
        case .open, .close: nil
        }
    }
}

/// Turns a command's segments into tokens, and reads them from the front.
struct IMAPTokens: Sendable {
    private(set) var tokens: [IMAPToken]
    private(set) var position = 0
    /// Whether the text was malformed (an unterminated quoted string).
    private(set) var malformed = false

    /// Tokenizes the segments of one command (text and the literals between).
    init(segments: [IMAPServerSession.Segment]) {
        var tokens: [IMAPToken] = []
        var malformed = false
        for segment in segments {
            switch segment {
            case .literal(let bytes):
                tokens.append(.literal(bytes))
            case .text(let text):
                if !Self.tokenize(text, into: &tokens) { malformed = true }
            }
        }
        self.tokens = tokens
        self.malformed = malformed
    }

    /// Splits text into tokens; false when a quoted string is not closed.
    private static func tokenize(_ text: [UInt8], into tokens: inout [IMAPToken]) -> Bool {
        var index = 0
        while index < text.count {
            let byte = text[index]
            switch byte {
            case ASCII.space, MessageHeader.tab:
                index += 1
            case UInt8(ascii: "("):
                tokens.append(.open)
                index += 1
            case UInt8(ascii: ")"):
                tokens.append(.close)
                index += 1
            case ASCII.quote:
                var value: [UInt8] = []
                index += 1
                var closed = false
                while index < text.count {
                    let next = text[index]
                    if next == ASCII.backslash, index + 1 < text.count {
                        value.append(text[index + 1])
                        index += 2
                    } else if next == ASCII.quote {
                        index += 1
                        closed = true
                        break
                    } else {
                        value.append(next)
                        index += 1
                    }
                }
                guard closed else { return false }
                tokens.append(.string(value))
            default:
                // An atom; brackets (a fetch section) may hold spaces and parentheses.
                var atom: [UInt8] = []
                var depth = 0
                while index < text.count {
                    let next = text[index]
                    if depth == 0 && (next == ASCII.space || next == UInt8(ascii: "(") || next == UInt8(ascii: ")")) {
                        break
                    }
                    if next == UInt8(ascii: "[") { depth += 1 }
                    if next == UInt8(ascii: "]") && depth > 0 { depth -= 1 }
                    atom.append(next)
                    index += 1
                }
                tokens.append(.atom(atom))
            }
        }
        return true
    }

    /// Whether every token was read.
    var atEnd: Bool { position >= tokens.count }

    /// The next token, without taking it.
    var peek: IMAPToken? { position < tokens.count ? tokens[position] : nil }

    /// Takes the next token.
    mutating func next() -> IMAPToken? {
        guard position < tokens.count else { return nil }
        position += 1
        return tokens[position - 1]
    }

    /// Takes the next atom.
    mutating func atom() -> [UInt8]? {
        guard case .atom(let bytes)? = peek else { return nil }
        position += 1
        return bytes
    }

    /// Takes the next atom, upper-cased.
    mutating func keyword() -> [UInt8]? {
        atom().map { ASCII.uppercased($0) }
    }

    /// Takes the next astring (atom, quoted string or literal).
    mutating func astring() -> [UInt8]? {
        guard let bytes = peek?.astring else { return nil }
        position += 1
        return bytes
    }

    /// Takes an opening parenthesis if there is one.
    mutating func open() -> Bool {
        guard peek == .open else { return false }
        position += 1
        return true
    }

    /// Takes a closing parenthesis if there is one.
    mutating func close() -> Bool {
        guard peek == .close else { return false }
        position += 1
        return true
    }

    /// Takes a parenthesised list of astrings, or one astring standing alone.
    mutating func astringList() -> [[UInt8]]? {
        guard open() else { return astring().map { [$0] } }
        var items: [[UInt8]] = []
        while !close() {
            guard let item = astring() else { return nil }
            items.append(item)
        }
        return items
    }
}

/// A sequence set (RFC 3501 §9 `sequence-set`): ranges of numbers where `*` stands for the
/// largest number in use.
struct IMAPSequenceSet: Sendable, Equatable {
    /// One end of a range: a number, or nil for `*`.
    struct Range: Sendable, Equatable {
        var low: UInt32?
        var high: UInt32?
    }

    var ranges: [Range]

    /// Parses `1`, `2:4`, `*`, `1:*`, `1,3:5`; nil when malformed (`$` is not supported).
    init?(_ bytes: [UInt8]) {
        guard !bytes.isEmpty, bytes.count <= 100_000 else { return nil }
        var ranges: [Range] = []
        for piece in bytes.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            let ends = piece.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            guard (1...2).contains(ends.count) else { return nil }
            var values: [UInt32?] = []
            for end in ends {
                if end.elementsEqual([UInt8(ascii: "*")]) {
                    values.append(nil)
                } else if end.count <= 10, end.allSatisfy({ (0x30...0x39).contains($0) }), !end.isEmpty,
                    let value = UInt32(String(decoding: end, as: UTF8.self)), value > 0
                {
                    values.append(value)
                } else {
                    return nil
                }
            }
            ranges.append(Range(low: values[0], high: values.count == 2 ? values[1] : values[0]))
        }
        self.ranges = ranges
    }

    /// Whether `number` is in the set, `*` being `largest`.
    func contains(_ number: UInt32, largest: UInt32) -> Bool {
        ranges.contains { range in
            let a = range.low ?? largest
            let b = range.high ?? largest
            return min(a, b) <= number && number <= max(a, b)
        }
    }

    /// Compact text for a sorted list of numbers: `1:3,5`.
    static func text(_ numbers: [UInt32]) -> String {
        var pieces: [String] = []
        var index = 0
        while index < numbers.count {
            var end = index
            while end + 1 < numbers.count && numbers[end + 1] == numbers[end] &+ 1 { end += 1 }
            pieces.append(end == index ? "\(numbers[index])" : "\(numbers[index]):\(numbers[end])")
            index = end + 1
        }
        return pieces.joined(separator: ",")
    }
}

/// Writing IMAP response data.
enum IMAPWrite {
    /// A string as a quoted string when it is short printable ASCII, else as a literal.
    static func string(_ bytes: [UInt8]) -> [UInt8] {
        if bytes.count <= 1000, bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
            var out: [UInt8] = [ASCII.quote]
            for byte in bytes {
                if byte == ASCII.quote || byte == ASCII.backslash { out.append(ASCII.backslash) }
                out.append(byte)
            }
            return out + [ASCII.quote]
        }
        return literal(bytes)
    }

    /// A string, or NIL.
    static func nstring(_ bytes: [UInt8]?) -> [UInt8] {
        bytes.map(string) ?? Array("NIL".utf8)
    }

    /// A literal: `{n}` CRLF and the bytes.
    static func literal(_ bytes: [UInt8]) -> [UInt8] {
        Array("{\(bytes.count)}\r\n".utf8) + bytes
    }

    /// A string of text.
    static func string(_ text: String) -> [UInt8] {
        string(Array(text.utf8))
    }

    /// A parenthesised list of items (NIL when empty and `nilWhenEmpty`).
    static func list(_ items: [[UInt8]], nilWhenEmpty: Bool = false) -> [UInt8] {
        if items.isEmpty && nilWhenEmpty { return Array("NIL".utf8) }
        return [UInt8(ascii: "(")] + Array(items.joined(separator: [ASCII.space])) + [UInt8(ascii: ")")]
    }
}

/// Dates in IMAP commands: `date` (`1-Feb-1994`) and `date-time` (`17-Jul-1996 02:44:25 -0700`).
enum IMAPDate {
    /// Days since 1970 of an IMAP `date`, or nil.
    static func days(_ bytes: [UInt8]) -> Int? {
        let pieces = bytes.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        guard pieces.count == 3, let day = ASCII.number(pieces[0]), (1...31).contains(day),
            let month = MailDate.month(pieces[1]), let year = ASCII.number(pieces[2]), (1...9999).contains(year)
        else { return nil }
        return MailDate.days(year: year, month: month, day: day)
    }

    /// Seconds since 1970 of an IMAP `date-time`, or nil.
    static func seconds(_ bytes: [UInt8]) -> Int64? {
        let trimmed = MailAddress.trim(bytes)
        let words = trimmed.split(separator: ASCII.space)
        guard words.count == 3, let days = days(Array(words[0])) else { return nil }
        let time = words[1].split(separator: UInt8(ascii: ":"))
        guard time.count == 3, let hour = ASCII.number(time[0]), let minute = ASCII.number(time[1]),
            let second = ASCII.number(time[2]), hour < 24, minute < 60, second < 61
        else { return nil }
        let zone = Array(words[2])
        guard zone.count == 5, zone[0] == UInt8(ascii: "+") || zone[0] == UInt8(ascii: "-"),
            let hours = ASCII.number(zone[1...2]), let minutes = ASCII.number(zone[3...4])
        else { return nil }
        let offset = (hours * 3600 + minutes * 60) * (zone[0] == UInt8(ascii: "-") ? -1 : 1)
        return Int64(days) * 86400 + Int64(hour * 3600 + minute * 60 + second - offset)
    }

    /// Days since 1970 of an RFC 5322 `Date:` value in its own time zone (the day, month and
    /// year found in it, leniently), or nil.
    static func sentDays(_ value: [UInt8]) -> Int? {
        let words = value.split { $0 == ASCII.space || $0 == UInt8(ascii: ",") || $0 == MessageHeader.tab }
        for index in words.indices.dropLast(2) {
            if let day = ASCII.number(words[index]), (1...31).contains(day),
                let month = MailDate.month(words[index + 1]),
                let year = ASCII.number(words[index + 2]), words[index + 2].count >= 2
            {
                let fullYear = year < 50 ? 2000 + year : year < 1000 ? 1900 + year : year
                return MailDate.days(year: fullYear, month: month, day: day)
            }
        }
        return nil
    }
}
