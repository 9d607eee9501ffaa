// SPDX-License-Identifier: Apache-2.0

/// The `_mta-sts.DOMAIN` TXT record (RFC 8461 §3.1): `v=STSv1; id=20261207T000000;`.
public struct MTASTSRecord: Sendable, Hashable {
    /// The policy's id: 1 to 32 letters and digits; a sender fetches the policy again when it changes.
    public var id: String
    /// Fields other than `v` and `id`, by name as written.
    public var extensions: [String: String]

    /// The longest record text accepted.
    public static let maximumSize = 4096

    /// A record with these fields.
    public init(id: String, extensions: [String: String] = [:]) {
        self.id = id
        self.extensions = extensions
    }

    /// Parses one TXT record's text (its character-strings joined), RFC 8461 §3.1:
    /// `sts-version 1*(*WSP ";" *WSP sts-field) [";"]`, the version `v=STSv1` first (case
    /// sensitive), `id` required (`1*32(ALPHA / DIGIT)`), extension values visible ASCII except
    /// ";" and "=", no field given twice.
    ///
    /// - Parameter text: the record's bytes.
    /// - Returns: the record.
    /// - Throws: ``PolicyError`` naming the field ("MTA-STS record: field 2: id '2026-12' is not 1 to
    ///   32 letters and digits").
    public static func parse(_ text: [UInt8]) throws(PolicyError) -> MTASTSRecord {
        let what = "MTA-STS record"
        let fields = try PolicyBytes.recordFields(text, what: what, version: "v=STSv1", maximumSize: maximumSize)
        var id: String?
        var extensions: [String: String] = [:]
        for field in fields {
            let name = PolicyBytes.string(field.name)
            if name == "id" {
                guard (1...32).contains(field.value.count), field.value.allSatisfy(PolicyBytes.isAlphaNumeric) else {
                    throw PolicyError(
                        "\(what): field \(field.number): id \(PolicyBytes.quote(field.value)) is not 1 to 32 letters and digits",
                        field: "id"
                    )
                }
                id = PolicyBytes.string(field.value)
            } else {
                extensions[name] = try PolicyBytes.extensionValue(field, name: name, what: what)
            }
        }
        guard let id else {
            throw PolicyError("\(what): no id field", field: "id")
        }
        return MTASTSRecord(id: id, extensions: extensions)
    }

    /// Chooses among the TXT records at `_mta-sts.DOMAIN` (RFC 8461 §3.1): records that do not
    /// start with `v=STSv1` are discarded; none left means no policy, several are an error, and the
    /// one left must parse.
    ///
    /// - Parameter records: each record's text (its character-strings joined).
    /// - Returns: the record, or nil when no record starts with `v=STSv1`.
    /// - Throws: ``PolicyError`` when several records start with `v=STSv1` or the one does not parse.
    public static func select(_ records: [[UInt8]]) throws(PolicyError) -> MTASTSRecord? {
        guard let record = try PolicyBytes.selectOne(records, what: "MTA-STS record", version: "v=STSv1") else {
            return nil
        }
        return try parse(record)
    }
}

/// An MTA-STS policy file, `https://mta-sts.DOMAIN/.well-known/mta-sts.txt` (RFC 8461 §3.2).
public struct MTASTSPolicy: Sendable, Hashable {
    /// What a sender does when an MX host fails the policy.
    public enum Mode: String, Sendable, Hashable {
        /// Do not deliver to an MX host that fails.
        case enforce
        /// Deliver anyway, and report (TLS-RPT).
        case testing
        /// No policy: the domain is withdrawing it.
        case none
    }

    /// "STSv1".
    public var version: String
    /// The policy's mode.
    public var mode: Mode
    /// The MX host patterns, as written, lower-cased ("mail.example.com", "*.example.net").
    public var mx: [String]
    /// How long a sender may cache the policy, in seconds, 0 ... 31557600.
    public var maxAge: Int
    /// Fields other than version, mode, mx and max_age, by name, the first value of each.
    public var extensions: [String: String]

    /// The largest policy file accepted, in bytes (RFC 8461 §3.3 lets senders bound it; 64 KiB).
    public static let maximumSize = 65536
    /// The largest max_age (RFC 8461 §3.2: about one year).
    public static let maximumMaxAge = 31_557_600

    /// A policy with these fields.
    public init(version: String = "STSv1", mode: Mode, mx: [String], maxAge: Int, extensions: [String: String] = [:]) {
        self.version = version
        self.mode = mode
        self.mx = mx
        self.maxAge = maxAge
        self.extensions = extensions
    }

