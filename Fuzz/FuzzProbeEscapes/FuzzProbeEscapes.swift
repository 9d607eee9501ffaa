// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the escape decoder for command bytes on the command line (`CommandEscapes`:
// `\r \n \t \\ \xHH`, used by `parley probe`) and the probe's JSON text for received bytes.
// Checks: a decoded string re-encoded with escapes decodes to the same bytes, and `\x` takes
// exactly two hexadecimal digits.
import Foundation
import FuzzSupport
import ParleyCLI

/// Decodes one input as a command-line argument.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProbeEscapes(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    _ = ProbeFrontend.jsonString(input)
    let text = String(decoding: input, as: UTF8.self)
    guard let decoded = try? CommandEscapes.decode(text) else { return 0 }
    // Every `\x` that was accepted had two hex digits.
    let scalars = Array(text.utf8)
    var index = 0
    while index < scalars.count {
        if scalars[index] == UInt8(ascii: "\\"), index + 1 < scalars.count {
            if scalars[index + 1] == UInt8(ascii: "x") {
                let digits = scalars[(index + 2)..<min(scalars.count, index + 4)]
                precondition(
                    digits.count == 2 && digits.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) },
                    "\\x accepted without two hex digits")
                index += 4
                continue
            }
            index += 2
            continue
        }
        index += 1
    }
    // Round trip: escape every byte as \xHH and decode again.
    let escaped = decoded.map { "\\x" + String($0, radix: 16).leftPadded() }.joined()
    precondition((try? CommandEscapes.decode(escaped)) == decoded, "round trip lost bytes")
    return 0
}

extension String {
    /// Two hex digits.
    func leftPadded() -> String { count == 1 ? "0" + self : self }
}

/// Runs libFuzzer on ``fuzzProbeEscapes(_:_:)``, or replays the files named on the command line.
@main
struct Entry {
    static func main() throws {
        try FuzzDriver.run(fuzzProbeEscapes)
    }
}
