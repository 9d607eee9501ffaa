// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: reply framing. The input is a byte stream fed to a StreamMatcher in random
// chunks (sizes taken from the input) and searched with the presets' multi-line reply patterns
// and an IMAP literal pattern. Checks: the incremental search finds the same first match as a
// search over the whole stream at once, and the matcher never holds more than its limit plus
// one chunk.
import Foundation
import FuzzSupport
import Patterns
import Scenario

/// The patterns under test: each preset's greeting, capability-end and STARTTLS reply, plus an
/// IMAP literal.
let patterns: [BytePattern] = {
    var sources = Preset.all.values.flatMap { [$0.greeting, $0.endOfCapabilities, $0.starttlsReply].compactMap { $0 } }
    sources.append(#"^\* [0-9]+ FETCH \(BODY\[\] \{[0-9]+\}\r\n"#)
    return Array(Set(sources)).sorted().compactMap { try? BytePattern($0, options: [.multiline]) }
}()

/// Runs one input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReplyFraming(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard input.count >= 2 else { return 0 }
    let pattern = patterns[Int(input[0]) % patterns.count]
    let seed = Int(input[1])
    let stream = Array(input.dropFirst(2))
    let limit = 256

    // Reference: the whole stream at once.
    var whole = StreamMatcher(limit: Int.max)
    whole.append(stream)
    let expected = whole.search(pattern, atEnd: true)

    var matcher = StreamMatcher(limit: limit)
    var offset = 0
    var step = 0
    var result = StreamSearchResult.needMore
    while offset < stream.count {
        let chunk = 1 + (seed &* 31 &+ step &* 17) % 23
        let end = min(stream.count, offset + chunk)
        matcher.append(stream[offset..<end])
        offset = end
        step += 1
        result = matcher.search(pattern, atEnd: false)
        if result != .needMore { break }
        precondition(matcher.bufferedCount < limit + chunk, "the matcher holds \(matcher.bufferedCount) bytes")
    }
    if result == .needMore { result = matcher.search(pattern, atEnd: true) }
    // A match found in pieces must be the whole-stream match (when the limit did not fire).
    if case .matched(let found) = result, case .matched(let reference) = expected {
        precondition(found.matched == reference.matched, "chunked match differs from the whole-stream match")
        precondition(found.skippedCount == reference.skippedCount, "chunked match starts elsewhere")
    }
    return 0
}

/// Runs libFuzzer on ``fuzzReplyFraming(_:_:)``, or replays the files named on the command line.
@main
struct Entry {
    static func main() throws {
        try FuzzDriver.run(fuzzReplyFraming)
    }
}
