// SPDX-License-Identifier: Apache-2.0
internal import CPCRE2

/// A compiled PCRE2 regular expression that matches bytes, not characters.
///
/// The pattern runs in PCRE2's 8-bit, non-UTF mode with LF as the newline convention, so every
/// byte is one code unit: "\r\n" is two bytes, `\r$` in multiline mode matches the CR before an
/// LF, and data that is not UTF-8 (or contains NUL bytes) is matched as it is. The pattern source
/// itself is compiled from its UTF-8 bytes, so a non-ASCII character in the pattern matches its
/// UTF-8 encoding; `\xHH` matches any single byte.
///
/// Compiled code is JIT-compiled for complete and hard-partial matching when the platform allows
/// it, and falls back to PCRE2's interpreter otherwise. Copies share one compiled pattern, which
/// is freed with the last copy.
public struct BytePattern: Sendable {
    /// Compile options.
    public struct Options: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32

        /// Creates options from their raw bits.
        public init(rawValue: UInt32) {
            self.rawValue = rawValue
        }

        /// Letters match in either case (ASCII only, as the pattern is not in UTF mode).
        public static let caseInsensitive = Options(rawValue: 1 << 0)
        /// `^` and `$` match at line starts and line ends (LF), not only at the subject's ends.
        public static let multiline = Options(rawValue: 1 << 1)
        /// `.` also matches LF.
        public static let dotAll = Options(rawValue: 1 << 2)
        /// White space and `#` comments in the pattern are ignored.
        public static let extended = Options(rawValue: 1 << 3)

        /// The PCRE2 compile flags for these options.
        var pcre2Flags: UInt32 {
            var flags: UInt32 = 0
            if contains(.caseInsensitive) { flags |= UInt32(PCRE2_CASELESS) }
            if contains(.multiline) {
                // ALT_CIRCUMFLEX lets `^` match after a newline that ends the data so far. Without
                // it, PCRE2 refuses `^` at the end of the subject even in partial mode, so a
                // pattern like `(?:^NNN [^\n]*\n){4}` over a stream that has received one line
                // would be "no match" instead of "partial", and its bytes would be dropped.
                flags |= UInt32(PCRE2_MULTILINE) | UInt32(PCRE2_ALT_CIRCUMFLEX)
            }
            if contains(.dotAll) { flags |= UInt32(PCRE2_DOTALL) }
            if contains(.extended) { flags |= UInt32(PCRE2_EXTENDED) }
            return flags
        }
    }

    /// The compiled code, shared by copies.
    let compiled: CompiledPattern

    /// The pattern source as given.
    public let source: String

    /// The options the pattern was compiled with.
    public let options: Options

    /// Compiles a pattern.
    ///
    /// - Parameters:
    ///   - pattern: PCRE2 pattern syntax.
    ///   - options: compile options.
    /// - Throws: ``PatternError`` carrying PCRE2's message and the byte offset in the pattern
    ///   where PCRE2 stopped.
    public init(_ pattern: String, options: Options = []) throws(PatternError) {
        self.compiled = try CompiledPattern(pattern: pattern, flags: options.pcre2Flags)
        self.source = pattern
        self.options = options
    }

    /// The number of capture groups, not counting the whole match.
    public var captureCount: Int { compiled.captureCount }

    /// Index i holds the name of capture group i+1, or nil when that group has no name.
    public var captureNames: [String?] { compiled.captureNames }

    /// The longest lookbehind assertion of the pattern, in bytes (0 when there is none).
    public var maxLookbehind: Int { compiled.maxLookbehind }

    /// Capture name -> group index (the first group when a name is used twice).
    var nameIndex: [String: Int] {
        var index: [String: Int] = [:]
        for (offset, name) in captureNames.enumerated() {
            if let name, index[name] == nil {
                index[name] = offset + 1
            }
        }
        return index
    }

    /// Searches a whole byte array once (no partial matching: the end of `bytes` is the end of
    /// the data).
    ///
    /// - Parameters:
    ///   - bytes: the subject.
    ///   - offset: where the search starts; bytes before it are still visible to `^` (multiline)
    ///     and lookbehind.
    /// - Returns: the leftmost match at or after `offset`, or nil when there is none, when
    ///   `offset` is outside `0...bytes.count`, or when PCRE2 gives up (match or depth limit).
    public func firstMatch(in bytes: [UInt8], from offset: Int = 0) -> PatternMatch? {
        guard offset >= 0, offset <= bytes.count else { return nil }
        let outcome = bytes.withUnsafeBufferPointer { compiled.match($0, startOffset: offset, partial: false) }
        guard case .matched(let groups) = outcome, let whole = groups[0] else { return nil }
        return PatternMatch(range: whole, groups: groups)
    }
}

// MARK: - CustomStringConvertible

extension BytePattern: CustomStringConvertible {
    /// The pattern in `/source/flags` form, flags as in Perl (`i`, `m`, `s`, `x`).
    public var description: String {
        var flags = ""
        if options.contains(.caseInsensitive) { flags += "i" }
        if options.contains(.multiline) { flags += "m" }
        if options.contains(.dotAll) { flags += "s" }
        if options.contains(.extended) { flags += "x" }
        return "/\(source)/\(flags)"
    }
}
