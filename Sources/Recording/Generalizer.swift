// SPDX-License-Identifier: Apache-2.0
import Foundation
import Patterns
import Runner

/// Turns recorded bytes into patterns that match the same dialog on another day: the server's
/// variable parts (host names, dates and times, queue and session ids, counts, sizes) become
/// character classes, the invariant parts (reply codes, enhanced status codes, words, tags,
/// IMAP capability lists) stay literal. Every pattern is checked against the bytes it came from;
/// one that does not match them falls back to the bytes escaped.
enum Generalizer {
    /// Replies longer than this are matched by their last line only (what comes before it is
    /// consumed unchecked, and the step's comment says so).
    static let wholeReplyLimit = 8 * 1024

    static let weekdays: Set<String> = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    static let months: Set<String> = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// A pattern for what the server sent (beginning at a line start): `^` and the lines.
    ///
    /// - Returns: the pattern, and whether only its last line is checked.
    static func serverPattern(_ bytes: [UInt8]) -> (pattern: String, lastLineOnly: Bool) {
        var lines = LineBytes.lines(bytes)
        var lastLineOnly = false
        if bytes.count > wholeReplyLimit, let last = lines.last {
            lines = [last]
            lastLineOnly = true
        }
        let pattern = "^" + lines.map(generalizeLine).joined()
        let checked = lastLineOnly ? lines[0] : bytes
        if matchesWhole(pattern, checked) { return (pattern, lastLineOnly) }
        return ("^" + ScenarioWriter.escape(checked), lastLineOnly)
    }

    /// Whether `pattern` matches all of `bytes` from the start.
    static func matchesWhole(_ pattern: String, _ bytes: [UInt8], caseInsensitive: Bool = false) -> Bool {
        guard let compiled = try? BytePattern(pattern, options: caseInsensitive ? [.multiline, .caseInsensitive] : [.multiline]),
            let match = compiled.firstMatch(in: bytes)
        else { return false }
        return match.range == 0..<bytes.count
    }

    /// One server line (with its ending) as a pattern.
    static func generalizeLine(_ line: [UInt8]) -> String {
        let (body, ending) = LineBytes.splitEnding(line)
        var text = body[...]
        var out = ""
        // An SMTP-style reply code and its separator stay literal.
        if text.count >= 4, text.prefix(3).allSatisfy({ (48...57).contains($0) }), [32, 45].contains(text[text.startIndex + 3]) {
            out += ScenarioWriter.escape(Array(text.prefix(4)))
            text = text.dropFirst(4)
        }
        // IMAP's "* CAPABILITY ..." and "[CAPABILITY ...]" stay literal: a changed capability is a change.
        let whole = Array(text)
        if whole.starts(with: Array("* CAPABILITY ".utf8)) {
            return out + ScenarioWriter.escape(whole) + ScenarioWriter.escape(ending)
        }
        let firstIsTag = out.isEmpty
        if let open = whole.firstRange(of: Array("[CAPABILITY ".utf8)), let close = whole[open.upperBound...].firstIndex(of: 93) {
            return out + generalizeSegment(whole[..<open.lowerBound], firstIsTag: firstIsTag)
                + ScenarioWriter.escape(Array(whole[open.lowerBound...close]))
                + generalizeSegment(whole[(close + 1)...], firstIsTag: false) + ScenarioWriter.escape(ending)
        }
        return out + generalizeSegment(whole[...], firstIsTag: firstIsTag) + ScenarioWriter.escape(ending)
    }

