// SPDX-License-Identifier: Apache-2.0

/// The comments of a scenario file, read from its bytes (the YAML loader drops them): each
/// block of `#` lines belongs to the line right under it, so a step's explanation is found by the
/// step's line number. The teaching pages show them beside the steps.
public enum StepComments {
    /// Each comment block's text (the `#` and one space after it removed, lines joined with
    /// newlines), by the number (from 1) of the first line under it that is not a comment. A
    /// blank line ends a block; the editor's `yaml-language-server` line is left out.
    public static func parse(_ bytes: [UInt8]) -> [Int: String] {
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line -> String in
            var text = String(decoding: line, as: UTF8.self)
            if text.hasSuffix("\r") { text.removeLast() }
            return text
        }
        var result: [Int: String] = [:]
        var block: [String] = []
        for (index, line) in lines.enumerated() {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.hasPrefix("#") {
                var text = trimmed.dropFirst()
                if text.hasPrefix(" ") { text = text.dropFirst() }
                if !text.hasPrefix("yaml-language-server:") { block.append(String(text)) }
                continue
            }
            if trimmed.isEmpty {
                block = []
                continue
            }
            if !block.isEmpty {
                // Trailing empty `#` lines say nothing.
                while block.last?.isEmpty == true { block.removeLast() }
                while block.first?.isEmpty == true { block.removeFirst() }
                if !block.isEmpty { result[index + 1] = block.joined(separator: "\n") }
                block = []
            }
        }
        return result
    }
}
