// SPDX-License-Identifier: Apache-2.0

/// A bounded wait ran out: the thing a test waited for did not happen before its deadline.
public struct TimedOut: Error, CustomStringConvertible {
    /// What the test waited for, as a phrase ("the handshake", "a reply").
    public var what: String

    /// Makes the error.
    ///
    /// - Parameter what: what the test waited for.
    public init(what: String) {
        self.what = what
    }

    /// "timed out waiting for …".
    public var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` every 10 ms until it holds or `limit` has passed (a bound on the wait, not
/// a timing assertion: pick a limit that a loaded machine meets with room to spare).
///
/// When the task is cancelled the wait ends early with the condition's value at that moment.
///
/// - Parameters:
///   - limit: the longest wait.
///   - condition: what to wait for; it is evaluated once more when the limit has passed.
/// - Returns: whether the condition held before the deadline (or at it).
public func eventually(_ limit: Duration = .seconds(30), _ condition: () async -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let end = clock.now.advanced(by: limit)
    while clock.now < end, !Task.isCancelled {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return await condition()
}
