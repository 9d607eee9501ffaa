// SPDX-License-Identifier: Apache-2.0

/// Where a one-shot search (``BytePattern/firstMatch(in:from:)``) matched.
public struct PatternMatch: Sendable, Equatable {
    /// The whole match, as offsets into the searched bytes.
    public var range: Range<Int>
    /// `groups[0]` is the whole match, then one element per capture group; nil for a group that
    /// did not take part in the match.
    public var groups: [Range<Int>?]

    /// Creates a match value.
    ///
    /// - Parameters:
    ///   - range: the whole match.
    ///   - groups: the whole match, then each capture group.
    public init(range: Range<Int>, groups: [Range<Int>?]) {
        self.range = range
        self.groups = groups
    }
}
