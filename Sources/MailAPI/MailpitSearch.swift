// SPDX-License-Identifier: Apache-2.0

/// A Mailpit search query (`GET /api/v1/search?query=…`) as a value: the terms in order, each
/// possibly negated, all of which a message must satisfy.
///
/// The syntax is Mailpit's (its `internal/storage/search.go` and the "search filters" page of its
/// documentation): words split at blanks outside double quotes, the quotes then dropped, so
/// `subject:"two words"` is one term; a leading `-` or `!` negates a term; a term without a
/// letter or digit is ignored; prefixes are matched case-insensitively. Plain words match the
/// message's search text (the address headers, the subject, the body text and the attachments'
/// file names), case-insensitively and as substrings, as Mailpit's `LIKE '%…%'` does.
///
/// Parsing never fails: what Mailpit ignores (an invalid date, a size it cannot read) is left
/// out here too.
public struct MailpitSearch: Sendable, Equatable {
    /// One condition.
    public struct Term: Sendable, Equatable {
        /// Whether the condition is negated (`-term` or `!term`).
        public var negated: Bool
        /// What is tested.
        public var filter: Filter

        /// Creates a term.
        public init(negated: Bool = false, _ filter: Filter) {
            self.negated = negated
            self.filter = filter
        }
    }

    /// What a term tests. Text values are kept lower-cased, as they are compared.
    public enum Filter: Sendable, Equatable {
        /// The search text contains the words (a phrase when quoted).
        case text(String)
        /// A To, From, Cc, Bcc or Reply-To address or name contains the text.
        case to(String)
        case from(String)
        case cc(String)
        case bcc(String)
        case replyTo(String)
        /// Any of the address fields contains the text (`addressed:`).
        case addressed(String)
        /// The subject contains the text.
        case subject(String)
        /// The Message-ID contains the text.
        case messageID(String)
        /// The message has the tag (this server keeps no tags: nothing has one).
        case tag(String)
        /// The message was read (`is:read`), or not (`is:unread`).
        case read(Bool)
        /// The message has a tag (`is:tagged`).
        case tagged
        /// The message has an attachment (`has:attachment`), or an inline part (`has:inline`).
        case hasAttachment, hasInline
        /// The message arrived at or after / at or before an instant, milliseconds since 1970.
        case after(Int64)
        case before(Int64)
        /// The message is larger / smaller than a number of bytes.
        case larger(Int64)
        case smaller(Int64)
    }

    /// The terms, in the order written.
    public var terms: [Term]

    /// The longest query parsed; the rest is ignored (a search box, not a document).
    public static let maximumLength = 4096

    /// Creates a search from terms.
    public init(terms: [Term]) {
        self.terms = terms
    }

    /// Parses a query as Mailpit does.
    ///
    /// - Parameter query: the query text (already URL-decoded).
    public init(parsing query: String) {
        var terms: [Term] = []
        for argument in Self.arguments(String(query.prefix(Self.maximumLength))) {
            if let term = Self.term(argument) { terms.append(term) }
        }
        self.terms = terms
    }

    /// Splits at blanks outside double quotes, then removes the quotes (Mailpit's `ArgsParser`).
    static func arguments(_ query: String) -> [String] {
        var result: [String] = []
        var current = ""
        var quoted = false
        func flush() {
            let value = current.filter { $0 != "\"" }.trimmingBlanks
            if !value.isEmpty { result.append(value) }
            current = ""
        }
        for character in query {
            if character == "\"" {
                quoted.toggle()
                current.append(character)
            } else if !quoted && character.isSearchBlank {
                flush()
            } else {
                current.append(character)
            }
        }
        flush()
        return result
    }