    /// Timings a server reports, whose number of parts varies from run to run: Dovecot's
    /// `(0.001 + 0.000 secs)` and `(0.002 + 0.000 + 0.001 secs)`.
    static let timing = try? BytePattern(#"\([0-9]+(?:\.[0-9]+)?(?: \+ [0-9]+(?:\.[0-9]+)?)* secs\)"#)
    static let timingPattern = #"\([0-9.]+(?: \+ [0-9.]+)* secs\)"#

    /// Space-separated tokens, each generalised; the spaces stay as they were.
    static func generalizeSegment(_ segment: ArraySlice<UInt8>, firstIsTag: Bool) -> String {
        let bytes = Array(segment)
        if let timing, let match = timing.firstMatch(in: bytes) {
            return generalizeTokens(bytes[..<match.range.lowerBound], firstIsTag: firstIsTag) + timingPattern
                + generalizeSegment(bytes[match.range.upperBound...], firstIsTag: false)
        }
        return generalizeTokens(segment, firstIsTag: firstIsTag)
    }

    static func generalizeTokens(_ segment: ArraySlice<UInt8>, firstIsTag: Bool) -> String {
        segment.split(separator: 32, omittingEmptySubsequences: false).enumerated()
            .map { generalizeToken(Array($0.element), first: firstIsTag && $0.offset == 0) }
            .joined(separator: " ")
    }

    /// One space-free token as a pattern.
    static func generalizeToken(_ token: [UInt8], first: Bool) -> String {
        guard !token.isEmpty else { return "" }
        // IMAP's "*", "+" and tags (the first token of a line) are the dialog's own.
        if first { return ScenarioWriter.escape(token) }
        let opening = Set("([<\"'{".utf8)
        let closing = Set(")]>\"',;:.}!?".utf8)
        let prefix = token.prefix { opening.contains($0) }
        var core = Array(token.dropFirst(prefix.count))
        var suffix: [UInt8] = []
        while let last = core.last, closing.contains(last) {
            suffix.insert(last, at: 0)
            core.removeLast()
        }
        // "0.001" keeps its dot: a trailing dot after digits belongs to the sentence, a middle one to the number.
        return ScenarioWriter.escape(Array(prefix)) + generalizeCore(core) + ScenarioWriter.escape(suffix)
    }

    static func generalizeCore(_ core: [UInt8]) -> String {
        guard !core.isEmpty else { return "" }
        let text = String(decoding: core, as: UTF8.self)
        let isDigit: (UInt8) -> Bool = { (48...57).contains($0) }
        let isLetter: (UInt8) -> Bool = { (65...90).contains($0) || (97...122).contains($0) }
        let hasDigit = core.contains(where: isDigit)
        let hasLetter = core.contains(where: isLetter)
        // Enhanced status codes (RFC 3463) are the reply's meaning.
        if isEnhancedStatusCode(core) { return ScenarioWriter.escape(core) }
        if !hasDigit {
            if core.count == 3, weekdays.contains(text) || months.contains(text) { return "[A-Z][a-z]{2}" }
            // A host name: labels with dots, at least two of them.
            if isHostName(core) { return #"[^ \r\n]+"# }
            if looksRandom(core) { return "[A-Za-z0-9]+" }
            return ScenarioWriter.escape(core)
        }
        if !hasLetter {
            // Numbers, times, decimals, addresses: each run of digits may change.
            var out = ""
            var index = 0
            while index < core.count {
                if isDigit(core[index]) {
                    while index < core.count, isDigit(core[index]) { index += 1 }
                    out += "[0-9]+"
                } else {
                    out += ScenarioWriter.escape([core[index]])
                    index += 1
                }
            }
            return out
        }
        if core.allSatisfy({ isDigit($0) || isLetter($0) }) { return "[A-Za-z0-9]+" }
        // Ids, host names with digits, addresses in angle brackets.
        return #"[^ \r\n]+"#
    }

    /// Letters only, but not a word: eight or more, with capitals inside as well as small
    /// letters (a queue id such as `hcDjFnHjhWEQqaxrwUnxFY`; `PIPELINING` and `Authentication` are words).
    static func looksRandom(_ core: [UInt8]) -> Bool {
        guard core.count >= 8, core.allSatisfy({ (65...90).contains($0) || (97...122).contains($0) }) else { return false }
        let innerCapitals = core.dropFirst().filter { (65...90).contains($0) }.count
        let small = core.filter { (97...122).contains($0) }.count
        return innerCapitals >= 2 && small >= 2
    }

    /// RFC 3463's `class.subject.detail`: 2, 4 or 5, then two numbers of one to three digits.
    static func isEnhancedStatusCode(_ core: [UInt8]) -> Bool {
        let parts = core.split(separator: 46, omittingEmptySubsequences: false)
        guard parts.count == 3, [[50], [52], [53]].contains(Array(parts[0])) else { return false }
        return parts.dropFirst().allSatisfy { (1...3).contains($0.count) && $0.allSatisfy { (48...57).contains($0) } }
    }

    /// Labels of letters, digits and hyphens joined by dots, two labels at least (a final dot allowed).
    static func isHostName(_ core: [UInt8]) -> Bool {
        var labels = core.split(separator: 46, omittingEmptySubsequences: false)
        if labels.count > 2, labels.last?.isEmpty == true { labels.removeLast() }
        guard labels.count >= 2 else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 }
        }
    }

    // MARK: - The client's side (for the server script)

    /// A pattern for one client line, for the server script to expect (case-insensitively):
    /// IMAP tags captured as `tagN`, the EHLO name and credentials left open.
    ///
    /// - Returns: the pattern, and the tag's bytes when one was captured.
    static func clientPattern(_ pieces: [Recording.Piece], dialog: DialogProtocol, tagName: String) -> (pattern: String, tag: [UInt8]?) {
        var literal: [UInt8] = []
        var open = false
        for piece in pieces {
            guard case .bytes(let bytes) = piece else {
                open = true
                break
            }
            literal += bytes
        }
        let (body, ending) = LineBytes.splitEnding(literal)
        var out = "^"
        var rest = body[...]
        var tag: [UInt8]?
        if dialog == .imap, let space = rest.firstIndex(of: 32), space > rest.startIndex {
            tag = Array(rest[..<space])
            out += "(?<\(tagName)>[^ \\r\\n]+) "
            rest = rest[(space + 1)...]
        }
        let upper = LineBytes.uppercased(Array(rest))
        let namesClient = ["EHLO ", "HELO ", "LHLO "].contains { upper.starts(with: Array($0.utf8)) }
        if dialog == .smtp, namesClient {
            return (out + ScenarioWriter.escape(Array(rest.prefix(5))) + #"[^\r\n]*\r?\n"#, tag)
        }
        if open {
            // The command's words, up to the credential (its form may differ: a quoted or an atom user name).
            let words = rest.lastIndex(of: 32).map { Array(rest[...$0]) } ?? []
            return (out + ScenarioWriter.escape(words) + #"[^\r\n]*\r?\n"#, tag)
        }
        return (out + ScenarioWriter.escape(Array(rest)) + ScenarioWriter.escape(ending), tag)
    }
}
