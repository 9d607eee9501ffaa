// SPDX-License-Identifier: Apache-2.0
import Foundation

/// Scalars as the generated files write them: every string in YAML double quotes with escapes
/// (the scenario module's `quoted`, so CR, LF, NUL and quotes survive exactly), patterns in
/// single quotes (so backslashes stay).
enum YAMLText {
    /// Text for a template (`send`, `command`, a default): `$` doubled, so that `${` in a
    /// recorded value is not a reference.
    static func templateEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "$", with: "$$")
    }

    static func templateEscaped(_ bytes: [UInt8]) -> String {
        templateEscaped(String(decoding: bytes, as: UTF8.self))
    }

    /// A single-quoted YAML scalar (a pattern: ASCII only, as ``ScenarioWriter/escape(_:)`` writes them).
    static func singleQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }
}
