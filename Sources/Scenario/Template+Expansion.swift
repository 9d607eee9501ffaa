// SPDX-License-Identifier: Apache-2.0
import Foundation

/// A `${...}` reference that could not be expanded.
public struct TemplateError: Error, Sendable, CustomStringConvertible {
    /// Where the template is.
    public var location: SourceLocation
    /// What is wrong.
    public var message: String

    /// `file:line:col: error: message`.
    public var description: String { "\(location): error: \(message)" }
}

extension Template {
    /// One piece of a parsed template.
    enum Piece: Equatable {
        /// Text as it is (`$$` already turned into `$`).
        case literal(String)
        /// `${name}`, or `${name:-default}` whose default is itself a template.
        case reference(name: String, fallback: [Piece]?)
    }

    /// Expands `${name}` and `${name:-default}`; a default may hold references itself
    /// (`${A:-${B:-x}}`); `$$` stands for one `$`.
    ///
    /// - Parameter lookup: the value of a variable, or nil when it is not set.
    /// - Returns: the expanded text.
    /// - Throws: `TemplateError` for an unset variable without a default, or a malformed template.
    public func expand(_ lookup: (String) -> String?) throws(TemplateError) -> String {
        var out = ""
        try Self.expand(try pieces(), into: &out, lookup: lookup, location: location)
        return out
    }

    /// What is wrong with the template's syntax (an unclosed `${`, an empty or invalid name), or
    /// nil when it is well-formed. The loader reports it; expansion would fail on it.
    public var syntaxProblem: String? {
        do {
            _ = try pieces()
            return nil
        } catch {
            return error.message
        }
    }

    /// The template parsed into pieces.
    func pieces() throws(TemplateError) -> [Piece] {
        var scalars = raw.unicodeScalars[...]
        let pieces = try parse(&scalars, inDefault: false)
        return pieces
    }

    /// Parses up to the end of the text, or, in a default, up to the `}` that closes it.
    private func parse(_ scalars: inout Substring.UnicodeScalarView.SubSequence, inDefault: Bool) throws(TemplateError) -> [Piece] {
        var pieces: [Piece] = []
        var text = ""
        func flush() {
            if !text.isEmpty { pieces.append(.literal(text)) }
            text = ""
        }
        while let c = scalars.first {
            if inDefault && c == "}" { break }
            scalars = scalars.dropFirst()
            guard c == "$" else {
                text.unicodeScalars.append(c)
                continue
            }
            switch scalars.first {
            case "$":
                scalars = scalars.dropFirst()
                text.append("$")
            case "{":
                scalars = scalars.dropFirst()
                flush()
                pieces.append(try reference(&scalars))
            default:
                text.append("$")
            }
        }
        flush()
        return pieces
    }

    /// Parses the rest of a reference after its `${`, through its closing `}`.
    private func reference(_ scalars: inout Substring.UnicodeScalarView.SubSequence) throws(TemplateError) -> Piece {
        var name = ""
        while let c = scalars.first, c != "}", !(c == ":" && scalars.dropFirst().first == "-") {
            name.unicodeScalars.append(c)
            scalars = scalars.dropFirst()
        }
        guard let next = scalars.first else {
            throw TemplateError(location: location, message: "unclosed '${' in \(quoted(raw))")
        }
        guard !name.isEmpty else {
            throw TemplateError(location: location, message: "'${' without a variable name in \(quoted(raw))")
        }
        guard Self.isName(name) else {
            throw TemplateError(
                location: location,
                message:
                    "\(quoted(name)) is not a variable name (letters, digits, '_', '.', '-') in \(quoted(raw)); write $$ for a literal $"
            )
        }
        if next == "}" {
            scalars = scalars.dropFirst()
            return .reference(name: name, fallback: nil)
        }
        scalars = scalars.dropFirst(2)  // ":-"
        let fallback = try parse(&scalars, inDefault: true)
        guard scalars.first == "}" else {
            throw TemplateError(location: location, message: "unclosed '${' in \(quoted(raw))")
        }
        scalars = scalars.dropFirst()
        return .reference(name: name, fallback: fallback)
    }

    /// Expands parsed pieces onto `out`.
    private static func expand(
        _ pieces: [Piece],
        into out: inout String,
        lookup: (String) -> String?,
        location: SourceLocation
    ) throws(TemplateError) {
        for piece in pieces {
            switch piece {
            case .literal(let text):
                out += text
            case .reference(let name, let fallback):
                if let value = lookup(name) {
                    out += value
                } else if let fallback {
                    try expand(fallback, into: &out, lookup: lookup, location: location)
                } else {
                    throw TemplateError(
                        location: location,
                        message: "variable '\(name)' is not set (write ${\(name):-default} to give a default)"
                    )
                }
            }
        }
    }

    /// Whether `name` can name a variable: a letter or `_` first, then letters, digits, `_`, `.`
    /// and `-` (ASCII).
    public static func isName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
            return false
        }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0))
        }
    }
}

/// A string in double quotes with quotes, backslashes and control characters escaped (`\r`,
/// `\n`, `\t`, `\0`, `\xHH`, and `\uXXXX` for the C1 controls, U+FEFF and the line and paragraph
/// separators, which YAML does not allow unescaped): readable in messages, and a valid YAML
/// double-quoted scalar (`parley record` writes its files with it).
public func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\r": out += "\\r"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\0": out += "\\0"
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += "\\x" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 2)
            } else if (0x80..<0xA0).contains(scalar.value) || scalar.value == 0xFEFF || (0x2028...0x2029).contains(scalar.value) {
                out += "\\u" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

extension String {
    /// The string padded on the left with zeros to `width` characters.
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
