// SPDX-License-Identifier: Apache-2.0

/// A place in a scenario file: the file's path and a 1-based line and column.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    /// The path of the file as the user named it.
    public var file: String
    /// The 1-based line number.
    public var line: Int
    /// The 1-based column number, counted in Unicode scalars as libyaml does.
    public var column: Int

    /// Creates a location.
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:col`, the form editors and CI annotations understand.
    public var description: String { "\(file):\(line):\(column)" }
}
