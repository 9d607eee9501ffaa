// SPDX-License-Identifier: Apache-2.0

/// A command-line string that names bytes: `\r \n \t \\ \xHH` are escapes, everything else is
/// its UTF-8. This is the one decoder of escapes in command bytes given on the command line
/// (`parley probe --capability-command`, `--starttls-command`, `--shell-command`); scenario files
/// need none, as YAML's double-quoted strings carry their own escapes and `hex:` writes raw bytes.
public enum CommandEscapes {
    /// Decodes the escapes in `text`.
    ///
    /// - Parameter text: the argument as typed.
    /// - Returns: the bytes it names.
    /// - Throws: `EscapeError` for a lone backslash at the end, an unknown escape, or `\x`
    ///   without exactly two hexadecimal digits (a sign is not a digit: `\x+1` is refused).
    public static func decode(_ text: String) throws(EscapeError) -> [UInt8] {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                continue
            }
            guard let next = bytes.popFirst() else { throw EscapeError(message: "'\(text)' ends with a lone backslash") }
            switch next {
            case UInt8(ascii: "r"): out.append(13)
            case UInt8(ascii: "n"): out.append(10)
            case UInt8(ascii: "t"): out.append(9)
            case UInt8(ascii: "\\"): out.append(92)
            case UInt8(ascii: "x"):
                let digits = bytes.prefix(2)
                guard digits.count == 2, let high = hexValue(digits.first), let low = hexValue(digits.last) else {
                    throw EscapeError(message: "'\(text)': \\x needs two hex digits")
                }
                bytes.removeFirst(2)
                out.append(high << 4 | low)
            default:
                throw EscapeError(message: "'\(text)': unknown escape \\\(Character(Unicode.Scalar(next)))")
            }
        }
        return out
    }

    /// The value of one ASCII hexadecimal digit, or nil for any other byte.
    private static func hexValue(_ byte: UInt8?) -> UInt8? {
        switch byte {
        case let digit? where (0x30...0x39).contains(digit): digit - 0x30
        case let letter? where (0x41...0x46).contains(letter): letter - 0x41 + 10
        case let letter? where (0x61...0x66).contains(letter): letter - 0x61 + 10
        default: nil
        }
    }
}

/// An escape that ``CommandEscapes/decode(_:)`` cannot decode.
public struct EscapeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, naming the argument.
    public var message: String

    /// Creates an error.
    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}
