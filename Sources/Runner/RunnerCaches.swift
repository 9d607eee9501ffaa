// SPDX-License-Identifier: Apache-2.0
import Foundation
internal import GnuTLSNIO
internal import Patterns

/// What runs of one runner share: compiled patterns and loaded TLS credentials, by their inputs.
final class RunnerCaches: @unchecked Sendable {
    private let lock = NSLock()
    private var patterns: [String: BytePattern] = [:]
    private var contexts: [String: GnuTLSContext] = [:]

    func pattern(_ key: String) -> BytePattern? { lock.withLock { patterns[key] } }
    func store(_ pattern: BytePattern, _ key: String) { lock.withLock { patterns[key] = pattern } }
    func context(_ key: String) -> GnuTLSContext? { lock.withLock { contexts[key] } }
    func store(_ context: GnuTLSContext, _ key: String) { lock.withLock { contexts[key] = context } }
}

/// Embedded servers started once and shared by many runs of one scenario.
public struct ServerPool: Sendable {
    let servers: [String: any RunningServer]

    /// Stops every server.
    public func stop() async {
        for server in servers.values {
            await server.stop()
        }
    }
}
