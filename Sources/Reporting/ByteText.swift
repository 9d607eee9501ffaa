// SPDX-License-Identifier: Apache-2.0

/// Renders wire bytes for people: printable text as is, everything else escaped, nothing dropped.
public enum ByteText {
    /// The bytes as one line of text: valid UTF-8 printable characters as they are; CR, LF, tab
    /// and other control characters as `\r`, `\n`, `\t`, `\xHH`; bytes that are not UTF-8 as
    /// `\xHH`; a backslash as `\\`.
    public static func escaped(_ bytes: some Collection<UInt8>) -> String {
        let bytes = Array(bytes)
        var out = ""
        var index = 0
        while index < bytes.count {
            if let (scalar, length) = decodeScalar(bytes, at: index) {
                appendScalar(scalar, to: &out)
                index += length
            } else {
                out += hex(bytes[index])
                index += 1
            }
        }
        return out
    }

    /// Decodes one well-formed UTF-8 scalar at `index` (no overlongs, no surrogates).
    private static func decodeScalar(_ bytes: [UInt8], at index: Int) -> (Unicode.Scalar, Int)? {
        let lead = bytes[index]
        let length: Int
        var value: UInt32
        var lowest: UInt32
        switch lead {
        case 0x00...0x7F: return (Unicode.Scalar(lead), 1)
        case 0xC2...0xDF:
            length = 2
            value = UInt32(lead & 0x1F)
            lowest = 0x80
        case 0xE0...0xEF:
            length = 3
            value = UInt32(lead & 0x0F)
            lowest = 0x800
        case 0xF0...0xF4:
            length = 4
            value = UInt32(lead & 0x07)
            lowest = 0x10000
        default: return nil
        }
        guard index + length <= bytes.count else { return nil }
        for offset in 1..<length {
            let byte = bytes[index + offset]
            guard byte & 0xC0 == 0x80 else { return nil }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        guard value >= lowest, let scalar = Unicode.Scalar(value) else { return nil }
        return (scalar, length)
    }

    /// Splits bytes into lines after each LF, keeping the terminators.
    public static func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 10 {
            result.append(bytes[start...index])
            start = index + 1
        }
        if start < bytes.count { result.append(bytes[start...]) }
        return result
    }

    /// One transcript line: the text without its CRLF; a bare LF or a missing line end shows.
    public static func line(_ bytes: ArraySlice<UInt8>) -> String {
        if bytes.count >= 2, bytes.last == 10, bytes[bytes.endIndex - 2] == 13 {
            return escaped(bytes.dropLast(2))
        }
        return escaped(bytes)
    }

    private static func appendScalar(_ scalar: Unicode.Scalar, to out: inout String) {
        switch scalar {
        case "\r": out += "\\r"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\\": out += "\\\\"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value) {
                out += scalar.value < 0x100 ? hex(UInt8(scalar.value)) : "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return "\\x" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0x0F)])
    }
}
