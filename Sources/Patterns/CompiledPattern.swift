// SPDX-License-Identifier: Apache-2.0
internal import CPCRE2

/// The result of one `pcre2_match` call, in the subject's own offsets.
enum MatchOutcome: Equatable {
    /// A complete match; element 0 is the whole match, then one element per capture group
    /// (`nil` for a group that did not take part).
    case matched([Range<Int>?])
    /// A partial match (only with `PCRE2_PARTIAL_HARD`) that starts at this offset and runs to the
    /// end of the subject.
    case partial(start: Int)
    /// No match, and (when partial matching was asked for) no partial match either.
    case noMatch
    /// PCRE2 gave up (match limit, depth limit, JIT stack, ...); carries the PCRE2 error code.
    case failed(Int32)
}

/// Owns one compiled `pcre2_code` and frees it when the last `BytePattern` copy goes away.
///
/// A compiled (and JIT-compiled) pattern is read-only during matching, and PCRE2 documents it as
/// safe to use from several threads at once; what must not be shared is match data, which
/// ``match(_:startOffset:partial:)`` allocates per call. Hence `@unchecked Sendable`.
final class CompiledPattern: @unchecked Sendable {
    /// The compiled code; never nil, freed in `deinit`.
    let code: OpaquePointer
    /// Number of capture groups (not counting group 0).
    let captureCount: Int
    /// Index i holds the name of group i+1, or nil when that group is unnamed.
    let captureNames: [String?]
    /// The longest lookbehind of the pattern, in bytes (the library runs in 8-bit, non-UTF mode).
    let maxLookbehind: Int
    /// Whether `pcre2_jit_compile` succeeded; informational (PCRE2 falls back to the interpreter
    /// by itself when JIT code is missing for a mode).
    let isJITCompiled: Bool

    /// Compiles `pattern` as 8-bit, non-UTF PCRE2 code with LF as the newline convention.
    ///
    /// - Parameters:
    ///   - pattern: the regular expression source, compiled from its UTF-8 bytes.
    ///   - flags: PCRE2 compile options (`PCRE2_CASELESS`, ...).
    /// - Throws: ``PatternError`` with PCRE2's message and the byte offset where it stopped.
    init(pattern: String, flags: UInt32) throws(PatternError) {
        let context = cpcre2_compile_context_create()
        defer { cpcre2_compile_context_free(context) }
        // The newline convention is a build-time choice of the PCRE2 library; pin it to LF so that
        // `$` and `^` mean the same on every machine, and "\r\n" stays two separate bytes.
        _ = cpcre2_set_newline(context, UInt32(PCRE2_NEWLINE_LF))

        var errorCode: Int32 = 0
        var errorOffset = 0
        let source = Array(pattern.utf8)
        let compiled = source.withUnsafeBufferPointer { buffer in
            // An empty pattern has no base address; PCRE2 wants a real pointer even for length 0.
            withUnsafePointer(to: UInt8(0)) { empty in
                cpcre2_compile(buffer.baseAddress ?? empty, buffer.count, flags, &errorCode, &errorOffset, context)
            }
        }
        guard let compiled else {
            throw PatternError(pattern: pattern, message: Self.errorMessage(errorCode), offset: errorOffset)
        }
        self.code = compiled
        // Both modes are compiled up front: complete matching for `atEnd`/one-shot searches and
        // hard partial matching for the incremental stream search.
        self.isJITCompiled =
            cpcre2_jit_compile(compiled, UInt32(PCRE2_JIT_COMPLETE) | UInt32(PCRE2_JIT_PARTIAL_HARD)) == 0
        self.captureCount = Int(Self.info(compiled, PCRE2_INFO_CAPTURECOUNT))
        self.maxLookbehind = Int(Self.info(compiled, PCRE2_INFO_MAXLOOKBEHIND))
        self.captureNames = Self.names(compiled, captureCount: captureCount)
    }

    deinit {
        cpcre2_code_free(code)
    }

    /// Reads one `uint32_t` item of `pcre2_pattern_info`.
    private static func info(_ code: OpaquePointer, _ what: Int32) -> UInt32 {
        var value: UInt32 = 0
        _ = cpcre2_pattern_info(code, UInt32(what), &value)
        return value
    }