    /// One argument as a term, or nil when Mailpit would skip it.
    static func term(_ argument: String) -> Term? {
        guard !clean(argument).isEmpty else { return nil }
        var word = Substring(argument)
        var negated = false
        if word.count > 1, word.first == "-" || word.first == "!" {
            negated = true
            word = word.dropFirst()
        }
        guard word.unicodeScalars.contains(where: { $0.isASCIIAlphanumeric }) else { return nil }
        let lower = word.lowercased()
        func value(after prefix: String) -> String { clean(String(word.dropFirst(prefix.count))) }
        let addressFilters: [(String, (String) -> Filter)] = [
            ("to:", Filter.to), ("from:", Filter.from), ("cc:", Filter.cc), ("bcc:", Filter.bcc),
            ("reply-to:", Filter.replyTo), ("addressed:", Filter.addressed), ("message-id:", Filter.messageID),
            ("tag:", Filter.tag),
        ]
        for (prefix, make) in addressFilters where lower.hasPrefix(prefix) {
            let text = value(after: prefix)
            return text.isEmpty ? nil : Term(negated: negated, make(text))
        }
        if lower.hasPrefix("subject:") {
            // Mailpit compares the subject with the value as written (SQLite's LIKE ignores ASCII case).
            let text = String(word.dropFirst("subject:".count)).lowercased()
            return text.isEmpty ? nil : Term(negated: negated, .subject(text))
        }
        switch lower {
        case "is:read": return Term(negated: negated, .read(true))
        case "is:unread": return Term(negated: negated, .read(false))
        case "is:tagged": return Term(negated: negated, .tagged)
        case "has:inline", "has:inlines": return Term(negated: negated, .hasInline)
        case "has:attachment", "has:attachments": return Term(negated: negated, .hasAttachment)
        default: break
        }
        if lower.hasPrefix("after:") || lower.hasPrefix("before:") {
            let after = lower.hasPrefix("after:")
            let text = value(after: after ? "after:" : "before:")
            guard !text.isEmpty else { return nil }
            // An invalid date is ignored (Mailpit logs it and leaves the term out).
            guard let milliseconds = SearchDate.milliseconds(text) else { return nil }
            return Term(negated: negated, after ? .after(milliseconds) : .before(milliseconds))
        }
        if lower.hasPrefix("larger:"), let size = sizeInBytes(value(after: "larger:")), size > 0 {
            return Term(negated: negated, .larger(size))
        }
        if lower.hasPrefix("smaller:"), let size = sizeInBytes(value(after: "smaller:")), size > 0 {
            return Term(negated: negated, .smaller(size))
        }
        return Term(negated: negated, .text(clean(String(word))))
    }

    /// Mailpit's `cleanString`: newlines, tabs, `<>",;()` to blanks, blanks collapsed, trimmed,
    /// lower-cased. Applied to both the stored search text and the query's values.
    static func clean(_ text: String) -> String {
        var out = ""
        var pendingBlank = false
        for character in text {
            let blank = character.isSearchBlank || "<>\",;()".contains(character) || character == "\u{FEFF}"
            if blank {
                pendingBlank = !out.isEmpty
                continue
            }
            if pendingBlank { out.append(" ") }
            pendingBlank = false
            out.append(contentsOf: character.lowercased())
        }
        return out
    }

    /// `2kb`, `4MB`, `1.5m`, `300` as bytes (Mailpit's `sizeToBytes`), or nil.
    static func sizeInBytes(_ text: String) -> Int64? {
        let lower = Array(text.lowercased().utf8)
        var index = 0
        var integer: Int64 = 0
        var digits = 0
        while index < lower.count, let digit = lower[index].asciiDigit {
            guard digits < 15 else { return nil }
            integer = integer * 10 + Int64(digit)
            digits += 1
            index += 1
        }
        guard digits > 0 else { return nil }
        var fraction = 0.0
        if index < lower.count, lower[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            var fractionDigits = 0
            while index < lower.count, let digit = lower[index].asciiDigit {
                fraction += Double(digit) * scale
                scale /= 10
                fractionDigits += 1
                index += 1
            }
            guard fractionDigits > 0 else { return nil }
        }
        if index < lower.count, lower[index] == UInt8(ascii: " ") { index += 1 }
        let unit = String(decoding: lower[index...], as: UTF8.self)
        let multiplier: Double
        switch unit {
        case "": multiplier = 1
        case "k", "kb": multiplier = 1024
        case "m", "mb": multiplier = 1024 * 1024
        default: return nil
        }
        // A size beyond Int64 is no size (Go's conversion gives a negative number there, and
        // Mailpit then treats the term as text).
        let bytes = (Double(integer) + fraction) * multiplier
        guard bytes < 9.2e18 else { return nil }
        return Int64(bytes)
    }

