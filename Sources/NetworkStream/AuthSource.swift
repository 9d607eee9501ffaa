// SPDX-License-Identifier: Apache-2.0
internal import Foundation

/// Looks up a client certificate in an authinfo/netrc file the way Emacs's
/// `network-stream-certificate` does through auth-source: the first entry for the host and port
/// gives `key` and `cert`, used only when both are readable files.
///
/// Entries are whitespace-separated `name value` pairs, each starting at `machine` (or
/// `default`); values may be double-quoted; `#` starts a comment line. An entry without `port`
/// matches any port.
///
/// - SeeAlso: spec/emacs-network.md §6.2.
enum AuthSource {
    /// One entry's pairs.
    typealias Entry = [String: String]

    /// Parses an authinfo/netrc text into entries.
    ///
    /// - Parameter text: the file's text.
    /// - Returns: the entries in file order.
    static func entries(_ text: String) -> [Entry] {
        var tokens: [String] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.hasPrefix("#") { continue }
            var current = ""
            var quoted = false
            var inToken = false
            for character in trimmed {
                if character == "\"" {
                    quoted.toggle()
                    inToken = true
                } else if (character == " " || character == "\t") && !quoted {
                    if inToken { tokens.append(current) }
                    current = ""
                    inToken = false
                } else {
                    current.append(character)
                    inToken = true
                }
            }
            if inToken { tokens.append(current) }
        }
        var entries: [Entry] = []
        var index = 0
        while index < tokens.count {
            let key = tokens[index]
            if key == "default" {
                entries.append(["machine": "*"])
                index += 1
                continue
            }
            guard index + 1 < tokens.count else { break }
            let value = tokens[index + 1]
            if key == "machine" || entries.isEmpty {
                entries.append([:])
            }
            entries[entries.count - 1][key] = value
            index += 2
        }
        return entries
    }

    /// The key and certificate for `host` and `port`, or nil.
    ///
    /// - Parameters:
    ///   - file: the authinfo/netrc file.
    ///   - host: the host as given to open-network-stream.
    ///   - port: the service as text.
    /// - Returns: both paths, when the first matching entry has both and both are readable.
    static func clientCertificate(in file: String, host: String, port: String) -> (key: String, certificate: String)? {
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        let match = entries(text).first { entry in
            let machine = entry["machine"] ?? entry["host"]
            guard machine == host || machine == "*" else { return false }
            if let entryPort = entry["port"] ?? entry["protocol"] { return entryPort == port }
            return true
        }
        guard let match, let key = match["key"], let certificate = match["cert"],
            FileManager.default.isReadableFile(atPath: key),
            FileManager.default.isReadableFile(atPath: certificate)
        else { return nil }
        return (key, certificate)
    }
}
