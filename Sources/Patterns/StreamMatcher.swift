// SPDX-License-Identifier: Apache-2.0

/// An incremental matcher over a byte stream: append received bytes, search with a pattern,
/// and the bytes up to the end of a match are consumed.
///
/// Searching is linear in the stream, not quadratic: while the stream may still grow
/// (`atEnd == false`) PCRE2 runs in hard partial mode, and the matcher remembers where the next
/// search with the same pattern must resume:
///
/// * no match and no partial match: no match can start anywhere in the current bytes, so the next
///   search starts at their end;
/// * a partial match starting at `s`: the next search starts at `s`.
///
/// Bytes before the resume point can no longer start a match, so they are dropped (and counted in
/// ``StreamMatch/skippedCount``), which keeps memory bounded by the longest partial match. A few
/// of them are kept as *context* (`max(maxLookbehind, 1)` bytes) and passed to PCRE2 before the
/// start offset, so that `^` in multiline mode and lookbehind assertions see the true previous
/// byte instead of a false start of the subject.
///
/// Up to ``reportTail`` bytes that were passed over since the last match are also kept, so that
/// ``tail(_:)`` can show a person what arrived and did not match; this bound, not the stream's
/// length, is what they cost.
///
/// The resume point belongs to one pattern: searching with a different pattern starts again at
/// the first byte that is neither consumed nor dropped.
public struct StreamMatcher: Sendable {
    /// The most bytes a partial match may hold before ``search(_:atEnd:)`` reports
    /// ``StreamSearchResult/limitExceeded``.
    public let limit: Int

    /// Retained bytes: context first (`storage[..<pending]`), then bytes not yet consumed.
    private var storage: [UInt8] = []
    /// Index in `storage` of the first byte that may still start a match.
    private var pending = 0
    /// Bytes passed over since the last match that are no longer in `storage[pending...]`.
    private var passedOver = 0
    /// The pattern whose search left `resumeOffset`; nil when no resume point is known.
    private var resumePattern: CompiledPattern?
    /// Index in `storage` where the next search with `resumePattern` starts (`>= pending`).
    private var resumeOffset = 0
    /// Index in `storage` of the first byte after the last match (what ``tail(_:)`` may show).
    private var unconsumedStart = 0

    /// How many passed-over bytes are kept for ``tail(_:)`` although no match can use them.
    public static let reportTail = 4096

    /// Creates an empty matcher.
    ///
    /// - Parameter limit: the most bytes retained for a partial match while waiting for it to
    ///   complete.
    public init(limit: Int = 16 * 1024 * 1024) {
        self.limit = limit
    }

    /// Adds received bytes at the end of the stream.
    ///
    /// - Parameter bytes: the bytes, in stream order.
    public mutating func append(_ bytes: some Collection<UInt8>) {
        storage.append(contentsOf: bytes)
    }

    /// The number of retained bytes that are neither consumed by a match nor dropped: the bytes
    /// a search may still match. (Up to `max(maxLookbehind, 1)` already consumed bytes are held in
    /// addition, as context.)
    public var bufferedCount: Int { storage.count - pending }

    /// The number of bytes held in memory, context included.
    var retainedCount: Int { storage.count }

    /// Searches the retained bytes for `pattern`.
    ///
    /// - Parameters:
    ///   - pattern: the pattern to search for.
    ///   - atEnd: the stream has ended (EOF): no more bytes will come, so `$` may match at the end
    ///     of the data and partial matches are not waited for. A search at the end that finds
    ///     nothing drops nothing, so another pattern may still be tried on the same bytes.
    /// - Returns: the match (consuming the stream through its end), ``StreamSearchResult/needMore``,
    ///   or ``StreamSearchResult/limitExceeded`` when a partial match holds at least `limit` bytes.
    ///   If PCRE2 gives up (match or depth limit) nothing is dropped, and the result is `needMore`,
    ///   or `limitExceeded` when the retained bytes reach `limit`.
    public mutating func search(_ pattern: BytePattern, atEnd: Bool) -> StreamSearchResult {
        let compiled = pattern.compiled
        let start = resumePattern === compiled ? resumeOffset : pending
        let outcome = storage.withUnsafeBufferPointer {
            compiled.match($0, startOffset: start, partial: !atEnd)
        }
        let context = max(compiled.maxLookbehind, 1)

        switch outcome {
        case .matched(let ranges):
            let whole = ranges[0]!
            let groups = ranges.map { range in range.map { Array(storage[$0]) } }
            let match = StreamMatch(
                skippedCount: passedOver + (whole.lowerBound - pending),
                matched: groups[0]!,
                groups: groups,
                names: pattern.nameIndex
            )
            passedOver = 0
            unconsumedStart = whole.upperBound
            keep(from: whole.upperBound, context: context)
            resumePattern = compiled
            resumeOffset = pending
            return .matched(match)

        case .partial(let partialStart):
            // Nothing before the partial match can start a match any more.
            passedOver += partialStart - pending
            keep(from: partialStart, context: context)
            resumePattern = compiled
            resumeOffset = pending
            return storage.count - pending >= limit ? .limitExceeded : .needMore

        case .noMatch where atEnd:
            // Final answer for this pattern; keep the bytes for another pattern or an error report.
            resumePattern = compiled
            resumeOffset = storage.count
            return .needMore

        case .noMatch:
            // Hard partial matching found no possible start in the current bytes: all of them are
            // passed over, and the next search resumes at the current end.
            passedOver += storage.count - pending
            keep(from: storage.count, context: context)
            resumePattern = compiled
            resumeOffset = pending
            return .needMore

        case .failed:
            // PCRE2 gave up (match, depth or heap limit), which a huge backlog can cause. Nothing
            // is dropped, so the bound must still hold here, or a hostile peer grows the buffer
            // without end while every search fails.
            return storage.count - pending >= limit ? .limitExceeded : .needMore
        }
    }

    /// Makes `storage[offset...]` the pending bytes, keeping `context` bytes before them and
    /// dropping the rest.
    ///
    /// - Parameters:
    ///   - offset: the first byte that stays pending.
    ///   - context: how many bytes before `offset` to keep for `^` and lookbehind.
    private mutating func keep(from offset: Int, context: Int) {
        let reportable = min(Self.reportTail, max(0, offset - unconsumedStart))
        let drop = max(0, offset - max(context, reportable))
        if drop > 0 {
            storage.removeSubrange(0..<drop)
        }
        pending = offset - drop
        unconsumedStart = max(0, unconsumedStart - drop)
    }

    /// The last `count` bytes received since the last match, for error reports: pending bytes
    /// and up to ``reportTail`` bytes passed over before them; never bytes a match consumed.
    ///
    /// - Parameter count: how many bytes at most.
    /// - Returns: up to `count` bytes, oldest first.
    public func tail(_ count: Int) -> [UInt8] {
        let start = max(unconsumedStart, storage.count - max(0, count))
        return Array(storage[min(start, storage.count)...])
    }

    /// Empties the matcher and returns the bytes that were still pending (not consumed, not
    /// dropped, context excluded).
    ///
    /// Used at STARTTLS: plaintext received after the server's go-ahead must be discarded, never
    /// fed into the TLS session. The matcher then starts over as at the start of a stream, so `^`
    /// matches at the first byte that follows.
    ///
    /// - Returns: the pending bytes.
    public mutating func removeAll() -> [UInt8] {
        let drained = Array(storage[pending...])
        storage.removeAll(keepingCapacity: false)
        pending = 0
        unconsumedStart = 0
        passedOver = 0
        resumePattern = nil
        resumeOffset = 0
        return drained
    }
}