    /// Whether a message satisfies every term.
    public func matches(_ message: SearchableMessage) -> Bool {
        terms.allSatisfy { term in term.filter.holds(for: message) != term.negated }
    }
}

/// What a search looks at in one message (``MailpitSearch/matches(_:)``).
public struct SearchableMessage: Sendable, Equatable {
    /// Mailpit's search text, cleaned (``MailpitSearch/clean(_:)``).
    public var text: String
    /// Each address field's addresses as `name address`, cleaned.
    public var to: String, from: String, cc: String, bcc: String, replyTo: String
    /// The subject and the Message-ID, lower-cased.
    public var subject: String, messageID: String
    /// Whether the message was read.
    public var read: Bool
    /// How many attachments and inline parts it has.
    public var attachments: Int, inline: Int
    /// When it arrived, milliseconds since 1970.
    public var created: Int64
    /// Its size in bytes.
    public var size: Int64

    /// Creates the searchable view of a message.
    public init(
        text: String = "",
        to: String = "",
        from: String = "",
        cc: String = "",
        bcc: String = "",
        replyTo: String = "",
        subject: String = "",
        messageID: String = "",
        read: Bool = false,
        attachments: Int = 0,
        inline: Int = 0,
        created: Int64 = 0,
        size: Int64 = 0
    ) {
        self.text = text
        self.to = to
        self.from = from
        self.cc = cc
        self.bcc = bcc
        self.replyTo = replyTo
        self.subject = subject
        self.messageID = messageID
        self.read = read
        self.attachments = attachments
        self.inline = inline
        self.created = created
        self.size = size
    }
}

extension MailpitSearch.Filter {
    /// Whether the filter holds for a message (before negation).
    func holds(for message: SearchableMessage) -> Bool {
        switch self {
        case .text(let text): message.text.contains(text)
        case .to(let text): message.to.contains(text)
        case .from(let text): message.from.contains(text)
        case .cc(let text): message.cc.contains(text)
        case .bcc(let text): message.bcc.contains(text)
        case .replyTo(let text): message.replyTo.contains(text)
        case .addressed(let text):
            [message.to, message.from, message.cc, message.bcc, message.replyTo].contains { $0.contains(text) }
        case .subject(let text): message.subject.contains(text)
        case .messageID(let text): message.messageID.contains(text)
        case .tag: false
        case .read(let read): message.read == read
        case .tagged: false
        case .hasAttachment: message.attachments > 0
        case .hasInline: message.inline > 0
        case .after(let instant): message.created >= instant
        case .before(let instant): message.created <= instant
        case .larger(let size): message.size > size
        case .smaller(let size): message.size < size
        }
    }
}

extension Character {
    /// A blank as Go's `strings.Fields` and the query splitter see it (ASCII white space).
    var isSearchBlank: Bool {
        self == " " || self == "\t" || self == "\n" || self == "\r" || self == "\r\n" || self == "\u{0B}" || self == "\u{0C}"
    }
}

extension Unicode.Scalar {
    /// `[a-zA-Z0-9]`.
    var isASCIIAlphanumeric: Bool {
        (0x30...0x39).contains(value) || (0x41...0x5A).contains(value) || (0x61...0x7A).contains(value)
    }
}

extension UInt8 {
    /// The value of an ASCII digit, or nil.
    var asciiDigit: Int? {
        (0x30...0x39).contains(self) ? Int(self - 0x30) : nil
    }
}

extension String {
    /// The text without leading and trailing blanks.
    var trimmingBlanks: String {
        guard let first = firstIndex(where: { !$0.isSearchBlank }), let last = lastIndex(where: { !$0.isSearchBlank }) else {
            return ""
        }
        return String(self[first...last])
    }
}