    /// Parses a policy file (RFC 8461 §3.2): `key: value` lines ended by CRLF or LF (the last
    /// one may be unended), optional WSP after the colon and at the end of a line, field names
    /// case sensitive (the mode's value is not), blank lines skipped, unknown fields kept in ``extensions``. version (exactly
    /// `STSv1`), mode and max_age are required once each; mx is required unless mode is none, and
    /// may be repeated. At most ``maximumSize`` bytes.
    ///
    /// - Parameter body: the file's bytes.
    /// - Returns: the policy.
    /// - Throws: ``PolicyError`` naming the line ("policy line 3: mode 'enforcing' is not enforce,
    ///   testing or none").
    public static func parse(_ body: [UInt8]) throws(PolicyError) -> MTASTSPolicy {
        guard body.count <= maximumSize else {
            throw PolicyError("policy: \(body.count) bytes, more than the \(maximumSize) allowed")
        }
        var lines = PolicyBytes.split(body[...], on: PolicyBytes.lf)
        if lines.count > 1, lines.last?.isEmpty == true { lines.removeLast() }  // the final line end

        var version: (value: String, line: Int)?
        var mode: (value: Mode, line: Int)?
        var maxAge: (value: Int, line: Int)?
        var mx: [String] = []
        var extensions: [String: String] = [:]
        var misspelled: [String: Int] = [:]  // "Mode" on line 2, to explain a missing mode

        for (index, rawLine) in lines.enumerated() {
            let number = index + 1
            var line = rawLine
            if line.last == PolicyBytes.cr { line = line.dropLast() }
            func fail(_ message: String, field: String? = nil) -> PolicyError {
                PolicyError("policy line \(number): \(message)", line: number, field: field)
            }
            if let bad = line.first(where: { ($0 < 0x20 && $0 != PolicyBytes.tab) || $0 == 0x7F }) {
                let what = bad == PolicyBytes.cr ? "a CR that does not end the line" : "the control byte \(PolicyBytes.quote([bad]))"
                throw fail("\(what) in \(PolicyBytes.quote(line))")
            }
            if PolicyBytes.trimmed(line).isEmpty { continue }
            guard let colon = line.firstIndex(of: PolicyBytes.colon) else {
                throw fail("\(PolicyBytes.quote(line)) is not 'key: value'")
            }
            let key = line[..<colon]
            let value = PolicyBytes.trimmed(line[(colon + 1)...])
            guard PolicyBytes.isExtensionName(key) else {
                let spaced = key.contains(where: PolicyBytes.isWSP)
                throw fail(
                    "\(PolicyBytes.quote(key)) is not a field name"
                        + (spaced ? " (no space is allowed before the ':' or at the start of a line)" : "")
                )
            }
            let name = PolicyBytes.string(key)
            guard let text = String(validating: Array(value), as: UTF8.self) else {
                throw fail("the value of \(name) is not UTF-8", field: name)
            }
            switch name {
            case "version":
                if let first = version { throw fail("version given again (first on line \(first.line))", field: name) }
                guard text == "STSv1" else { throw fail("version \(PolicyBytes.quote(value)) is not STSv1", field: name) }
                version = (text, number)
            case "mode":
                if let first = mode { throw fail("mode given again (first on line \(first.line))", field: name) }
                guard let parsed = Mode(rawValue: PolicyBytes.string(PolicyBytes.lowercased(value))) else {
                    throw fail("mode \(PolicyBytes.quote(value)) is not enforce, testing or none", field: name)
                }
                mode = (parsed, number)
            case "max_age":
                if let first = maxAge { throw fail("max_age given again (first on line \(first.line))", field: name) }
                guard (1...10).contains(value.count), value.allSatisfy(PolicyBytes.isDigit), let seconds = Int(text) else {
                    throw fail("max_age \(PolicyBytes.quote(value)) is not a number of seconds (1 to 10 digits)", field: name)
                }
                guard seconds <= maximumMaxAge else {
                    throw fail("max_age \(seconds) is more than \(maximumMaxAge) (about a year)", field: name)
                }
                maxAge = (seconds, number)
            case "mx":
                if let problem = mxPatternProblem(value) {
                    throw fail("mx \(PolicyBytes.quote(value)) \(problem)", field: name)
                }
                mx.append(PolicyBytes.string(PolicyBytes.lowercased(value)))
            default:
                if let known = ["version", "mode", "max_age", "mx"].first(where: { $0 == name.lowercased() }),
                    misspelled[known] == nil
                {
                    misspelled[known] = number
                }
                if extensions[name] == nil { extensions[name] = text }
            }
        }

        func missing(_ field: String) -> PolicyError {
            var message = "policy: no \(field) field"
            if let line = misspelled[field] {
                message += " (line \(line) has it in other letters: field names are case sensitive)"
            }
            return PolicyError(message, field: field)
        }
        guard let version else { throw missing("version") }
        guard let mode else { throw missing("mode") }
        guard let maxAge else { throw missing("max_age") }
        if mx.isEmpty && mode.value != .none {
            var error = missing("mx")
            error.description = "policy: mode \(mode.value.rawValue) (line \(mode.line)) needs at least one mx field"
            if let line = misspelled["mx"] { error.description += " (line \(line) has it in other letters)" }
            throw error
        }
        return MTASTSPolicy(version: version.value, mode: mode.value, mx: mx, maxAge: maxAge.value, extensions: extensions)
    }

