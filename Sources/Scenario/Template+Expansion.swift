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
    /// Expands `${name}` and `${name:-default}`; `$$` stands for one `$`.
    ///
    /// - Parameter lookup: the value of a variable, or nil when it is not set.
    /// - Returns: the expanded text.
    /// - Throws: `TemplateError` for an unset variable without a default, or an unclosed `${`.
    public func expand(_ lookup: (String) -> String?) throws(TemplateError) -> String {
        var out = ""
        var scalars = raw.unicodeScalars[...]
        while let c = scalars.first {
            scalars = scalars.dropFirst()
            guard c == "$" else {
                out.unicodeScalars.append(c)
                continue
            }
            if scalars.first == "$" {
                scalars = scalars.dropFirst()
                out.append("$")
                continue
            }
            guard scalars.first == "{" else {
                out.append("$")
                continue
            }
            guard let close = scalars.firstIndex(of: "}") else {
                throw TemplateError(location: location, message: "unclosed '${' in \(quoted(raw))")
            }
            let body = String(scalars[scalars.index(after: scalars.startIndex)..<close])
            scalars = scalars[scalars.index(after: close)...]
            let name: String
            let fallback: String?
            if let range = body.range(of: ":-") {
                name = String(body[..<range.lowerBound])
                fallback = String(body[range.upperBound...])
            } else {
                name = body
                fallback = nil
            }
            if let value = lookup(name) {
                out += value
            } else if let fallback {
                out += fallback
            } else {
                throw TemplateError(
                    location: location,
                    message: "variable '\(name)' is not set (write ${\(name):-default} to give a default)"
                )
            }
        }
        return out
    }
}

/// A string in double quotes with quotes, backslashes and control characters escaped (`\r`,
/// `\n`, `\t`, `\xHH`): readable in messages, and a valid YAML double-quoted scalar.
public func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\r": out += "\\r"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += "\\x" + String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 2)
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
