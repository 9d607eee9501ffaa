// SPDX-License-Identifier: Apache-2.0

/// A pattern that PCRE2 refused to compile.
public struct PatternError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The pattern source as given.
    public var pattern: String
    /// PCRE2's own message, for example "missing closing parenthesis".
    public var message: String
    /// The byte offset in the pattern's UTF-8 where PCRE2 stopped.
    public var offset: Int

    /// Creates an error value.
    ///
    /// - Parameters:
    ///   - pattern: the pattern source.
    ///   - message: PCRE2's message.
    ///   - offset: the byte offset in the pattern where PCRE2 stopped.
    public init(pattern: String, message: String, offset: Int) {
        self.pattern = pattern
        self.message = message
        self.offset = offset
    }

    /// "invalid pattern \"ab(c\" at offset 4: missing closing parenthesis".
    public var description: String {
        "invalid pattern \"\(pattern)\" at offset \(offset): \(message)"
    }
}
