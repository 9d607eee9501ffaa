// SPDX-License-Identifier: Apache-2.0

/// A SEARCH criterion (RFC 3501 §6.4.4), parsed from tokens and matched against one message.
indirect enum IMAPSearchKey: Sendable, Equatable {
    case all
    case flag(String, Bool)
    case new
    case old
    case recent
    case header(field: [UInt8], contains: [UInt8])
    case body([UInt8])
    case text([UInt8])
    case internalDate(Comparison, Int)
    case sentDate(Comparison, Int)
    case larger(Int)
    case smaller(Int)
    case sequence(IMAPSequenceSet)
    case uid(IMAPSequenceSet)
    case not(IMAPSearchKey)
    case or(IMAPSearchKey, IMAPSearchKey)
    case and([IMAPSearchKey])

    /// How a date compares with the key's date (days since 1970).
    enum Comparison: Sendable, Equatable {
        case before, on, since
        func holds(_ day: Int, _ key: Int) -> Bool {
            switch self {
            case .before: day < key
            case .on: day == key
            case .since: day >= key
            }
        }
    }

    /// The deepest NOT/OR/parenthesis nesting parsed.
    static let maximumDepth = 50

    /// Parses the search keys that follow SEARCH (after any CHARSET), all of them ANDed.
    static func parse(_ tokens: inout IMAPTokens) -> IMAPSearchKey? {
        var keys: [IMAPSearchKey] = []
        while !tokens.atEnd {
            guard let key = parseOne(&tokens, depth: 0) else { return nil }
            keys.append(key)
        }
        guard !keys.isEmpty else { return nil }
        return keys.count == 1 ? keys[0] : .and(keys)
    }

    /// One search key.
    static func parseOne(_ tokens: inout IMAPTokens, depth: Int) -> IMAPSearchKey? {
        guard depth < maximumDepth else { return nil }
        if tokens.open() {
            var keys: [IMAPSearchKey] = []
            while !tokens.close() {
                guard !tokens.atEnd, let key = parseOne(&tokens, depth: depth + 1) else { return nil }
                keys.append(key)
            }
            guard !keys.isEmpty else { return nil }
            return .and(keys)
        }
        guard let word = tokens.atom() else { return nil }
        let name = String(decoding: ASCII.uppercased(word), as: UTF8.self)
        func string() -> [UInt8]? { tokens.astring() }
        func date() -> Int? { tokens.astring().flatMap(IMAPDate.days) }
        func number() -> Int? { tokens.atom().flatMap { ASCII.number($0) } }
        switch name {
        case "ALL": return .all
        case "ANSWERED": return .flag(MailStore.Flag.answered, true)
        case "UNANSWERED": return .flag(MailStore.Flag.answered, false)
        case "DELETED": return .flag(MailStore.Flag.deleted, true)
        case "UNDELETED": return .flag(MailStore.Flag.deleted, false)
        case "FLAGGED": return .flag(MailStore.Flag.flagged, true)
        case "UNFLAGGED": return .flag(MailStore.Flag.flagged, false)
        case "SEEN": return .flag(MailStore.Flag.seen, true)
        case "UNSEEN": return .flag(MailStore.Flag.seen, false)
        case "DRAFT": return .flag(MailStore.Flag.draft, true)
        case "UNDRAFT": return .flag(MailStore.Flag.draft, false)
        case "NEW": return .new
        case "OLD": return .old
        case "RECENT": return .recent
        case "KEYWORD", "UNKEYWORD":
            guard let flag = tokens.atom() else { return nil }
            return .flag(String(decoding: flag, as: UTF8.self), name == "KEYWORD")
        case "FROM", "TO", "CC", "BCC", "SUBJECT":
            guard let value = string() else { return nil }
            return .header(field: Array(name.utf8), contains: value)
        case "HEADER":
            guard let field = string(), let value = string() else { return nil }
            return .header(field: ASCII.uppercased(field), contains: value)
        case "BODY":
            return string().map { .body($0) }
        case "TEXT":
            return string().map { .text($0) }
        case "BEFORE": return date().map { .internalDate(.before, $0) }
        case "ON": return date().map { .internalDate(.on, $0) }
        case "SINCE": return date().map { .internalDate(.since, $0) }
        case "SENTBEFORE": return date().map { .sentDate(.before, $0) }
        case "SENTON": return date().map { .sentDate(.on, $0) }
        case "SENTSINCE": return date().map { .sentDate(.since, $0) }
        case "LARGER": return number().map { .larger($0) }
        case "SMALLER": return number().map { .smaller($0) }
        case "UID":
            return tokens.atom().flatMap(IMAPSequenceSet.init).map { .uid($0) }
        case "NOT":
            return parseOne(&tokens, depth: depth + 1).map { .not($0) }
        case "OR":
            guard let first = parseOne(&tokens, depth: depth + 1), let second = parseOne(&tokens, depth: depth + 1) else {
                return nil
            }
            return .or(first, second)
        default:
            return IMAPSequenceSet(word).map { .sequence($0) }
        }
    }

    /// One message as a search sees it.
    struct Candidate {
        let sequenceNumber: Int
        let count: Int
        let entry: MailStore.Entry
        let largestUID: UInt32
        let message: MailStore.StoredMessage
        let recent: Bool
        /// The parsed header, made on first use.
        var header: MessageHeader? = nil

        mutating func parsedHeader() -> MessageHeader {
            if let header { return header }
            let parsed = MessageHeader(parsing: message.bytes)
            header = parsed
            return parsed
        }
    }

    /// Whether the message matches.
    func matches(_ candidate: inout Candidate) -> Bool {
        switch self {
        case .all: return true
        case .flag(let flag, let wanted):
            return candidate.entry.flags.contains { $0.lowercased() == flag.lowercased() } == wanted
        case .new: return candidate.recent && !candidate.entry.flags.contains(MailStore.Flag.seen)
        case .old: return !candidate.recent
        case .recent: return candidate.recent
        case .header(let field, let needle):
            let header = candidate.parsedHeader()
            let values = header.values(String(decoding: field, as: UTF8.self))
            if needle.isEmpty { return !values.isEmpty }
            return values.contains { Self.contains($0, needle) || Self.contains(Array(EncodedWords.decode($0).utf8), needle) }
        case .body(let needle):
            let offset = candidate.parsedHeader().bodyOffset
            return Self.contains(candidate.message.bytes[offset...], needle)
                || Self.containsDecoded(candidate.message.bytes, needle, headers: false)
        case .text(let needle):
            return Self.contains(candidate.message.bytes[...], needle)
                || Self.containsDecoded(candidate.message.bytes, needle, headers: true)
        case .internalDate(let comparison, let day):
            let received = candidate.message.received
            let days = Int(received >= 0 ? received / 86400 : (received - 86399) / 86400)
            return comparison.holds(days, day)
        case .sentDate(let comparison, let day):
            guard let value = candidate.parsedHeader().value("Date"), let days = IMAPDate.sentDays(value) else { return false }
            return comparison.holds(days, day)
        case .larger(let size): return candidate.message.bytes.count > size
        case .smaller(let size): return candidate.message.bytes.count < size
        case .sequence(let set): return set.contains(UInt32(candidate.sequenceNumber), largest: UInt32(candidate.count))
        case .uid(let set): return set.contains(candidate.entry.uid, largest: candidate.largestUID)
        case .not(let key): return !key.matches(&candidate)
        case .or(let first, let second): return first.matches(&candidate) || second.matches(&candidate)
        case .and(let keys):
            for key in keys where !key.matches(&candidate) { return false }
            return true
        }
    }

    /// ASCII case-insensitive substring search over bytes.
    static func contains(_ haystack: some Collection<UInt8>, _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        let hay = Array(haystack)
        guard hay.count >= needle.count else { return false }
        let folded = needle.map(ASCII.uppercased)
        let first = folded[0]
        var index = 0
        let last = hay.count - folded.count
        while index <= last {
            if ASCII.uppercased(hay[index]) == first {
                var matched = true
                for offset in 1..<folded.count where ASCII.uppercased(hay[index + offset]) != folded[offset] {
                    matched = false
                    break
                }
                if matched { return true }
            }
            index += 1
        }
        return false
    }

    /// Whether a transfer-decoded body part (or decoded header text) holds the needle, so that
    /// a search finds words in base64 and quoted-printable parts.
    static func containsDecoded(_ message: [UInt8], _ needle: [UInt8], headers: Bool) -> Bool {
        var stack = [MIMEPart(parsing: message)]
        var visited = 0
        while let part = stack.popLast(), visited < MIMEPart.maximumParts {
            visited += 1
            if headers, part.header.fields.contains(where: { contains(Array(EncodedWords.decode($0.value).utf8), needle) }) {
                return true
            }
            if !part.isMultipart, part.message == nil, part.transferEncoding == "base64" || part.transferEncoding == "quoted-printable",
                contains(part.decodedBody(), needle)
            {
                return true
            }
            stack += part.parts
            if let enclosed = part.message { stack.append(enclosed) }
        }
        return false
    }
}
