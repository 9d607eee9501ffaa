// SPDX-License-Identifier: Apache-2.0

/// A record or policy file that does not parse: what is wrong and where ("policy line 3: mode
/// 'enforcing' is not enforce, testing or none").
public struct PolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The whole message, with its place first.
    public var description: String
    /// The 1-based line of a policy file, when the problem is on one line.
    public var line: Int?
    /// The field the problem is in ("mode", "id", "rua"), when there is one.
    public var field: String?

    /// An error with its message already written.
    ///
    /// - Parameters:
    ///   - description: the message, with its place first.
    ///   - line: the 1-based line of a policy file, if any.
    ///   - field: the field the problem is in, if any.
    public init(_ description: String, line: Int? = nil, field: String? = nil) {
        self.description = description
        self.line = line
        self.field = field
    }
}

/// Byte-level helpers the record and policy parsers share: ASCII classes, trimming, splitting,
/// and quoting bytes for messages. Wire text stays `[UInt8]` until it is split.
enum PolicyBytes {
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let semicolon: UInt8 = 0x3B
    static let equals: UInt8 = 0x3D
    static let colon: UInt8 = 0x3A
    static let comma: UInt8 = 0x2C
    static let dot: UInt8 = 0x2E
    static let hyphen: UInt8 = 0x2D
    static let star: UInt8 = 0x2A

    /// Longest text shown in a message; the rest is cut with "…".
    static let quoteLimit = 64

