// SPDX-License-Identifier: Apache-2.0

/// The MIME structure of a message (RFC 2045, RFC 2046), parsed from bytes: what IMAP
/// BODYSTRUCTURE and `BODY[1.2]` show, and what the HTTP API lists as attachments.
///
/// Parsing never fails and is bounded: nesting stops at ``maximumDepth`` (a deeper multipart or
/// message/rfc822 is kept as a leaf), a message yields at most ``maximumParts`` parts, and a
/// multipart without its closing delimiter ends at the end of its body. Header values keep their
/// bytes; texts meant for people (``filename``) are RFC 2047 / RFC 2231 decoded.
public struct MIMEPart: Sendable, Equatable {
    /// The deepest nesting parsed (the message itself is depth 0).
    public static let maximumDepth = 20
    /// The most parts one message is split into (the message counted).
    public static let maximumParts = 1000

    /// The part's header (for a body part, the MIME header after the boundary line).
    public var header: MessageHeader
    /// The header's bytes as received, the blank line included (IMAP `BODY[1.MIME]`).
    public var headerBytes: [UInt8]
    /// The media type, lower-cased (`text` by default).
    public var type: String
    /// The media subtype, lower-cased (`plain` by default).
    public var subtype: String
    /// The Content-Type parameters; names lower-cased, RFC 2231 continuations and charsets
    /// joined and decoded (`charset` is `us-ascii` for a default text/plain).
    public var parameters: [String: String]
    /// Content-Transfer-Encoding, lower-cased (`7bit` by default).
    public var transferEncoding: String
    /// Content-Disposition's value, lower-cased (`inline`, `attachment`), or nil.
    public var disposition: String?
    /// Content-Disposition's parameters, as ``parameters``.
    public var dispositionParameters: [String: String]
    /// Content-ID as written (angle brackets kept), or nil.
    public var contentID: String?
    /// Content-Description as written, or nil.
    public var description: String?
    /// The part's body, still transfer-encoded (for a multipart: everything after its header).
    public var body: [UInt8]
    /// The children of a multipart, in order.
    public var parts: [MIMEPart]
    /// The enclosed message of a message/rfc822 (or message/global) part, kept in an array
    /// because a value type cannot hold itself.
    private var enclosed: [MIMEPart]

    /// The enclosed message of a message/rfc822 part, or nil.
    public var message: MIMEPart? {
        get { enclosed.first }
        set { enclosed = newValue.map { [$0] } ?? [] }
    }

    /// Parses a whole message, or a body part with its MIME header.
    ///
    /// - Parameter message: the bytes (CRLF line endings; bare LF is accepted).
    public init(parsing message: [UInt8]) {
        var budget = Self.maximumParts
        self.init(parsing: message[...], depth: 0, defaultType: ("text", "plain"), budget: &budget)
    }

    /// Parses one part.
    ///
    /// - Parameters:
    ///   - bytes: the part's header and body.
    ///   - depth: how deep the part is nested.
    ///   - defaultType: the type when Content-Type is missing or broken (message/rfc822 inside
    ///     multipart/digest, RFC 2046 §5.1.5).
    ///   - budget: how many more parts may be made; decremented for this one.
    init(parsing bytes: ArraySlice<UInt8>, depth: Int, defaultType: (String, String), budget: inout Int) {
        budget -= 1
        let header = MessageHeader(parsing: bytes)
        self.header = header
        let bodyStart = bytes.startIndex + header.bodyOffset
        headerBytes = Array(bytes[bytes.startIndex..<bodyStart])
        body = Array(bytes[bodyStart...])
        parts = []
        enclosed = []

        // Content-Type; a missing or unparsable one is the default (RFC 2045 §5.2).
        var type = defaultType.0
        var subtype = defaultType.1
        var parameters: [String: String] = [:]
        if let value = header.value("Content-Type") {
            let (main, parsed) = Self.structuredField(value)
            let halves = main.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            if halves.count == 2, Self.isToken(halves[0]), Self.isToken(halves[1]) {
                type = String(halves[0])
                subtype = String(halves[1])
                parameters = parsed
            }
        }
        if type == "text" && parameters["charset"] == nil && header.value("Content-Type") == nil {
            parameters["charset"] = "us-ascii"
        }
        self.type = type
        self.subtype = subtype
        self.parameters = parameters

        let encoding = header.value("Content-Transfer-Encoding").map { Self.structuredField($0).value } ?? ""
        transferEncoding = encoding.isEmpty ? "7bit" : encoding
        if let value = header.value("Content-Disposition") {
            let (main, parsed) = Self.structuredField(value)
            disposition = main.isEmpty ? nil : main
            dispositionParameters = parsed
        } else {
            disposition = nil
            dispositionParameters = [:]
        }
        contentID = header.value("Content-ID").map { String(decoding: MailAddress.trim($0), as: UTF8.self) }
        description = header.value("Content-Description").map { String(decoding: $0, as: UTF8.self) }

        guard depth < Self.maximumDepth else { return }
        if type == "multipart", let boundary = parameters["boundary"], !boundary.isEmpty {
            let childDefault = subtype == "digest" ? ("message", "rfc822") : ("text", "plain")
            for range in Self.bodyParts(of: body, boundary: Array(boundary.utf8)) {
                guard budget > 0 else { break }
                parts.append(MIMEPart(parsing: body[range], depth: depth + 1, defaultType: childDefault, budget: &budget))
            }
        } else if type == "message" && (subtype == "rfc822" || subtype == "global") && budget > 0
            && ["7bit", "8bit", "binary"].contains(transferEncoding)
        {
            enclosed = [MIMEPart(parsing: body[...], depth: depth + 1, defaultType: ("text", "plain"), budget: &budget)]
        }
    }

