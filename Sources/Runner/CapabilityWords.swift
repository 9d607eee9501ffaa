// SPDX-License-Identifier: Apache-2.0
import Foundation

/// The words of a capability response, upper-cased: reply codes, IMAP's `* CAPABILITY`, tagged
/// and `+OK` status lines, POP3's final dot and numeric parameters are left out.
public enum CapabilityWords {
    /// The words of one capability response.
    public static func parse(_ response: [UInt8]) -> Set<String> {
        var words = Set<String>()
        let text = String(decoding: response, as: UTF8.self)
        var first = true
        for rawLine in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            var line = Substring(rawLine.trimmingCharacters(in: .whitespacesAndNewlines))
            defer { first = false }
            if line.isEmpty || line == "." { continue }
            if line.count >= 4, line.prefix(3).allSatisfy(\.isNumber), [" ", "-"].contains(line[line.index(line.startIndex, offsetBy: 3)]) {
                // A numbered reply's first line names the server (SMTP and LMTP: the domain and
                // a greeting; NNTP: "Capability list:"; FTP: "Features:"), not a capability.
                if first { continue }
                line = line.dropFirst(4)
            } else if line.hasPrefix("* CAPABILITY ") {
                line = line.dropFirst("* CAPABILITY ".count)
            } else if line.hasPrefix("* OK [CAPABILITY "), let close = line.firstIndex(of: "]") {
                line = line[line.index(line.startIndex, offsetBy: "* OK [CAPABILITY ".count)..<close]
            } else if line.hasPrefix("+OK") || line.hasPrefix("-ERR") {
                continue
            } else {
                let parts = line.split(separator: " ", maxSplits: 2)
                if parts.count >= 2, ["OK", "NO", "BAD"].contains(parts[1].uppercased()) { continue }
            }
            // A number is a parameter (SMTP's SIZE 35882577), not a capability.
            for word in line.split(separator: " ") where !word.allSatisfy(\.isNumber) {
                words.insert(word.trimmingCharacters(in: CharacterSet(charactersIn: "\"")).uppercased())
            }
        }
        return words
    }
}

extension Failure: Error {}
