// SPDX-License-Identifier: Apache-2.0
public import Foundation

/// The package's source tree, for tests that read committed files (scenarios, fixtures, the
/// schema, fuzz corpora). Tests run from the source tree, so the root is found from this source
/// file's location at build time and works from any working directory.
public enum SourceTree {
    /// The package root: the folder that holds `Package.swift`.
    public static let root: URL = {
        // #filePath is .../Tests/ParleyTestSupport/SourceTree.swift.
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // SourceTree.swift, ParleyTestSupport, Tests
        return url
    }()

    /// The absolute path of a file or folder in the source tree.
    ///
    /// - Parameter relative: a path relative to ``root``, such as "scenarios/smtp-starttls.yaml".
    /// - Returns: the absolute path.
    public static func path(_ relative: String) -> String {
        root.appendingPathComponent(relative).path
    }
}
