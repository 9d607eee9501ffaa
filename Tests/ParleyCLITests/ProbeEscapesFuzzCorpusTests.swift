// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyCLI
import Testing

/// Inputs the FuzzProbeEscapes target found or keeps in its corpus (Fuzz/corpus/FuzzProbeEscapes).
@Suite("parley probe escapes: fuzz corpus")
struct ProbeEscapesFuzzCorpusTests {
    @Test("\\x takes exactly two hexadecimal digits, never a sign", arguments: [#"\x+1"#, #"\x-0"#, #"\x+f"#, #"\x1"#, #"\xg0"#])
    func signedHex(_ text: String) {
        #expect(throws: EscapeError.self) { try CommandEscapes.decode(text) }
    }

    @Test("every committed corpus input decodes or is refused without a crash")
    func corpus() throws {
        let folder = root.appendingPathComponent("Fuzz/corpus/FuzzProbeEscapes")
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            let text = String(decoding: try Data(contentsOf: folder.appendingPathComponent(name)), as: UTF8.self)
            _ = try? CommandEscapes.decode(text)
        }
        #expect(try CommandEscapes.decode(#"a\x0D\x0a\\"#) == [0x61, 0x0D, 0x0A, 0x5C])
    }
}
