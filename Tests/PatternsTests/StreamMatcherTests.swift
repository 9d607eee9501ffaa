// SPDX-License-Identifier: Apache-2.0
import ParleyTestSupport
import Testing

@testable import Patterns

@Suite("StreamMatcher")
struct StreamMatcherTests {
    /// The match of `result`, or a recorded failure.
    func match(
        _ result: StreamSearchResult,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> StreamMatch {
        guard case .matched(let match) = result else {
            Issue.record("expected a match, got \(result)", sourceLocation: sourceLocation)
            throw CancellationError()
        }
        return match
    }

    @Test("a pattern split across many 1-byte appends matches once, at the right place")
    func oneByteAppends() throws {
        let stream = bytes("220 hello\r\n250-SIZE 1000\r\n250 STARTTLS\r\ntrailing")
        let pattern = try BytePattern(#"250 (\w+)\r\n"#)
        var matcher = StreamMatcher()
        var found: [(index: Int, match: StreamMatch)] = []
        for (index, byte) in stream.enumerated() {
            matcher.append(CollectionOfOne(byte))
            if case .matched(let match) = matcher.search(pattern, atEnd: false) {
                found.append((index, match))
            }
        }
        #expect(matcher.search(pattern, atEnd: true) == .needMore)
        try #require(found.count == 1)
        // Reported when the LF arrives, not earlier.
        #expect(found[0].index == 39)
        #expect(found[0].match.skippedCount == 26)
        #expect(found[0].match.matched == bytes("250 STARTTLS\r\n"))
        #expect(found[0].match.groups[1] == bytes("STARTTLS"))
        // The trailing bytes cannot start a match and were passed over.
        #expect(matcher.bufferedCount == 0)
    }

    @Test("a greedy pattern waits for the byte that ends it (hard partial matching)")
    func greedyWaits() throws {
        let pattern = try BytePattern(#"\d+"#)
        var matcher = StreamMatcher()
        matcher.append(bytes("size 10"))
        #expect(matcher.search(pattern, atEnd: false) == .needMore)
        matcher.append(bytes("24 bytes"))
        #expect(try match(matcher.search(pattern, atEnd: false)).matched == bytes("1024"))
    }

    @Test("^ does not match mid-line after a match consumed the start of the line")
    func caretSeesContextByte() throws {
        let first = try BytePattern("foo")
        let lineStart = try BytePattern("^bar", options: .multiline)
        var matcher = StreamMatcher()
        matcher.append(bytes("foobar"))
        #expect(try match(matcher.search(first, atEnd: false)).matched == bytes("foo"))
        #expect(matcher.bufferedCount == 3)
        #expect(matcher.search(lineStart, atEnd: false) == .needMore)
        matcher.append(bytes(" and\nbar\n"))
        let found = try match(matcher.search(lineStart, atEnd: false))
        #expect(found.matched == bytes("bar"))
        #expect(found.skippedCount == bytes("bar and\n").count)
    }

    @Test("^ matches at the very start of a stream")
    func caretAtStreamStart() throws {
        var matcher = StreamMatcher()
        matcher.append(bytes("220 ready\r\n"))
        let found = try match(matcher.search(try BytePattern("^220"), atEnd: false))
        #expect(found.skippedCount == 0)
    }

    @Test("foo$ needs the end of the stream or a newline")
    func dollarNeedsEndOrNewline() throws {
        let pattern = try BytePattern("foo$")
        var matcher = StreamMatcher()
        matcher.append(bytes("foo"))
        #expect(matcher.search(pattern, atEnd: false) == .needMore)
        #expect(try match(matcher.search(pattern, atEnd: true)).matched == bytes("foo"))

        let multiline = try BytePattern("foo$", options: .multiline)
        var lines = StreamMatcher()
        lines.append(bytes("foo"))
        #expect(lines.search(multiline, atEnd: false) == .needMore)
        lines.append(bytes("\nrest"))
        let found = try match(lines.search(multiline, atEnd: false))
        #expect(found.matched == bytes("foo"))
        #expect(lines.bufferedCount == bytes("\nrest").count)
    }

    @Test("\\r$ in multiline mode matches the CR of a CRLF in a stream")
    func crDollarInStream() throws {
        let pattern = try BytePattern(#"OK\r$"#, options: .multiline)
        var matcher = StreamMatcher()
        matcher.append(bytes("250 OK\r"))
        #expect(matcher.search(pattern, atEnd: false) == .needMore)
        matcher.append(bytes("\n"))
        let found = try match(matcher.search(pattern, atEnd: false))
        #expect(found.matched == bytes("OK\r"))
        #expect(found.skippedCount == 4)
    }

    @Test("an ever-growing partial match reports limitExceeded once it holds limit bytes")
    func limitExceeded() throws {
        let pattern = try BytePattern("BEGIN.*END", options: .dotAll)
        var matcher = StreamMatcher(limit: 1024)
        matcher.append(bytes("noise BEGIN"))
        #expect(matcher.search(pattern, atEnd: false) == .needMore)
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 100)
        var results: [StreamSearchResult] = []
        for _ in 0..<20 {
            matcher.append(chunk)
            results.append(matcher.search(pattern, atEnd: false))
        }
        // "BEGIN" + 100 * n bytes reaches 1024 at n = 11 (1005 < 1024 <= 1105).
        #expect(results[..<10].allSatisfy { $0 == .needMore })
        #expect(results[10...].allSatisfy { $0 == .limitExceeded })
        #expect(matcher.bufferedCount >= 1024)
    }

    @Test("patterns are JIT-compiled where PCRE2 supports JIT")
    func jitCompiled() throws {
        #if arch(x86_64) || arch(arm64)
            #expect(try BytePattern(#"\d+\r\n"#).compiled.isJITCompiled)
        #endif
    }

    @Test("200 MB without a match keeps the buffer small, then the marker matches")
    func memoryBound() throws {
        let pattern = try BytePattern(#"MARKER-(\d+)\r\n"#)
        var matcher = StreamMatcher()
        var line = bytes("lorem ipsum dolor sit amet, consectetur adipiscing elit 0123456789\r\n")
        var chunk: [UInt8] = []
        while chunk.count + line.count <= 64 * 1024 {
            chunk += line
        }
        line.removeAll()
        chunk += [UInt8](repeating: UInt8(ascii: "z"), count: 64 * 1024 - chunk.count)
        #expect(chunk.count == 64 * 1024)

        let chunks = 200 * 1024 * 1024 / chunk.count
        var largestRetained = 0
        for _ in 0..<chunks {
            matcher.append(chunk)
            #expect(matcher.search(pattern, atEnd: false) == .needMore)
            largestRetained = max(largestRetained, matcher.retainedCount)
            #expect(matcher.bufferedCount == 0)
        }
        // Memory: at most the report tail, whatever the stream's length.
        #expect(largestRetained <= StreamMatcher.reportTail)
        #expect(matcher.tail(3) == bytes("zzz"))

        // The marker arrives split across two appends.
        matcher.append(bytes("xxMARK"))
        #expect(matcher.search(pattern, atEnd: false) == .needMore)
        #expect(matcher.bufferedCount == 4)
        matcher.append(bytes("ER-42\r\n"))
        let found = try match(matcher.search(pattern, atEnd: false))
        #expect(found.groups[1] == bytes("42"))
        #expect(found.skippedCount == chunks * chunk.count + 2)
    }

    @Test("a lookbehind sees bytes from an earlier chunk")
    func lookbehindAcrossChunks() throws {
        let pattern = try BytePattern("(?<=abc)def")
        var matcher = StreamMatcher()
        for piece in ["xxab", "c", "de", "f"] {
            matcher.append(bytes(piece))
            if piece != "f" {
                #expect(matcher.search(pattern, atEnd: false) == .needMore)
            }
        }
        let found = try match(matcher.search(pattern, atEnd: false))
        #expect(found.matched == bytes("def"))
        #expect(found.skippedCount == 5)
    }

    @Test("a lookbehind after a match sees the consumed bytes")
    func lookbehindAfterMatch() throws {
        var matcher = StreamMatcher()
        matcher.append(bytes("abc"))
        _ = try match(matcher.search(try BytePattern("abc"), atEnd: false))
        matcher.append(bytes("def"))
        let found = try match(matcher.search(try BytePattern("(?<=c)def"), atEnd: false))
        #expect(found.skippedCount == 0)
    }

    @Test("stream matches carry captures and named captures")
    func namedCaptures() throws {
        let pattern = try BytePattern(#"(?<code>\d{3}) (?<text>[^\r]*)\r\n|(?<other>zzz)"#)
        var matcher = StreamMatcher()
        matcher.append(bytes("220 mail.test ESMTP\r\n"))
        let found = try match(matcher.search(pattern, atEnd: false))
        #expect(found.names == ["code": 1, "text": 2, "other": 3])
        #expect(found["code"] == bytes("220"))
        #expect(found["text"] == bytes("mail.test ESMTP"))
        #expect(found["other"] == nil)
        #expect(found["missing"] == nil)
        #expect(found.groups.count == 4)
    }

    @Test("NUL bytes and bytes that are not UTF-8 pass through a stream search")
    func binaryStream() throws {
        let pattern = try BytePattern(#"\x00\xfe([\x80-\xff]+)\x00"#)
        var matcher = StreamMatcher()
        matcher.append([0x00, 0x01, 0x00])
        #expect(matcher.search(pattern, atEnd: false) == .needMore)
        matcher.append([0xFE, 0xC3, 0x28, 0x00, 0xFE, 0x80, 0x81])
        #expect(matcher.search(pattern, atEnd: false) == .needMore)
        matcher.append([0x00, 0xFF])
        let found = try match(matcher.search(pattern, atEnd: false))
        #expect(found.matched == [0x00, 0xFE, 0x80, 0x81, 0x00])
        #expect(found.groups[1] == [0x80, 0x81])
        #expect(found.skippedCount == 6)
        #expect(matcher.bufferedCount == 1)
    }

    @Test("consecutive matches each consume through their end")
    func consecutiveMatches() throws {
        let line = try BytePattern(#"[^\n]*\n"#)
        var matcher = StreamMatcher()
        matcher.append(bytes("one\ntwo\nthree"))
        #expect(try match(matcher.search(line, atEnd: false)).matched == bytes("one\n"))
        #expect(try match(matcher.search(line, atEnd: false)).matched == bytes("two\n"))
        #expect(matcher.search(line, atEnd: false) == .needMore)
        #expect(matcher.bufferedCount == 5)
        matcher.append(bytes("\n"))
        #expect(try match(matcher.search(line, atEnd: false)).matched == bytes("three\n"))
    }

    @Test("a failed search at the end drops nothing, so another pattern still sees the bytes")
    func atEndFailureKeepsBytes() throws {
        var matcher = StreamMatcher()
        matcher.append(bytes("554 no service\r\n"))
        #expect(matcher.search(try BytePattern("^220"), atEnd: true) == .needMore)
        #expect(matcher.bufferedCount == 16)
        #expect(matcher.tail(9) == bytes("service\r\n"))
        let found = try match(matcher.search(try BytePattern(#"^(\d{3})"#), atEnd: true))
        #expect(found.groups[1] == bytes("554"))
    }

    @Test("a repeated line group matches when its lines arrive one by one (^ after a trailing newline)")
    func repeatedLinesAcrossAppends() throws {
        let pattern = try BytePattern(#"(?:^[0-9]{3} [^\r\n]*\r\n){4}"#, options: [.multiline])
        let lines = ["250 2.0.0 OK\r\n", "503 5.5.1 Error: send EHLO first\r\n", "502 5.5.2 unknown\r\n", "250 2.0.0 OK\r\n"]
        var matcher = StreamMatcher()
        matcher.append(bytes("220 hi\r\n"))
        _ = try match(matcher.search(try BytePattern(#"^220 .*\r\n"#, options: [.multiline]), atEnd: false))
        for line in lines.dropLast() {
            matcher.append(bytes(line))
            #expect(matcher.search(pattern, atEnd: false) == .needMore)
            #expect(matcher.bufferedCount > 0, "the lines so far are a partial match and must be kept")
        }
        matcher.append(bytes(lines[3]))
        let found = try match(matcher.search(pattern, atEnd: false))
        #expect(found.matched == bytes(lines.joined()))
        #expect(found.skippedCount == 0)
    }

    @Test("tail shows what arrived since the last match, including passed-over bytes, never consumed ones")
    func tailForReports() throws {
        var matcher = StreamMatcher()
        matcher.append(bytes("220 hello\r\n250 other\r\n"))
        _ = try match(matcher.search(try BytePattern(#"^220 .*\r\n"#), atEnd: false))
        #expect(matcher.search(try BytePattern("^599 "), atEnd: false) == .needMore)
        #expect(matcher.bufferedCount == 0)
        #expect(matcher.tail(100) == bytes("250 other\r\n"))
        #expect(matcher.tail(4) == bytes("er\r\n"))
        // Passed-over bytes beyond the report tail are dropped.
        matcher.append([UInt8](repeating: 65, count: 3 * StreamMatcher.reportTail))
        #expect(matcher.search(try BytePattern("^599 "), atEnd: false) == .needMore)
        #expect(matcher.tail(Int.max).count == StreamMatcher.reportTail)
    }

    @Test("removeAll returns only the pending bytes and restarts the stream")
    func removeAllForStartTLS() throws {
        var matcher = StreamMatcher()
        matcher.append(bytes("220 2.0.0 Ready\r\n250 injected\r\n"))
        let ready = try match(matcher.search(try BytePattern(#"^220 .*\r\n"#), atEnd: false))
        #expect(ready.matched == bytes("220 2.0.0 Ready\r\n"))
        #expect(matcher.removeAll() == bytes("250 injected\r\n"))
        #expect(matcher.bufferedCount == 0)
        #expect(matcher.tail(10) == [])
        #expect(matcher.removeAll() == [])
        matcher.append(bytes("250 after\r\n"))
        #expect(try match(matcher.search(try BytePattern("^250"), atEnd: false)).skippedCount == 0)
    }

    @Test("skippedCount counts bytes dropped by earlier searches")
    func skippedAcrossDrops() throws {
        let pattern = try BytePattern("TARGET")
        var matcher = StreamMatcher()
        for noise in ["noise one\n", "noise two\n", "TAR"] {
            matcher.append(bytes(noise))
            #expect(matcher.search(pattern, atEnd: false) == .needMore)
        }
        matcher.append(bytes("GET!"))
        let found = try match(matcher.search(pattern, atEnd: false))
        #expect(found.skippedCount == 20)
        #expect(matcher.bufferedCount == 1)
    }
}
