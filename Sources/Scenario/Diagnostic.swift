// SPDX-License-Identifier: Apache-2.0

/// One problem found in a scenario, with the place it was found.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    /// How serious the problem is.
    public enum Severity: String, Sendable, Hashable {
        case error
        case warning
        case note
    }

    /// How serious the problem is.
    public var severity: Severity
    /// Where the problem is, when it belongs to a place in a file.
    public var location: SourceLocation?
    /// What is wrong, in one sentence.
    public var message: String

    /// Creates a diagnostic.
    public init(_ severity: Severity = .error, at location: SourceLocation?, _ message: String) {
        self.severity = severity
        self.location = location
        self.message = message
    }

    /// `file:line:col: error: message`.
    public var description: String {
        if let location {
            return "\(location): \(severity.rawValue): \(message)"
        }
        return "\(severity.rawValue): \(message)"
    }

    /// The diagnostic followed by the offending source line and a caret under the column.
    ///
    /// - Parameter source: the whole text of the file the location points into.
    /// - Returns: the rendered diagnostic, ending in a newline.
    public func rendered(source: String?) -> String {
        var out = description + "\n"
        guard let location, let source else { return out }
        // Split on "\n" only, over scalars (a String's Characters fold "\r\n" into one): the
        // caret line must line up with what an editor shows.
        let lines = source.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        guard location.line >= 1, location.line <= lines.count else { return out }
        var line = lines[location.line - 1]
        if line.last == "\r" { line.removeLast() }
        // libyaml does not count a byte order mark at the start of the file as a column.
        if location.line == 1, line.first == "\u{FEFF}" { line.removeFirst() }
        let text = String(String.UnicodeScalarView(line.map(Self.visible)))
        out += "  \(text)\n"
        let prefix = text.unicodeScalars.prefix(max(0, location.column - 1))
        // Keep tabs so the caret stays under the right character in a terminal.
        let pad = String(String.UnicodeScalarView(prefix.map { $0 == "\t" ? "\t" : " " }))
        out += "  \(pad)^\n"
        return out
    }

    /// A character as it is shown in a quoted source line: a control character other than TAB
    /// (which a terminal would act on) as its Control Pictures sign, one column wide like it.
    static func visible(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        switch scalar.value {
        case 0x00...0x1F where scalar != "\t": Unicode.Scalar(0x2400 + scalar.value) ?? "\u{FFFD}"
        case 0x7F: "\u{2421}"
        case 0x80...0x9F: "\u{FFFD}"
        default: scalar
        }
    }
}

/// Every problem found while loading one scenario file.
public struct ScenarioLoadError: Error, Sendable, CustomStringConvertible {
    /// The file that failed to load.
    public var file: String
    /// The problems, in file order.
    public var diagnostics: [Diagnostic]
    /// The text of each file involved (the scenario and what it includes), for carets.
    public var sources: [String: String]

    /// Creates a load error.
    public init(file: String, diagnostics: [Diagnostic], sources: [String: String]) {
        self.file = file
        self.diagnostics = diagnostics
        self.sources = sources
    }

    /// Creates a load error about one file.
    public init(file: String, diagnostics: [Diagnostic], source: String?) {
        self.init(file: file, diagnostics: diagnostics, sources: source.map { [file: $0] } ?? [:])
    }

    /// All diagnostics rendered with their source lines.
    public var description: String {
        diagnostics.map { $0.rendered(source: $0.location.flatMap { sources[$0.file] }) }.joined()
    }
}
