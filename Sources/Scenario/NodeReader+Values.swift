// SPDX-License-Identifier: Apache-2.0
import Foundation
internal import Yams

extension NodeReader {
    /// The pairs of a mapping, without the keys that repeat an earlier one, or nil (with an
    /// error) when the node is not a mapping.
    mutating func mapping(_ node: Node, what: String) -> MappingCursor? {
        guard let m = node.mapping else {
            error(node, "expected \(what) as a mapping, found \(kind(node))")
            return nil
        }
        var pairs: [(Node, Node)] = []
        for (k, v) in m {
            let at = location(k)
            // A repeated key was reported when its file was composed; the first value stands.
            if repeatedKeys.contains(at) { continue }
            if let name = maskedKeys[at], var scalar = k.scalar {
                scalar.string = name
                pairs.append((.scalar(scalar), v))
            } else {
                pairs.append((k, v))
            }
        }
        return MappingCursor(pairs: pairs)
    }

    mutating func sequence(_ node: Node, what: String) -> [Node]? {
        guard let s = node.sequence else {
            error(node, "expected \(what), found \(kind(node))")
            return nil
        }
        return Array(s)
    }

    mutating func string(_ node: Node) -> String? {
        guard let s = node.scalar else {
            error(node, "expected a string, found \(kind(node))")
            return nil
        }
        return s.string
    }

    /// A string, or a list of strings.
    mutating func stringList(_ node: Node, what: String) -> [String] {
        if node.scalar != nil { return string(node).map { [$0] } ?? [] }
        guard let items = sequence(node, what: what) else { return [] }
        return items.compactMap { string($0) }
    }

    mutating func template(_ node: Node) -> Template? {
        if let s = node.scalar {
            let template = Template(s.string, at: location(node))
            if let problem = template.syntaxProblem {
                error(node, problem)
                return nil
            }
            return template
        }
        error(node, "expected a string, found \(kind(node))")
        return nil
    }

    mutating func path(_ node: Node) -> String? {
        guard let raw = string(node) else { return nil }
        if raw.isEmpty {
            error(node, "expected a file path, found nothing")
            return nil
        }
        // A path with ${...} is expanded when the step runs, then resolved against the folder.
        if raw.contains("${"), let problem = Template(raw, at: location(node)).syntaxProblem {
            error(node, problem)
            return nil
        }
        if raw.hasPrefix("/") || raw.contains("${") { return raw }
        return baseDirectory.appendingPathComponent(raw).standardizedFileURL.path
    }

    mutating func bool(_ node: Node) -> Bool? {
        if let s = node.scalar, s.style == .plain, let v = Self.plainBool(s.string) { return v }
        error(node, "expected true or false, found \(kind(node))")
        return nil
    }

    mutating func int(_ node: Node) -> Int? {
        if let s = node.scalar, s.style == .plain, let v = Self.plainInt(s.string) { return v }
        error(node, "expected a whole number, found \(kind(node))")
        return nil
    }