    static func isWSP(_ byte: UInt8) -> Bool { byte == space || byte == tab }
    static func isAlpha(_ byte: UInt8) -> Bool { (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) }
    static func isDigit(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) }
    static func isAlphaNumeric(_ byte: UInt8) -> Bool { isAlpha(byte) || isDigit(byte) }

    /// ASCII lower case; other bytes unchanged.
    static func lowercased<S: Sequence<UInt8>>(_ bytes: S) -> [UInt8] {
        bytes.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }
    }

    /// `bytes` without leading and trailing SP and HTAB.
    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, isWSP(first) { slice = slice.dropFirst() }
        while let last = slice.last, isWSP(last) { slice = slice.dropLast() }
        return slice
    }

    /// Splits on every `separator` byte (empty pieces kept).
    static func split(_ bytes: ArraySlice<UInt8>, on separator: UInt8) -> [ArraySlice<UInt8>] {
        bytes.split(separator: separator, omittingEmptySubsequences: false)
    }

    /// Whether `bytes` starts with `prefix` followed by the end, WSP or `terminator`.
    static func startsWithToken(_ bytes: [UInt8], _ prefix: String, terminator: UInt8) -> Bool {
        let token = Array(prefix.utf8)
        guard bytes.count >= token.count, bytes.prefix(token.count).elementsEqual(token) else { return false }
        guard bytes.count > token.count else { return true }
        let next = bytes[token.count]
        return next == terminator || isWSP(next)
    }

    /// The bytes as text for a message: UTF-8 (invalid sequences replaced), control bytes as
    /// `\xHH`, at most ``quoteLimit`` characters, in single quotes.
    static func quote<S: Sequence<UInt8>>(_ bytes: S) -> String {
        let text = String(decoding: Array(bytes), as: UTF8.self)
        var shown = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == quoteLimit {
                shown += "…"
                break
            }
            if scalar.value < 0x20 || scalar.value == 0x7F {
                let hex = String(scalar.value, radix: 16, uppercase: true)
                shown += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            } else {
                shown.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return "'" + shown + "'"
    }

    /// ASCII-only bytes as a String (callers check the bytes first).
    static func string<S: Sequence<UInt8>>(_ bytes: S) -> String {
        String(decoding: Array(bytes), as: UTF8.self)
    }

    /// Whether `bytes` is an extension name of RFC 8461 and RFC 8460:
    /// `(ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")`.
    static func isExtensionName(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let first = bytes.first, isAlphaNumeric(first), bytes.count <= 32 else { return false }
        return bytes.allSatisfy { isAlphaNumeric($0) || $0 == 0x5F || $0 == hyphen || $0 == dot }
    }

    /// Whether `bytes` is a TXT record extension value: `1*(%x21-3A / %x3C / %x3E-7E)` (visible
    /// ASCII except ";" and "=").
    static func isRecordExtensionValue(_ bytes: ArraySlice<UInt8>) -> Bool {
        !bytes.isEmpty && bytes.allSatisfy { (0x21...0x7E).contains($0) && $0 != semicolon && $0 != equals }
    }

    /// An extension field's value as text, or the error naming the field when it is not a valid
    /// extension value (RFC 8461 §3.1, RFC 8460 §3).
    static func extensionValue(_ field: RecordField, name: String, what: String) throws(PolicyError) -> String {
        guard isRecordExtensionValue(field.value) else {
            throw PolicyError(
                "\(what): field \(field.number): \(name) value \(quote(field.value)) is empty or has "
                    + "characters other than visible ASCII without ';' and '='",
                field: name
            )
        }
        return string(field.value)
    }

    /// One `name=value` field of a TXT record, numbered from 1 (the version is field 1).
    struct RecordField {
        var number: Int
        var name: ArraySlice<UInt8>
        var value: ArraySlice<UInt8>
        var text: ArraySlice<UInt8>
    }

    /// Splits a TXT record of the form `version *(*WSP ";" *WSP field) [";"]` into its fields,
    /// checking the version first and the shape of each field (`name=value`, a name of
    /// ``isExtensionName(_:)``). Values are checked by the caller.
    ///
    /// - Parameters:
    ///   - text: the record's text (its character-strings joined).
    ///   - what: the record's name in messages ("MTA-STS record").
    ///   - version: the version field that must come first ("v=STSv1").
    ///   - maximumSize: the longest record accepted.
    /// - Returns: the fields after the version, in order.
    static func recordFields(
        _ text: [UInt8],
        what: String,
        version: String,
        maximumSize: Int
    ) throws(PolicyError) -> [RecordField] {
        guard text.count <= maximumSize else {
            throw PolicyError("\(what): \(text.count) bytes, more than the \(maximumSize) allowed")
        }
        let pieces = split(text[...], on: semicolon)
        let first = trimmed(pieces[0])
        guard first.elementsEqual(version.utf8), let start = pieces[0].first, !isWSP(start) else {
            throw PolicyError("\(what): does not start with \(version) (starts with \(quote(pieces[0])))", field: "v")
        }
        var fields: [RecordField] = []
        var seen: [ArraySlice<UInt8>: Int] = [:]
        for (index, piece) in pieces.enumerated().dropFirst() {
            let number = index + 1
            let field = trimmed(piece)
            if field.isEmpty {
                if index == pieces.count - 1 { break }  // a trailing ";"
                throw PolicyError("\(what): field \(number) is empty (two ';' in a row)")
            }
            guard let equals = field.firstIndex(of: equals) else {
                throw PolicyError("\(what): field \(number) \(quote(field)) is not name=value")
            }
            let name = field[..<equals]
            let value = field[(equals + 1)...]
            guard isExtensionName(name) else {
                throw PolicyError("\(what): field \(number) \(quote(field)): \(quote(name)) is not a field name")
            }
            if name.elementsEqual("v".utf8) {
                throw PolicyError("\(what): field \(number): a second version field", field: "v")
            }
            if let earlier = seen[name] {
                throw PolicyError(
                    "\(what): field \(number): \(string(name)) given again (first in field \(earlier))",
                    field: string(name)
                )
            }
            seen[name] = number
            fields.append(RecordField(number: number, name: name, value: value, text: field))
        }
        return fields
    }

    /// Keeps the records that start with `version` (followed by ";", WSP or the end); exactly one
    /// may remain.
    static func selectOne(_ records: [[UInt8]], what: String, version: String) throws(PolicyError) -> [UInt8]? {
        let candidates = records.filter { startsWithToken($0, version, terminator: semicolon) }
        guard candidates.count <= 1 else {
            throw PolicyError(
                "\(what)s: \(candidates.count) records start with \(version); exactly one is allowed",
                field: "v"
            )
        }
        return candidates.first
    }
}
