// SPDX-License-Identifier: Apache-2.0
import ParleyTestSupport
import Patterns
import Testing

@Suite("BytePattern")
struct BytePatternTests {
    @Test("CRLF is two bytes: \\r\\n matches both and . matches the CR")
    func crlfIsTwoBytes() throws {
        let crlf = try BytePattern(#"\r\n"#)
        #expect(crlf.firstMatch(in: bytes("a\r\nb"))?.range == 1..<3)

        let lineWithCR = try BytePattern(#"^a.$"#, options: .multiline)
        #expect(lineWithCR.firstMatch(in: bytes("a\r\n"))?.range == 0..<2)
    }

    @Test("\\r$ in multiline mode matches the CR right before each LF")
    func crBeforeDollarMultiline() throws {
        let pattern = try BytePattern(#"\r$"#, options: .multiline)
        let data = bytes("250-SIZE\r\n250 OK\r\n")
        #expect(pattern.firstMatch(in: data)?.range == 8..<9)
        #expect(pattern.firstMatch(in: data, from: 9)?.range == 16..<17)

        // Without multiline, $ is the end of the data (or before a final LF).
        let single = try BytePattern(#"\r$"#)
        #expect(single.firstMatch(in: data)?.range == 16..<17)
    }

    @Test("bytes that are not UTF-8 and NUL bytes match as bytes")
    func nonUTF8AndNUL() throws {
        let pattern = try BytePattern(#"\x00\xff+"#)
        let data: [UInt8] = [0x41, 0x00, 0xFF, 0xFF, 0x42]
        #expect(pattern.firstMatch(in: data)?.range == 1..<4)

        let any = try BytePattern("A.B")
        #expect(any.firstMatch(in: [0x41, 0xC3, 0x42])?.range == 0..<3)
        #expect(any.firstMatch(in: [0x41, 0x00, 0x42])?.range == 0..<3)

        // A non-ASCII pattern character matches its UTF-8 encoding.
        let eAcute = try BytePattern("é")
        #expect(eAcute.firstMatch(in: [0x78, 0xC3, 0xA9])?.range == 1..<3)
    }

    @Test("captures and named captures report their ranges")
    func captures() throws {
        let pattern = try BytePattern(#"(?<code>\d{3})([ -])(.*)\r\n"#)
        #expect(pattern.captureCount == 3)
        #expect(pattern.captureNames == ["code", nil, nil])

        let match = try #require(pattern.firstMatch(in: bytes("xx250-PIPELINING\r\n")))
        #expect(match.range == 2..<18)
        #expect(match.groups == [2..<18, 2..<5, 5..<6, 6..<16])
    }

    @Test("a group that does not take part in the match is nil")
    func unsetGroup() throws {
        let pattern = try BytePattern("(a)|(b)")
        let match = try #require(pattern.firstMatch(in: bytes("b")))
        #expect(match.groups == [0..<1, nil, 0..<1])
    }

    @Test("the case-insensitive option folds ASCII letters")
    func caseInsensitive() throws {
        let data = bytes("250-STARTTLS\r\n")
        #expect(try BytePattern("starttls").firstMatch(in: data) == nil)
        let folded = try BytePattern("starttls", options: .caseInsensitive)
        #expect(folded.firstMatch(in: data)?.range == 4..<12)
        #expect(folded.options == .caseInsensitive)
    }

    @Test("dotAll and extended options")
    func dotAllAndExtended() throws {
        let data = bytes("a\nb")
        #expect(try BytePattern("a.b").firstMatch(in: data) == nil)
        #expect(try BytePattern("a.b", options: .dotAll).firstMatch(in: data)?.range == 0..<3)
        #expect(try BytePattern("a \\n b # comment", options: .extended).firstMatch(in: data)?.range == 0..<3)
    }

    @Test(
        "a bad pattern reports PCRE2's message and byte offset",
        arguments: [
            ("ab(c", 4, "missing closing parenthesis"),
            ("a[", 2, "missing terminating ] for character class"),
            ("x{2,1}", 5, "numbers out of order in {} quantifier"),
        ]
    )
    func badPattern(source: String, offset: Int, message: String) throws {
        let error = try #require(throws: PatternError.self) { try BytePattern(source) }
        #expect(error.pattern == source)
        #expect(error.offset == offset)
        #expect(error.message == message)
        #expect(error.description.contains("offset \(offset)"))
    }

    @Test("maxLookbehind reports the longest lookbehind")
    func maxLookbehind() throws {
        #expect(try BytePattern("abc").maxLookbehind == 0)
        #expect(try BytePattern("(?<=abc)d").maxLookbehind == 3)
    }

    @Test("a search from an offset sees the byte before it for ^ in multiline mode")
    func offsetKeepsPreviousByte() throws {
        let pattern = try BytePattern("^.", options: .multiline)
        let data = bytes("ab\ncd")
        #expect(pattern.firstMatch(in: data, from: 1)?.range == 3..<4)
        #expect(pattern.firstMatch(in: data, from: 6) == nil)
    }

    @Test("copies share the compiled pattern and outlive the original")
    func copiesShareCode() throws {
        var copy: BytePattern?
        do {
            let original = try BytePattern("OK")
            copy = original
        }
        #expect(copy?.firstMatch(in: bytes("250 OK"))?.range == 4..<6)
    }
}