    /// Whether this is a multipart (its ``parts`` are its content).
    public var isMultipart: Bool { type == "multipart" }

    /// The body with its transfer encoding undone: base64 (characters outside the alphabet
    /// skipped) and quoted-printable (soft line breaks removed, a malformed `=` kept as it is);
    /// any other encoding as it is.
    public func decodedBody() -> [UInt8] {
        switch transferEncoding {
        case "base64": Base64.decodeLeniently(body)
        case "quoted-printable": Self.decodeQuotedPrintable(body)
        default: body
        }
    }

    /// The file name: Content-Disposition's `filename`, else Content-Type's `name`, with RFC 2047
    /// encoded words decoded (RFC 2231 was undone while parsing); nil when neither is given.
    public var filename: String? {
        guard let raw = dispositionParameters["filename"] ?? parameters["name"] else { return nil }
        return EncodedWords.decode(Array(raw.utf8))
    }

    /// The body's size in lines (line feeds counted, a last line without one included), as IMAP
    /// BODYSTRUCTURE gives it for text and message/rfc822 parts.
    public var bodyLines: Int {
        var lines = 0
        for byte in body where byte == ASCII.lf { lines += 1 }
        if let last = body.last, last != ASCII.lf { lines += 1 }
        return lines
    }

    /// The charset of a text part (lower-cased), or nil.
    public var charset: String? { parameters["charset"]?.lowercased() }

    // MARK: - Parsing helpers

    /// Splits a multipart body at its boundary lines (RFC 2046 §5.1.1): the ranges of the body
    /// parts, without the CRLF that belongs to the next delimiter. The preamble and epilogue are
    /// dropped; without a closing delimiter the last part runs to the end.
    static func bodyParts(of body: [UInt8], boundary: [UInt8]) -> [Range<Int>] {
        let delimiter = [UInt8(ascii: "-"), UInt8(ascii: "-")] + boundary
        var ranges: [Range<Int>] = []
        var partStart: Int?
        var lineStart = 0
        while lineStart < body.count {
            var lineEnd = lineStart
            while lineEnd < body.count && body[lineEnd] != ASCII.lf { lineEnd += 1 }
            var contentEnd = lineEnd
            if contentEnd > lineStart && body[contentEnd - 1] == ASCII.cr { contentEnd -= 1 }
            let line = body[lineStart..<contentEnd]
            if line.count >= delimiter.count, line.starts(with: delimiter) {
                var rest = line.dropFirst(delimiter.count)
                let closing = rest.starts(with: [UInt8(ascii: "-"), UInt8(ascii: "-")])
                if closing { rest = rest.dropFirst(2) }
                if rest.allSatisfy({ $0 == ASCII.space || $0 == MessageHeader.tab }) {
                    if let start = partStart {
                        var end = lineStart
                        if end > start && body[end - 1] == ASCII.lf { end -= 1 }
                        if end > start && body[end - 1] == ASCII.cr { end -= 1 }
                        ranges.append(start..<max(start, end))
                    }
                    if closing { return ranges }
                    partStart = min(lineEnd + 1, body.count)
                }
            }
            lineStart = lineEnd + 1
        }
        if let start = partStart {
            ranges.append(start..<body.count)
        }
        return ranges
    }