    /// Decodes PCRE2's name table into a per-group array of names.
    ///
    /// Each table entry is a big-endian 16-bit group number followed by the NUL-terminated name,
    /// padded to `PCRE2_INFO_NAMEENTRYSIZE` bytes.
    private static func names(_ code: OpaquePointer, captureCount: Int) -> [String?] {
        var names = [String?](repeating: nil, count: captureCount)
        let count = Int(info(code, PCRE2_INFO_NAMECOUNT))
        let entrySize = Int(info(code, PCRE2_INFO_NAMEENTRYSIZE))
        guard count > 0, entrySize > 2 else { return names }
        var table: UnsafePointer<UInt8>? = nil
        _ = cpcre2_pattern_info(code, UInt32(PCRE2_INFO_NAMETABLE), &table)
        guard let table else { return names }
        for entry in 0..<count {
            let base = table + entry * entrySize
            let group = Int(base[0]) << 8 | Int(base[1])
            let nameBytes = UnsafeBufferPointer(start: base + 2, count: entrySize - 2).prefix { $0 != 0 }
            if group >= 1, group <= captureCount {
                names[group - 1] = String(decoding: nameBytes, as: UTF8.self)
            }
        }
        return names
    }

    /// PCRE2's text for a compile or match error code.
    static func errorMessage(_ code: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = cpcre2_get_error_message(code, &buffer, buffer.count)
        guard length > 0 else { return "PCRE2 error \(code)" }
        return String(decoding: buffer.prefix(Int(length)), as: UTF8.self)
    }

    /// Runs `pcre2_match` over `subject` starting at `startOffset`.
    ///
    /// Bytes before `startOffset` are part of the subject, so `^` in multiline mode and lookbehind
    /// assertions see them, but no match starts there.
    ///
    /// - Parameters:
    ///   - subject: the bytes to search.
    ///   - startOffset: where the search starts, `0...subject.count`.
    ///   - partial: ask for `PCRE2_PARTIAL_HARD`: a match that reaches the end of the subject and
    ///     could change with more bytes is reported as `.partial` instead of as a match.
    /// - Returns: the outcome in subject offsets.
    func match(_ subject: UnsafeBufferPointer<UInt8>, startOffset: Int, partial: Bool) -> MatchOutcome {
        guard let data = cpcre2_match_data_create_from_pattern(code) else { return .failed(PCRE2_ERROR_NOMEMORY) }
        defer { cpcre2_match_data_free(data) }
        let flags: UInt32 = partial ? UInt32(PCRE2_PARTIAL_HARD) : 0
        let rc = withUnsafePointer(to: UInt8(0)) { empty in
            let base = subject.baseAddress ?? empty
            var rc = cpcre2_match(code, base, subject.count, startOffset, flags, data, nil)
            if rc == PCRE2_ERROR_JIT_STACKLIMIT {
                // The default JIT stack is 32 KiB, which deeply backtracking patterns over long
                // subjects can exhaust. Retry once with a larger private stack rather than report
                // a false "no match".
                rc = matchWithLargeJITStack(base, subject.count, startOffset, flags, data)
            }
            return rc
        }
        let ovector = cpcre2_get_ovector_pointer(data)!
        if rc == PCRE2_ERROR_PARTIAL {
            return .partial(start: ovector[0])
        }
        if rc == PCRE2_ERROR_NOMATCH {
            return .noMatch
        }
        if rc < 0 {
            return .failed(rc)
        }
        let unset = cpcre2_unset()
        // rc is one more than the highest group that was set (0 would mean the ovector is too
        // small, which cannot happen with match data sized from the pattern).
        let setPairs = rc == 0 ? Int(cpcre2_get_ovector_count(data)) : Int(rc)
        var groups = [Range<Int>?](repeating: nil, count: captureCount + 1)
        for index in 0..<min(setPairs, captureCount + 1) {
            let start = ovector[2 * index]
            let end = ovector[2 * index + 1]
            guard start != unset, end != unset else { continue }
            // \K inside a lookahead could report start > end; clamp rather than trap.
            groups[index] = min(start, end)..<end
        }
        return .matched(groups)
    }

    /// Repeats a match with a JIT stack of up to 8 MiB, created for this call only.
    private func matchWithLargeJITStack(
        _ subject: UnsafePointer<UInt8>,
        _ length: Int,
        _ startOffset: Int,
        _ flags: UInt32,
        _ data: OpaquePointer
    ) -> Int32 {
        guard let context = cpcre2_match_context_create() else { return PCRE2_ERROR_NOMEMORY }
        defer { cpcre2_match_context_free(context) }
        guard let stack = cpcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024) else { return PCRE2_ERROR_NOMEMORY }
        defer { cpcre2_jit_stack_free(stack) }
        cpcre2_jit_stack_assign(context, stack)
        return cpcre2_match(code, subject, length, startOffset, flags, data, context)
    }
}
