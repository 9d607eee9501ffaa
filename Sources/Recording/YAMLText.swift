// SPDX-License-Identifier: Apache-2.0
import Foundation

/// Scalars as the generated files write them: every string in YAML double quotes with escapes
/// (so CR, LF, NUL and quotes survive exactly), patterns in single quotes (so backslashes stay).
enum YAMLText {
    /// A double-quoted YAML scalar for `text`.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\0": out += "\\0"
            case "\r": out += "\\r"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f || (0x80..<0xa0).contains(scalar.value) || scalar.value == 0xfeff
                    || (0x2028...0x2029).contains(scalar.value)
                {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// A single-quoted YAML scalar (a pattern: ASCII only, as ``ScenarioWriter/escape(_:)`` writes them).
    static func singleQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }
}
