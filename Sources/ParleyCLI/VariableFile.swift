// SPDX-License-Identifier: Apache-2.0
import Foundation
import Scenario

/// A file of variables for `--var-file`: one `NAME=VALUE` per line, the format of `.env` files
/// and of `ci/realservers vars`.
///
/// - Blank lines and lines starting with `#` are skipped; `export NAME=VALUE` is read as
///   `NAME=VALUE`.
/// - The value is everything after the first `=`, without the spaces and tabs around it, unless
///   it is quoted whole: in single quotes it is taken literally (spaces too); in double quotes
///   `\"`, `\\`, `\n`, `\r`, `\t` and `\0` are escapes. `#` after a value is part of it.
///
/// Values read this way never appear on a command line, where other users of the machine could
/// see them (`ps`); name the secret ones in the scenario's `secrets:` to mask them in reports.
public enum VariableFile {
    /// A line that cannot be read.
    public struct Problem: Error, CustomStringConvertible, Equatable {
        /// The file.
        public var path: String
        /// The line, from 1; nil when the file as a whole cannot be read.
        public var line: Int?
        /// What is wrong.
        public var message: String

        /// Creates a problem report.
        public init(path: String, line: Int?, message: String) {
            self.path = path
            self.line = line
            self.message = message
        }

        /// `FILE:LINE: error: MESSAGE`.
        public var description: String { "\(path)\(line.map { ":\($0)" } ?? ""): error: \(message)" }
    }

    /// Reads a variable file.
    ///
    /// - Parameter path: the file (a named pipe such as `<(ci/realservers vars)` works too).
    /// - Returns: the variables, a later line overriding an earlier one.
    /// - Throws: `Problem` for an unreadable file or line.
    public static func read(_ path: String) throws(Problem) -> [String: String] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw Problem(path: path, line: nil, message: "no such file")
        }
        guard !isFolder.boolValue else {
            throw Problem(path: path, line: nil, message: "a folder, not a file of NAME=VALUE lines")
        }
        // A FileHandle reads pipes too (`<(command)`), which Data(contentsOf:) refuses.
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw Problem(path: path, line: nil, message: "cannot open the file: \(String(cString: strerror(errno)))")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.readToEnd() ?? Data()
        } catch {
            throw Problem(path: path, line: nil, message: "cannot read the file: \((error as NSError).localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw Problem(path: path, line: nil, message: "the file is not UTF-8 text")
        }
        return try parse(text, path: path)
    }

    /// Parses the text of a variable file.
    ///
    /// - Parameters:
    ///   - text: the file's text.
    ///   - path: the file's name, for messages.
    /// - Returns: the variables.
    /// - Throws: `Problem` for the first line that cannot be read.
    public static func parse(_ text: String, path: String) throws(Problem) -> [String: String] {
        var variables: [String: String] = [:]
        // "\r\n" is ONE Character in Swift: `isNewline` ends a line at it, at LF and at a lone CR,
        // so a CRLF file reads like an LF one.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            var assignment = trimmed
            if assignment.hasPrefix("export ") { assignment = assignment.dropFirst("export ".count).drop { $0 == " " } }
            guard let equals = assignment.firstIndex(of: "=") else {
                throw Problem(path: path, line: index + 1, message: "expected NAME=VALUE, found \(quoted(String(trimmed)))")
            }
            let name = String(assignment[..<equals]).trimmingCharacters(in: .whitespaces)
            guard Template.isName(name) else {
                throw Problem(
                    path: path,
                    line: index + 1,
                    message: "\(quoted(name)) is not a variable name (letters, digits, '_', '.', '-')"
                )
            }
            do {
                variables[name] = try value(assignment[assignment.index(after: equals)...])
            } catch {
                throw Problem(path: path, line: index + 1, message: error.message)
            }
        }
        return variables
    }

    /// Why a value cannot be read.
    struct ValueProblem: Error {
        var message: String
    }

    /// A value as written, or unquoted when it is quoted whole.
    static func value(_ written: Substring) throws(ValueProblem) -> String {
        let raw = written.drop { $0 == " " || $0 == "\t" }
        guard let quote = raw.first, quote == "'" || quote == "\"" else {
            return String(raw).trimmingCharacters(in: CharacterSet(charactersIn: " \t"))
        }
        var rest = raw.dropFirst()
        var out = ""
        while let c = rest.first {
            rest = rest.dropFirst()
            if c == quote {
                guard rest.allSatisfy({ $0 == " " || $0 == "\t" }) else {
                    throw ValueProblem(message: "text after the closing \(quote): \(quoted(String(rest)))")
                }
                return out
            }
            if quote == "\"" && c == "\\" {
                guard let escaped = rest.first else { break }
                rest = rest.dropFirst()
                switch escaped {
                case "n": out += "\n"
                case "r": out += "\r"
                case "t": out += "\t"
                case "0": out += "\0"
                case "\"", "\\": out.append(escaped)
                default:
                    throw ValueProblem(message: "unknown escape \\\(escaped) (known: \\\" \\\\ \\n \\r \\t \\0)")
                }
                continue
            }
            out.append(c)
        }
        throw ValueProblem(message: "no closing \(quote)")
    }
}
