// SPDX-License-Identifier: Apache-2.0
import MailServers

/// Collects what callbacks on any thread hand it (events, observations, chunks), in arrival
/// order, for the test to inspect afterwards.
///
/// ```swift
/// let events = Collector<RunEvent>()
/// await runner.run(scenario) { events.add($0) }
/// #expect(events.all.contains(...))
/// ```
public final class Collector<Element: Sendable>: Sendable {
    private let items = Locked<[Element]>([])

    /// An empty collector.
    public init() {}

    /// Appends one item (from any thread).
    public func add(_ item: Element) {
        items.withLock { $0.append(item) }
    }

    /// Everything added so far, in order.
    public var all: [Element] {
        items.withLock { $0 }
    }
}

/// Collects text written in pieces from any thread: the output and error sinks of a frontend or
/// reporter, or the output of a child process.
///
/// ```swift
/// let output = TextCollector()
/// let status = await RunFrontend(paths: [path]) { output.write($0) }.run()
/// #expect(output.all.contains("PASS"))
/// ```
public final class TextCollector: Sendable {
    private let text = Locked("")

    /// An empty collector.
    public init() {}

    /// Appends a piece of text.
    public func write(_ piece: String) {
        text.withLock { $0 += piece }
    }

    /// Everything written so far, joined.
    public var all: String {
        text.withLock { $0 }
    }
}
