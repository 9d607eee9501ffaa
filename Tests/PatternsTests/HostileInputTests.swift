// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Patterns

/// The stream matcher against input shaped to defeat it: its memory bound must hold whatever
/// PCRE2 answers.
@Suite("StreamMatcher against hostile input")
struct HostileInputTests {
    /// 64 KiB of the fake server's flood lines.
    static let floodChunk: [UInt8] = {
        let line = Array("FLOOD 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST\r\n".utf8)
        return Array((0..<1024).flatMap { _ in line })
    }()

    @Test("a partial match that never ends reports limitExceeded once it holds the limit, even when PCRE2 gives up")
    func partialMatchBounded() throws {
        let limit = 1024 * 1024
        var matcher = StreamMatcher(limit: limit)
        let pattern = try BytePattern(#"^FLOOD (?s:.)*NEVER"#, options: [.multiline])
        var outcome = StreamSearchResult.needMore
        var appended = 0
        // 64 chunks is 4 MiB: four times the limit.
        for _ in 0..<64 {
            matcher.append(Self.floodChunk)
            appended += Self.floodChunk.count
            outcome = matcher.search(pattern, atEnd: false)
            if outcome != .needMore { break }
        }
        #expect(outcome == .limitExceeded)
        #expect(appended <= limit + Self.floodChunk.count, "the limit fired late: after \(appended) bytes")
        #expect(matcher.bufferedCount <= limit + Self.floodChunk.count)
    }

    @Test("a search over a backlog far larger than the limit reports limitExceeded, not an endless needMore")
    func backlogBounded() throws {
        let limit = 1024 * 1024
        var matcher = StreamMatcher(limit: limit)
        let pattern = try BytePattern(#"^FLOOD (?s:.)*NEVER"#, options: [.multiline])
        for _ in 0..<(16 * limit / Self.floodChunk.count) {
            matcher.append(Self.floodChunk)
        }
        let outcome = matcher.search(pattern, atEnd: false)
        #expect(outcome == .limitExceeded)
    }
}
