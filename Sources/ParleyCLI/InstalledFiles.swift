// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServers

/// The files an installed Parley ships beside its binary (`ci/install`, `ci/package`):
/// `PREFIX/bin/parley` and `PREFIX/share/parley/` (`certs/`, `schema/`, `scenarios/`). Paths are
/// found from the running executable, never from the source tree.
public enum InstalledFiles {
    /// The test CA's file name in `share/parley/certs/` and in the per-user cache.
    static let caName = "ca.pem"

    /// The path of the running executable, with symbolic links resolved (`/proc/self/exe`).
    public static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// `PREFIX/share/parley` for an executable at `PREFIX/bin/parley` (whether or not it exists).
    ///
    /// - Parameter executable: the executable's path.
    /// - Returns: the folder's path.
    public static func shareDirectory(executable: String = executablePath()) -> String {
        URL(fileURLWithPath: executable).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("share/parley").path
    }

    /// The per-user folder for files Parley writes: `$XDG_CACHE_HOME/parley`, else
    /// `$HOME/.cache/parley`, else nil.
    ///
    /// - Parameter environment: the environment to read; nil: the process's.
    /// - Returns: the folder's path, or nil when neither variable is set.
    public static func cacheDirectory(environment: [String: String]? = nil) -> String? {
        let environment = environment ?? ProcessInfo.processInfo.environment
        if let cache = environment["XDG_CACHE_HOME"], cache.hasPrefix("/") { return cache + "/parley" }
        if let home = environment["HOME"], !home.isEmpty { return home + "/.cache/parley" }
        return nil
    }

    /// A file holding the test CA that signed the built-in server certificate, for a client to
    /// trust: `share/parley/certs/ca.pem` beside the installed binary when it holds the same
    /// certificate as the one built in; otherwise the built-in PEM written to
    /// `cacheDirectory/test-ca.pem` (or, without one, to the temporary folder).
    ///
    /// - Parameters:
    ///   - executable: the running executable's path.
    ///   - environment: the environment to read (`XDG_CACHE_HOME`, `HOME`); nil: the process's.
    ///   - temporaryDirectory: the last resort for writing the file; nil: the system's.
    /// - Returns: the file's path.
    /// - Throws: a file-system error when no file could be written.
    public static func testCAFile(
        executable: String = executablePath(),
        environment: [String: String]? = nil,
        temporaryDirectory: String? = nil
    ) throws -> String {
        let pem = TestPKI.pem(caName) ?? ""
        let installed = shareDirectory(executable: executable) + "/certs/" + caName
        if holds(pem, installed) { return installed }
        var folders: [String] = []
        if let cache = cacheDirectory(environment: environment) { folders.append(cache) }
        folders.append(URL(fileURLWithPath: temporaryDirectory ?? NSTemporaryDirectory()).appendingPathComponent("parley-\(getuid())").path)
        var lastError: (any Error)?
        for folder in folders {
            let file = folder + "/test-ca.pem"
            if holds(pem, file) { return file }
            do {
                try FileManager.default.createDirectory(
                    atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                // Written to a temporary name and renamed, so a reader never sees half of it.
                try Data(pem.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
                return file
            } catch {
                lastError = error
            }
        }
        throw lastError ?? CocoaError(.fileWriteUnknown)
    }

    /// The line `parley serve` prints after `listening on` when it presents the built-in
    /// certificate: `trust: PATH (...)`, or why there is no file to name.
    public static func trustLine() -> String {
        do {
            return "trust: \(try testCAFile()) (the test CA that signed this server's certificate)\n"
        } catch {
            return "trust: no file for the test CA could be written (\(error)); it is fixtures/certs/ca.pem in the source\n"
        }
    }

    /// Whether the file at `path` exists and holds exactly `text`.
    static func holds(_ text: String, _ path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        return data == Data(text.utf8)
    }
}
