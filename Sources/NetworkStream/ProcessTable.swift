// SPDX-License-Identifier: Apache-2.0
internal import NIOConcurrencyHelpers

/// The set of live process names, like Emacs's `process-list`: it makes new names unique.
///
/// A new process asks for a name; if a live process has it already, the table tries `NAME<1>`,
/// `NAME<2>`, … and takes the first free one (numbering starts at 1 for every clash; no counter is
/// kept). A name is free again as soon as its process is deleted or closed by the peer.
///
/// - SeeAlso: spec/emacs-network.md §1.1.
public final class ProcessTable: Sendable {
    /// The table used when a caller names none (one per program, as Emacs has one process list).
    public static let shared = ProcessTable()

    private struct State {
        var names: Set<String> = []
        /// Running count of connections accepted by non-IP servers (Unix sockets), for their names.
        var acceptCount = 0
    }

    private let state = NIOLockedValueBox(State())

    /// Creates an empty table.
    public init() {}

    /// Claims the first free name among `base`, `base<1>`, `base<2>`, ….
    ///
    /// - Parameter base: the name asked for.
    /// - Returns: the name claimed.
    func claim(_ base: String) -> String {
        state.withLockedValue { state in
            var candidate = base
            var number = 1
            while state.names.contains(candidate) {
                candidate = "\(base)<\(number)>"
                number += 1
            }
            state.names.insert(candidate)
            return candidate
        }
    }

    /// Frees a name.
    ///
    /// - Parameter name: a name returned by ``claim(_:)``.
    func release(_ name: String) {
        _ = state.withLockedValue { $0.names.remove(name) }
    }

    /// The next number for a connection accepted by a Unix-socket server.
    func nextAcceptNumber() -> Int {
        state.withLockedValue { state in
            state.acceptCount += 1
            return state.acceptCount
        }
    }

    /// The names of the live processes, sorted.
    public var names: [String] {
        state.withLockedValue { $0.names.sorted() }
    }

    /// Whether a live process has this name.
    ///
    /// - Parameter name: the name.
    /// - Returns: true when it is taken.
    public func contains(_ name: String) -> Bool {
        state.withLockedValue { $0.names.contains(name) }
    }
}