    /// Why `value` is not an mx pattern (`["*."] Domain`, RFC 8461 §3.2 with RFC 5321's Domain:
    /// labels of letters, digits and hyphens, not starting or ending with a hyphen, 1 to 63
    /// bytes, 253 in all; one trailing dot tolerated), or nil when it is one.
    static func mxPatternProblem(_ value: ArraySlice<UInt8>) -> String? {
        var domain = value
        if domain.starts(with: [PolicyBytes.star, PolicyBytes.dot]) { domain = domain.dropFirst(2) }
        if domain.last == PolicyBytes.dot { domain = domain.dropLast() }
        guard !domain.isEmpty else { return "is empty" }
        guard domain.count <= 253 else { return "is longer than 253 bytes" }
        if domain.contains(PolicyBytes.star) { return "has a '*' that is not the whole leftmost label of '*.'" }
        if domain.contains(where: { $0 >= 0x80 }) { return "is not ASCII (write an internationalised name as A-labels, xn--…)" }
        for label in PolicyBytes.split(domain, on: PolicyBytes.dot) {
            guard !label.isEmpty else { return "has an empty label" }
            guard label.count <= 63 else { return "has a label longer than 63 bytes" }
            guard label.allSatisfy({ PolicyBytes.isAlphaNumeric($0) || $0 == PolicyBytes.hyphen }) else {
                return "has a label with characters other than letters, digits and '-'"
            }
            if label.first == PolicyBytes.hyphen || label.last == PolicyBytes.hyphen {
                return "has a label that starts or ends with '-'"
            }
        }
        return nil
    }

    /// The first mx pattern that covers `host` (RFC 8461 §4.1): the same name, or `*.` and a name
    /// that `host` has exactly one more leftmost label than. Case does not matter, and a trailing
    /// dot (on the host or the pattern) is ignored.
    ///
    /// - Parameter host: an MX host name ("mx1.example.com.").
    /// - Returns: the pattern as in ``mx``, or nil when none covers the host.
    public func pattern(covering host: String) -> String? {
        var name = PolicyBytes.lowercased(host.utf8)[...]
        if name.last == PolicyBytes.dot { name = name.dropLast() }
        guard !name.isEmpty else { return nil }
        for pattern in mx {
            var wanted = PolicyBytes.lowercased(pattern.utf8)[...]
            if wanted.last == PolicyBytes.dot { wanted = wanted.dropLast() }
            if wanted.starts(with: [PolicyBytes.star, PolicyBytes.dot]) {
                let suffix = wanted.dropFirst(1)  // ".example.com"
                guard name.count > suffix.count, name.hasSuffix(suffix) else { continue }
                let label = name.dropLast(suffix.count)
                if !label.isEmpty && !label.contains(PolicyBytes.dot) { return pattern }
            } else if name.elementsEqual(wanted) {
                return pattern
            }
        }
        return nil
    }

    /// Whether an mx pattern covers `host` (see ``pattern(covering:)``).
    public func covers(_ host: String) -> Bool {
        pattern(covering: host) != nil
    }
}

extension ArraySlice where Element == UInt8 {
    /// Whether the slice ends with `suffix`.
    fileprivate func hasSuffix(_ suffix: ArraySlice<UInt8>) -> Bool {
        count >= suffix.count && self.suffix(suffix.count).elementsEqual(suffix)
    }
}
