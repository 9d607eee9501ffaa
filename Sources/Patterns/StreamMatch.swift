// SPDX-License-Identifier: Apache-2.0

/// A match found by ``StreamMatcher/search(_:atEnd:)``, with its bytes copied out of the stream.
public struct StreamMatch: Sendable, Equatable {
    /// How many stream bytes were passed over between the previous match (or the start of the
    /// stream, or the last ``StreamMatcher/removeAll()``) and the start of this match. Some of
    /// them may have been dropped already by earlier searches.
    public var skippedCount: Int
    /// The matched bytes.
    public var matched: [UInt8]
    /// `groups[0]` is ``matched``, then each capture group's bytes; nil for a group that did not
    /// take part in the match.
    public var groups: [[UInt8]?]
    /// Capture name -> group index into ``groups``.
    public var names: [String: Int]

    /// Creates a match value.
    ///
    /// - Parameters:
    ///   - skippedCount: bytes passed over before the match.
    ///   - matched: the matched bytes.
    ///   - groups: the matched bytes, then each capture group's bytes.
    ///   - names: capture name -> group index.
    public init(skippedCount: Int, matched: [UInt8], groups: [[UInt8]?], names: [String: Int]) {
        self.skippedCount = skippedCount
        self.matched = matched
        self.groups = groups
        self.names = names
    }

    /// The bytes of the capture group called `name`, or nil when there is no such group or it
    /// did not take part in the match.
    public subscript(name: String) -> [UInt8]? {
        guard let index = names[name], index < groups.count else { return nil }
        return groups[index]
    }
}