    /// Whether text is an RFC 2045 token (no blanks, controls or tspecials).
    static func isToken(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && !Self.tspecials.contains($0) }
    }

    static let tspecials = Set("()<>@,;:\\\"/[]?=".utf8)

    /// Parses a structured field such as Content-Type or Content-Disposition: its value
    /// (lower-cased, comments removed) and its parameters (RFC 2045 §5.1, RFC 2231 §3-4).
    static func structuredField(_ bytes: [UInt8]) -> (value: String, parameters: [String: String]) {
        let items = splitParameters(MailAddress.stripComments(bytes))
        let value = String(decoding: MailAddress.trim(items.first ?? []), as: UTF8.self).lowercased()
        // name -> (section -> (encoded, bytes)); a name without a section is section -1.
        var sections: [String: [Int: (Bool, [UInt8])]] = [:]
        for item in items.dropFirst() {
            guard let equals = item.firstIndex(of: UInt8(ascii: "=")) else { continue }
            var name = String(decoding: MailAddress.trim(Array(item[..<equals])), as: UTF8.self).lowercased()
            var raw = MailAddress.trim(Array(item[(equals + 1)...]))
            if raw.count >= 2, raw.first == ASCII.quote, raw.last == ASCII.quote {
                raw = MailAddress.unquote(Array(raw.dropFirst().dropLast()))
            }
            guard !name.isEmpty else { continue }
            var encoded = false
            if name.hasSuffix("*") {
                encoded = true
                name.removeLast()
            }
            var section = -1
            if let star = name.lastIndex(of: "*"), let number = Int(name[name.index(after: star)...]), number >= 0,
                number < 1000
            {
                section = number
                name = String(name[..<star])
            }
            guard !name.isEmpty, sections[name, default: [:]][section] == nil else { continue }
            sections[name, default: [:]][section] = (encoded, raw)
        }
        var parameters: [String: String] = [:]
        for (name, pieces) in sections {
            var charset = "utf-8"
            var joined: [UInt8] = []
            for (index, section) in pieces.keys.sorted().enumerated() {
                var (encoded, raw) = pieces[section]!
                if encoded && index == 0 {
                    // charset'language'text
                    let quotes = raw.indices.filter { raw[$0] == UInt8(ascii: "'") }
                    if quotes.count >= 2 {
                        let declared = String(decoding: raw[..<quotes[0]], as: UTF8.self).lowercased()
                        if !declared.isEmpty { charset = declared }
                        raw = Array(raw[(quotes[1] + 1)...])
                    }
                }
                joined += encoded ? percentDecoded(raw) : raw
            }
            parameters[name] = text(joined, charset: charset)
        }
        return (value, parameters)
    }

    /// Splits a field value at semicolons outside quoted strings.
    static func splitParameters(_ bytes: [UInt8]) -> [[UInt8]] {
        var items: [[UInt8]] = []
        var current: [UInt8] = []
        var quoted = false
        var escaped = false
        for byte in bytes {
            if escaped {
                escaped = false
            } else if quoted && byte == ASCII.backslash {
                escaped = true
            } else if byte == ASCII.quote {
                quoted.toggle()
            } else if !quoted && byte == UInt8(ascii: ";") {
                items.append(current)
                current = []
                continue
            }
            current.append(byte)
        }
        items.append(current)
        return items
    }

    /// `%XX` escapes undone (a malformed one kept as written).
    static func percentDecoded(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = ASCII.hexValue(bytes[index + 1]), let low = ASCII.hexValue(bytes[index + 2])
            {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }

    /// Bytes in a charset as text: ISO-8859-1 (and its Windows superset, approximately) byte
    /// for code point; anything else as UTF-8 (invalid sequences replaced).
    static func text(_ bytes: [UInt8], charset: String) -> String {
        switch charset {
        case "iso-8859-1", "latin1", "windows-1252",
            "us-ascii" where bytes.contains(where: { $0 >= 0x80 }):
            String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        default:
            String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Lenient quoted-printable (RFC 2045 §6.7): `=XX` decoded, `=` at a line's end joins lines,
    /// anything malformed kept as written.
    static func decodeQuotedPrintable(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == UInt8(ascii: "=") else {
                out.append(byte)
                index += 1
                continue
            }
            // A soft line break: "=" then optional blanks then (CR)LF.
            var next = index + 1
            while next < bytes.count && (bytes[next] == ASCII.space || bytes[next] == MessageHeader.tab) { next += 1 }
            if next < bytes.count && bytes[next] == ASCII.cr && next + 1 < bytes.count && bytes[next + 1] == ASCII.lf {
                index = next + 2
            } else if next < bytes.count && bytes[next] == ASCII.lf {
                index = next + 1
            } else if next == bytes.count {
                index = next
            } else if index + 2 < bytes.count, let high = ASCII.hexValue(bytes[index + 1]), let low = ASCII.hexValue(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        return out
    }
}
