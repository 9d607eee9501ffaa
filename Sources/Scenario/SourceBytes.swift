// SPDX-License-Identifier: Apache-2.0

/// Checks and edits of a scenario file done over its bytes, never over Swift `Character`s (which
/// fold "\r\n" into one): the encoding problems libyaml rejects without a line and column, the
/// byte where a libyaml mark points, and the copy of a text that composes despite a repeated key.
enum SourceBytes {
    /// A byte or character a scenario file may not hold, with its place.
    struct Problem: Sendable, Hashable {
        /// The 1-based line, counted by LF.
        var line: Int
        /// The 1-based column: the characters (Unicode scalars) before it on its line, plus one.
        var column: Int
        /// The offset of its first byte in the file.
        var offset: Int
        /// What is wrong, in one sentence.
        var message: String
    }

    /// The UTF-8 byte order mark, which libyaml skips at the start of a stream without counting it.
    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// The first byte that does not begin a well-formed UTF-8 character and, unless
    /// `checkingCharacters` is false, the first character YAML does not allow in a stream
    /// (a control character other than TAB, LF and CR, or U+FFFE/U+FFFF).
    ///
    /// - Parameters:
    ///   - bytes: the whole file.
    ///   - checkingCharacters: whether characters YAML forbids are problems too.
    /// - Returns: the first problem, or nil when there is none.
    static func firstProblem(in bytes: [UInt8], checkingCharacters: Bool = true) -> Problem? {
        var line = 1
        var column = 1
        var index = bytes.starts(with: byteOrderMark) ? byteOrderMark.count : 0
        while index < bytes.count {
            guard let (value, length) = decode(bytes, at: index) else {
                let message =
                    "the file is not valid UTF-8: byte \(hex(bytes[index])) (offset \(index)) does not begin a "
                    + "well-formed character; save the file as UTF-8"
                return Problem(line: line, column: column, offset: index, message: message)
            }
            if checkingCharacters, !isAllowed(value) {
                return Problem(line: line, column: column, offset: index, message: notAllowed(value))
            }
            if value == 0x0A {
                line += 1
                column = 1
            } else {
                column += 1
            }
            index += length
        }
        return nil
    }

