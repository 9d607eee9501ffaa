// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServers
import ParleyCLI
import ParleyTestSupport
import Testing

@Suite("Installed files: the test CA file parley serve names, and the version")
struct InstalledFilesTests {
    /// A fresh temporary folder, removed by the caller.
    func temporaryFolder() throws -> String {
        let path = NSTemporaryDirectory() + "parley-installed-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("share/parley is found beside bin/ of the executable")
    func shareDirectory() {
        #expect(InstalledFiles.shareDirectory(executable: "/opt/p/bin/parley") == "/opt/p/share/parley")
        #expect(InstalledFiles.shareDirectory(executable: "/usr/bin/parley") == "/usr/share/parley")
    }

    @Test("the installed certs/ca.pem is named when it holds the built-in CA")
    func installedCA() throws {
        let prefix = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        try FileManager.default.createDirectory(atPath: prefix + "/share/parley/certs", withIntermediateDirectories: true)
        let ca = prefix + "/share/parley/certs/ca.pem"
        try #require(TestPKI.pem("ca.pem")).write(toFile: ca, atomically: true, encoding: .utf8)
        let file = try InstalledFiles.testCAFile(
            executable: prefix + "/bin/parley", environment: ["XDG_CACHE_HOME": prefix + "/cache"])
        #expect(file == ca)
        #expect(!FileManager.default.fileExists(atPath: prefix + "/cache"))
    }

    @Test("a missing or different installed ca.pem: the built-in CA is written to the per-user cache, once")
    func cachedCA() throws {
        let prefix = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        try FileManager.default.createDirectory(atPath: prefix + "/share/parley/certs", withIntermediateDirectories: true)
        try "not the test CA\n".write(toFile: prefix + "/share/parley/certs/ca.pem", atomically: true, encoding: .utf8)
        let pem = try #require(TestPKI.pem("ca.pem"))

        let file = try InstalledFiles.testCAFile(
            executable: prefix + "/bin/parley", environment: ["XDG_CACHE_HOME": prefix + "/cache"])
        #expect(file == prefix + "/cache/parley/test-ca.pem")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == pem)

        // HOME when XDG_CACHE_HOME is not set; a stale file there is replaced.
        try FileManager.default.createDirectory(atPath: prefix + "/home/.cache/parley", withIntermediateDirectories: true)
        try "stale\n".write(toFile: prefix + "/home/.cache/parley/test-ca.pem", atomically: true, encoding: .utf8)
        let fromHome = try InstalledFiles.testCAFile(executable: prefix + "/bin/parley", environment: ["HOME": prefix + "/home"])
        #expect(fromHome == prefix + "/home/.cache/parley/test-ca.pem")
        #expect(try String(contentsOfFile: fromHome, encoding: .utf8) == pem)
    }

    @Test("with no cache folder writable, the temporary folder")
    func temporaryCA() throws {
        let prefix = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: prefix) }
        // A cache "folder" below a plain file cannot be made.
        try "x".write(toFile: prefix + "/file", atomically: true, encoding: .utf8)
        let file = try InstalledFiles.testCAFile(
            executable: prefix + "/bin/parley", environment: ["XDG_CACHE_HOME": prefix + "/file"],
            temporaryDirectory: prefix + "/tmp")
        #expect(file == prefix + "/tmp/parley-\(getuid())/test-ca.pem")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == TestPKI.pem("ca.pem"))
    }

    @Test(
        "parley serve: 'trust: FILE' after 'listening on', FILE holding the built-in CA; none with --cert",
        .enabled(if: parleyExecutable() != nil, "needs the built parley executable")
    )
    func serveNamesTheCA() async throws {
        let parley = try #require(parleyExecutable())
        let cache = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let serve = try ExternalProcess([parley, "serve", "smtp"], environment: ["XDG_CACHE_HOME": cache])
        defer { serve.kill() }
        #expect(try await serve.waitForOutput("certificate)\n"), "\(serve.transcript)")
        let lines = String(decoding: serve.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        try #require(lines.count == 2, "\(serve.transcript)")
        #expect(lines[0].hasPrefix("listening on 127.0.0.1:"))
        let suffix = " (the test CA that signed this server's certificate)"
        #expect(lines[1].hasPrefix("trust: ") && lines[1].hasSuffix(suffix), "\(lines[1])")
        let file = String(lines[1].dropFirst("trust: ".count).dropLast(suffix.count))
        // A build in the source tree has no share/parley beside it: the per-user cache.
        #expect(file == cache + "/parley/test-ca.pem")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == TestPKI.pem("ca.pem"))

        let withCert = try ExternalProcess(
            [
                parley, "serve", "smtp", "--cert", FixtureCertificates.path("server.pem"), "--key",
                FixtureCertificates.path("server-key.pem"),
            ], environment: ["XDG_CACHE_HOME": cache])
        defer { withCert.kill() }
        #expect(try await withCert.waitForOutput("\n"), "\(withCert.transcript)")
        // Stopped, so whatever it would print after the first line has been printed.
        withCert.signal(SIGTERM)
        #expect(try await withCert.waitForExit(seconds: 20) == 0, "\(withCert.transcript)")
        #expect(String(decoding: withCert.stdout, as: UTF8.self).split(separator: "\n").count == 1, "\(withCert.transcript)")
    }

    @Test("the version: a digit first, then only characters a Debian version may hold")
    func versionFormat() {
        let version = ParleyVersion.string
        #expect(version.first?.isNumber == true, "\(version)")
        #expect(version.hasPrefix(ParleyVersion.base), "\(version)")
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+~-")
        #expect(version.allSatisfy { allowed.contains($0) }, "\(version)")
    }
}