    /// A plain scalar as YAML 1.1's `bool` (what Yams's default resolver's rule accepts).
    static func plainBool(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": true
        case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": false
        default: nil
        }
    }

    /// A plain scalar as YAML 1.1's `int` (the forms of Yams's default resolver's rule: decimal,
    /// `0b`, `0o` or a leading 0, `0x`, and sexagesimal `1:30`, each with a sign and `_`
    /// separators), read by Yams's own constructor.
    static func plainInt(_ text: String) -> Int? {
        var body = Substring(text)
        if body.first == "-" || body.first == "+" { body = body.dropFirst() }
        func all(_ digits: Substring, _ allowed: (Character) -> Bool) -> Bool { !digits.isEmpty && digits.allSatisfy(allowed) }
        let octal: (Character) -> Bool = { ("0"..."7").contains($0) || $0 == "_" }
        let decimal: (Character) -> Bool = { $0.isASCII && ($0.isNumber || $0 == "_") }
        let form: Bool
        if body.hasPrefix("0b") {
            form = all(body.dropFirst(2)) { $0 == "0" || $0 == "1" || $0 == "_" }
        } else if body.hasPrefix("0x") {
            form = all(body.dropFirst(2)) { $0.isHexDigit || $0 == "_" }
        } else if body.hasPrefix("0o") {
            form = all(body.dropFirst(2), octal)
        } else if body == "0" {
            form = true
        } else if body.hasPrefix("0") {
            form = all(body.dropFirst(), octal)
        } else if body.contains(":") {
            let parts = body.split(separator: ":", omittingEmptySubsequences: false)
            form =
                all(parts[0], decimal) && parts[0].first != "0"
                && parts.dropFirst().allSatisfy { part in
                    (1...2).contains(part.count) && part.allSatisfy { $0.isASCII && $0.isNumber } && (part.count == 1 || part.first! <= "5")
                }
        } else {
            form = all(body, decimal) && body.first != "_"
        }
        guard form else { return nil }
        return Int.construct(from: Node.Scalar(text, Tag(.int, .basic)))
    }

    /// A duration: a number of seconds, or a string with a unit (`250ms`, `5s`, `2m`).
    mutating func duration(_ node: Node) -> Duration? {
        guard let s = node.scalar else {
            error(node, "expected a duration (seconds, or a string like '500ms', '5s', '2m'), found \(kind(node))")
            return nil
        }
        let text = s.string.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
        var value: Double?
        if let number = Double(text) {
            value = number
        } else {
            for (suffix, scale) in units where text.hasSuffix(suffix) {
                if let number = Double(text.dropLast(suffix.count)) {
                    value = number * scale
                    break
                }
            }
        }
        guard let value, value.isFinite, value > 0, value <= 86_400 else {
            error(node, "'\(text)' is not a duration between 1ms and 24h (seconds, or a string like '500ms', '5s', '2m')")
            return nil
        }
        return .milliseconds(Int64((value * 1000).rounded()))
    }

    /// Bytes written as hexadecimal pairs; spaces, colons and line breaks between pairs are ignored.
    mutating func hex(_ node: Node) -> [UInt8]? {
        guard let text = string(node) else { return nil }
        var bytes: [UInt8] = []
        var high: UInt8?
        for (offset, scalar) in text.unicodeScalars.enumerated() {
            if scalar == " " || scalar == ":" || scalar == "\n" || scalar == "\t" {
                if high != nil {
                    error(node, "'hex' has a lone digit before offset \(offset): write bytes as pairs like '0d 0a'")
                    return nil
                }
                continue
            }
            guard scalar.isASCII, let digit = UInt8(String(scalar), radix: 16) else {
                error(node, "'hex' has '\(scalar)' at offset \(offset): only hexadecimal digits, spaces and colons")
                return nil
            }
            if let h = high {
                bytes.append(h << 4 | digit)
                high = nil
            } else {
                high = digit
            }
        }
        if high != nil || bytes.isEmpty {
            error(node, bytes.isEmpty && high == nil ? "'hex' is empty" : "'hex' ends with a lone digit: write bytes as pairs like '0d 0a'")
            return nil
        }
        return bytes
    }

    mutating func pattern(_ node: Node, caseInsensitive: Bool) -> PatternSpec? {
        guard let source = string(node) else { return nil }
        let spec = PatternSpec(source, caseInsensitive: caseInsensitive, at: location(node))
        if let validatePattern, let problem = validatePattern(source, caseInsensitive) {
            var at = spec.location
            // Point at the character PCRE2 rejected when the scalar is plain or single-quoted on
            // one line, where a pattern byte maps to one column (for ASCII text).
            if let scalar = node.scalar, !source.contains("\n"), source.utf8.count == source.unicodeScalars.count {
                switch scalar.style {
                case .plain: at.column += problem.offset
                case .singleQuoted where !source.contains("'"): at.column += problem.offset + 1
                default: break
                }
            }
            diagnostics.append(
                Diagnostic(at: at, "bad regular expression \(quoted(source)): \(problem.message) (at offset \(problem.offset))")
            )
            return nil
        }
        return spec
    }

    func isNull(_ node: Node) -> Bool {
        guard let s = node.scalar else { return false }
        return s.style == .plain && (s.string.isEmpty || s.string == "~" || s.string == "null")
    }

    func kind(_ node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar(let s): s.string.isEmpty ? "nothing" : "'\(s.string)'"
        case .alias: "an alias"
        }
    }

    mutating func finish(_ map: inout MappingCursor, allowed: [String], in what: String) {
        for (keyNode, _) in map.pairs {
            guard let key = keyNode.scalar?.string else {
                error(keyNode, "keys in \(what) must be strings")
                continue
            }
            if !map.consumed.contains(key) && !allowed.contains(key) {
                error(keyNode, unknownKey(key, allowed: allowed, in: what))
            }
        }
    }

    func unknownKey(_ key: String, allowed: [String], in what: String) -> String {
        var message = "unknown key '\(key)' in \(what)"
        if let near = nearest(key, in: allowed) { message += "; did you mean '\(near)'?" }
        return message + " (allowed: \(allowed.joined(separator: ", ")))"
    }

    func unknownValue(_ value: String, allowed: [String], what: String) -> String {
        var message = "unknown \(what) '\(value)'"
        if let near = nearest(value, in: allowed) { message += "; did you mean '\(near)'?" }
        return message + (allowed.isEmpty ? " (none is defined)" : " (known: \(allowed.joined(separator: ", ")))")
    }
}
