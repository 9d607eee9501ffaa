// SPDX-License-Identifier: Apache-2.0

/// Emacs's `format-spec`, as `open-network-stream :type 'shell` uses it: `%s` and `%p` (or any
/// letter given) are replaced, `%%` gives `%`, and the modifiers `0` (pad with zeros), `-` (pad
/// on the right), `^` (upper case), `_` (lower case), `<` and `>` (truncate on the left or
/// right to the width), followed by a width, work as in Emacs.
///
/// - SeeAlso: spec/emacs-network.md §7.
enum FormatSpec {
    /// Expands `template`.
    ///
    /// - Parameters:
    ///   - template: the template.
    ///   - values: letter -> replacement.
    /// - Returns: the expanded text.
    /// - Throws: `NetworkError.invalidArgument` "Invalid format character: ‘%x’".
    static func expand(_ template: String, _ values: [Character: String]) throws(NetworkError) -> String {
        var out = ""
        var characters = Array(template)[...]
        while let character = characters.popFirst() {
            guard character == "%" else {
                out.append(character)
                continue
            }
            var flags: Set<Character> = []
            while let next = characters.first, "0-^_<>".contains(next) {
                flags.insert(next)
                characters.removeFirst()
            }
            var widthText = ""
            while let next = characters.first, next.isASCII, next.isNumber {
                widthText.append(next)
                characters.removeFirst()
            }
            guard let letter = characters.popFirst() else {
                throw NetworkError(.invalidArgument, message: "Invalid format string")
            }
            if letter == "%" && flags.isEmpty && widthText.isEmpty {
                out.append("%")
                continue
            }
            guard var value = values[letter] else {
                throw NetworkError(.invalidArgument, message: "Invalid format character: ‘%\(letter)’")
            }
            if flags.contains("^") { value = value.uppercased() }
            if flags.contains("_") { value = value.lowercased() }
            if let width = Int(widthText) {
                if value.count > width {
                    if flags.contains("<") { value = String(value.suffix(width)) }
                    if flags.contains(">") { value = String(value.prefix(width)) }
                } else if value.count < width {
                    let padding = String(repeating: flags.contains("0") ? "0" : " ", count: width - value.count)
                    value = flags.contains("-") ? value + padding : padding + value
                }
            }
            out += value
        }
        return out
    }
}
