// SPDX-License-Identifier: Apache-2.0

/// The outcome of ``StreamMatcher/search(_:atEnd:)``.
public enum StreamSearchResult: Sendable, Equatable {
    /// The pattern matched; the matcher consumed everything through the end of the match.
    case matched(StreamMatch)
    /// No match yet. Without `atEnd`, more bytes may produce one; with `atEnd` there is none.
    case needMore
    /// A partial match already holds at least `limit` retained bytes and still needs more.
    case limitExceeded
}