    /// The line and column of a byte offset, counted as `firstProblem(in:checkingCharacters:)`
    /// counts them; an offset past the end is placed after the last character.
    static func position(ofOffset offset: Int, in bytes: [UInt8]) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        var index = bytes.starts(with: byteOrderMark) ? byteOrderMark.count : 0
        while index < min(offset, bytes.count) {
            if bytes[index] == 0x0A {
                line += 1
                column = 1
            } else if !isContinuation(bytes[index]) {
                column += 1
            }
            index += 1
        }
        return (line, column)
    }

    /// The byte offset a libyaml mark points at, or nil when the text has no such place.
    ///
    /// libyaml counts lines and columns its own way: CR LF, a lone CR, LF, NEL, LS and PS each end
    /// a line; columns are Unicode scalars; a byte order mark at the start is not counted.
    ///
    /// - Parameters:
    ///   - line: the mark's 1-based line.
    ///   - column: the mark's 1-based column.
    ///   - bytes: the text libyaml read, which is valid UTF-8.
    static func offset(line: Int, column: Int, in bytes: [UInt8]) -> Int? {
        var atLine = 1
        var atColumn = 1
        var index = bytes.starts(with: byteOrderMark) ? byteOrderMark.count : 0
        while atLine < line || (atLine == line && atColumn < column) {
            guard index < bytes.count else { return nil }
            let breakLength = lineBreakLength(bytes, at: index)
            if breakLength > 0 {
                // A column past the end of its line is no place in the text.
                if atLine == line { return nil }
                atLine += 1
                atColumn = 1
                index += breakLength
            } else {
                atColumn += 1
                index += max(1, sequenceLength(bytes[index]))
            }
        }
        return atLine == line && atColumn == column && index <= bytes.count ? index : nil
    }

    /// A copy of the text in which the mapping key that starts at `offset` equals no other key,
    /// with every line and column kept: the key's first character is replaced by `replacement`.
    ///
    /// This lets a file whose mappings repeat a key be composed anyway, so that every repeat can
    /// be found in the tree. Only a plain or quoted scalar whose first character is on the key's
    /// line can be changed this way (after an anchor or a tag, if any).
    ///
    /// - Parameters:
    ///   - offset: where the key starts, as `offset(line:column:in:)` gives it.
    ///   - bytes: the text, valid UTF-8.
    ///   - replacement: a character that begins no key of the file (a private-use one).
    /// - Returns: the changed text, or nil when the key cannot be changed this way.
    static func maskingKey(at offset: Int, in bytes: [UInt8], with replacement: Unicode.Scalar) -> [UInt8]? {
        var index = offset
        // Skip the node's properties: `&anchor` and `!tag`, each followed by blanks.
        while index < bytes.count, bytes[index] == UInt8(ascii: "&") || bytes[index] == UInt8(ascii: "!") {
            while index < bytes.count, !isBlank(bytes[index]), lineBreakLength(bytes, at: index) == 0 { index += 1 }
            let start = index
            while index < bytes.count, isBlank(bytes[index]) { index += 1 }
            if index == start { return nil }
        }
        guard index < bytes.count else { return nil }
        let first = bytes[index]
        if first == UInt8(ascii: "\"") || first == UInt8(ascii: "'") {
            // A quoted key: change the first character inside the quotes, unless it is the closing
            // quote, an escape or a line break.
            index += 1
            guard index < bytes.count else { return nil }
            let inside = bytes[index]
            if inside == first || inside == UInt8(ascii: "\\") { return nil }
        } else if "!&*[]{}|>%@`#, \t".utf8.contains(first) {
            // An alias, a collection, a block scalar or something that is no scalar.
            return nil
        }
        guard lineBreakLength(bytes, at: index) == 0 else { return nil }
        let length = sequenceLength(bytes[index])
        guard length > 0, index + length <= bytes.count else { return nil }
        var copy = Array(bytes[..<index])
        copy.append(contentsOf: String(replacement).utf8)
        copy.append(contentsOf: bytes[(index + length)...])
        return copy
    }

    // MARK: - Characters

    /// Whether YAML allows the character in a stream (YAML 1.1's printable set, which libyaml
    /// checks): TAB, LF, CR, U+0020–U+007E, NEL, U+00A0–U+D7FF, U+E000–U+FFFD and U+10000 on.
    static func isAllowed(_ value: UInt32) -> Bool {
        switch value {
        case 0x09, 0x0A, 0x0D, 0x20...0x7E, 0x85, 0xA0...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }

    /// Why a character YAML forbids cannot be in the file, and how to write it instead.
    static func notAllowed(_ value: UInt32) -> String {
        let name =
            "U+" + String(repeating: "0", count: max(0, 4 - String(value, radix: 16).count)) + String(value, radix: 16, uppercase: true)
        if value < 0x100 {
            let escape = "\\x" + (value < 0x10 ? "0" : "") + String(value, radix: 16, uppercase: true)
            return "\(name) (a control character) is not allowed in a scenario file; write it as \(escape) in a double-quoted string"
        }
        let escape = "\\u" + String(value, radix: 16, uppercase: true)
        return "\(name) (not a character) is not allowed in a scenario file; write it as \(escape) in a double-quoted string"
    }

    /// `0xE9`.
    static func hex(_ byte: UInt8) -> String {
        "0x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16, uppercase: true)
    }

    // MARK: - UTF-8

    /// The scalar value and length of the well-formed UTF-8 character at `index` (no overlong
    /// forms, no surrogates, nothing past U+10FFFF), or nil when the bytes there are not one.
    static func decode(_ bytes: [UInt8], at index: Int) -> (value: UInt32, length: Int)? {
        let lead = bytes[index]
        if lead < 0x80 { return (UInt32(lead), 1) }
        // The allowed range of the second byte depends on the lead byte (Unicode table 3-7).
        let length: Int
        var second: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            second = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            second = 0x80...0x9F
        case 0xF0:
            length = 4
            second = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            second = 0x80...0x8F
        default: return nil
        }
        guard index + length <= bytes.count else { return nil }
        var value = UInt32(lead) & (UInt32(0xFF) >> UInt32(length + 1))
        for k in 1..<length {
            let byte = bytes[index + k]
            guard k == 1 ? second.contains(byte) : isContinuation(byte) else { return nil }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        return (value, length)
    }

    /// Whether a byte continues a UTF-8 character (10xxxxxx).
    static func isContinuation(_ byte: UInt8) -> Bool { byte & 0xC0 == 0x80 }

    /// The length of the UTF-8 character a lead byte begins, or 0 for a byte that begins none.
    static func sequenceLength(_ lead: UInt8) -> Int {
        switch lead {
        case 0x00...0x7F: 1
        case 0xC2...0xDF: 2
        case 0xE0...0xEF: 3
        case 0xF0...0xF4: 4
        default: 0
        }
    }

    /// Whether a byte is a space or a tab.
    static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    /// The length of the line break at `index` as libyaml counts breaks (CR LF, CR, LF, NEL, LS,
    /// PS), or 0 when there is none.
    static func lineBreakLength(_ bytes: [UInt8], at index: Int) -> Int {
        guard index < bytes.count else { return 0 }
        func next(_ k: Int) -> UInt8? { index + k < bytes.count ? bytes[index + k] : nil }
        switch bytes[index] {
        case 0x0D: return next(1) == 0x0A ? 2 : 1
        case 0x0A: return 1
        case 0xC2: return next(1) == 0x85 ? 2 : 0
        case 0xE2: return next(1) == 0x80 && (next(2) == 0xA8 || next(2) == 0xA9) ? 3 : 0
        default: return 0
        }
    }
}
