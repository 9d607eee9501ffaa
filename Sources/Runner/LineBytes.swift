// SPDX-License-Identifier: Apache-2.0

/// Protocol lines as bytes (never as `String`: "\r\n" is one Character): the pieces the
/// masker and the recording proxy take the client's lines apart with.
public enum LineBytes {
    /// Lines including their LF; a last partial line as is.
    public static func lines(_ bytes: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 10 {
            lines.append(Array(bytes[start...index]))
            start = index + 1
        }
        if start < bytes.count { lines.append(Array(bytes[start...])) }
        return lines
    }

    /// ASCII letters upper-cased, every other byte as it is (commands are case-insensitive).
    public static func uppercased(_ bytes: [UInt8]) -> [UInt8] {
        bytes.map { (97...122).contains($0) ? $0 - 32 : $0 }
    }

    /// A line split into its text and its CR LF / LF ending.
    public static func splitEnding(_ line: [UInt8]) -> (body: [UInt8], ending: [UInt8]) {
        if line.suffix(2) == [13, 10] { return (Array(line.dropLast(2)), [13, 10]) }
        if line.last == 10 { return (Array(line.dropLast()), [10]) }
        return (line, [])
    }
}
