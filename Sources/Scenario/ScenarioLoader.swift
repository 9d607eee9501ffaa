// SPDX-License-Identifier: Apache-2.0
import Foundation
internal import Yams

/// Reads scenario files into `Scenario` values, collecting every problem with its place.
public struct ScenarioLoader: Sendable {
    /// Checks a regular expression when the file is loaded; returns an error message and the
    /// byte offset in the pattern where it went wrong, or nil when the pattern is fine.
    public typealias PatternValidator = @Sendable (_ source: String, _ caseInsensitive: Bool) -> (message: String, offset: Int)?

    /// The pattern check; the runner passes PCRE2's compiler.
    public var validatePattern: PatternValidator?

    /// Creates a loader.
    public init(validatePattern: PatternValidator? = nil) {
        self.validatePattern = validatePattern
    }

    /// Loads one scenario file.
    ///
    /// - Parameter path: the file, as the user named it; relative paths inside the file are
    ///   resolved against its folder.
    /// - Returns: the scenario.
    /// - Throws: `ScenarioLoadError` with every problem found.
    public func load(path: String) throws(ScenarioLoadError) -> Scenario {
        let text: String
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard let decoded = String(data: data, encoding: .utf8) else {
                throw ScenarioLoadError(
                    file: path,
                    diagnostics: [Diagnostic(at: nil, "\(path): the file is not valid UTF-8")],
                    source: nil
                )
            }
            text = decoded
        } catch let error as ScenarioLoadError {
            throw error
        } catch {
            throw ScenarioLoadError(
                file: path,
                diagnostics: [Diagnostic(at: nil, "\(path): cannot read the file: \(error.localizedDescription)")],
                source: nil
            )
        }
        return try load(yaml: text, file: path)
    }

    /// Loads a scenario from text.
    ///
    /// - Parameters:
    ///   - yaml: the scenario's text.
    ///   - file: the path to report in diagnostics and to resolve relative paths against.
    /// - Returns: the scenario.
    /// - Throws: `ScenarioLoadError` with every problem found.
    public func load(yaml: String, file: String) throws(ScenarioLoadError) -> Scenario {
        var reader = NodeReader(file: file, validatePattern: validatePattern)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw ScenarioLoadError(file: file, diagnostics: [reader.diagnostic(for: error)], source: yaml)
        } catch {
            throw ScenarioLoadError(file: file, diagnostics: [Diagnostic(at: nil, "\(file): \(error)")], source: yaml)
        }
        guard let root else {
            throw ScenarioLoadError(
                file: file,
                diagnostics: [Diagnostic(at: SourceLocation(file: file, line: 1, column: 1), "the file is empty")],
                source: yaml
            )
        }
        let scenario = reader.scenario(root)
        if !reader.diagnostics.isEmpty {
            // File order, the way an editor lists them.
            let ordered = reader.diagnostics.enumerated().sorted { a, b in
                let l = a.element.location, r = b.element.location
                return (l?.line ?? 0, l?.column ?? 0, a.offset) < (r?.line ?? 0, r?.column ?? 0, b.offset)
            }.map(\.element)
            throw ScenarioLoadError(file: file, diagnostics: ordered, source: yaml)
        }
        return scenario
    }
}

// MARK: - Walking the node tree

/// Walks a composed YAML tree, building the model and collecting diagnostics.
private struct NodeReader {
    let file: String
    let validatePattern: ScenarioLoader.PatternValidator?
    var diagnostics: [Diagnostic] = []

    init(file: String, validatePattern: ScenarioLoader.PatternValidator?) {
        self.file = file
        self.validatePattern = validatePattern
    }

    /// The folder relative paths are resolved against.
    var baseDirectory: URL { URL(fileURLWithPath: file).deletingLastPathComponent() }

    func location(_ node: Node) -> SourceLocation {
        let mark = node.mark
        return SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    mutating func error(_ node: Node, _ message: String) {
        diagnostics.append(Diagnostic(at: location(node), message))
    }

    func diagnostic(for error: YamlError) -> Diagnostic {
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var message = "invalid YAML: \(problem)"
            if let context { message += " (\(context.text))" }
            return Diagnostic(at: SourceLocation(file: file, line: mark.line, column: mark.column), message)
        case .reader(let problem, let offset, _, _):
            return Diagnostic(at: nil, "\(file): cannot decode the file: \(problem) at byte \(offset ?? 0)")
        default:
            return Diagnostic(at: nil, "\(file): invalid YAML: \(error)")
        }
    }

    // MARK: Top level

    mutating func scenario(_ root: Node) -> Scenario {
        let fileName = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        var result = Scenario(file: file, name: fileName, steps: [])
        guard var map = mapping(root, what: "a scenario") else { return result }
        if let node = map.take("name"), let name = string(node) { result.name = name }
        if let node = map.take("description"), let text = string(node) { result.description = text }
        if let node = map.take("server") { result.server = server(node) }
        if let node = map.take("timeouts") { result.timeouts = timeouts(node) }
        if let node = map.take("steps") {
            if let items = sequence(node, what: "a list of steps") {
                result.steps = items.compactMap { step($0) }
                if items.isEmpty { error(node, "'steps' is empty: a scenario needs at least one step") }
            }
        } else {
            error(root, "missing 'steps': a scenario needs a list of steps")
        }
        finish(&map, allowed: ["name", "description", "server", "timeouts", "steps"], in: "a scenario")
        return result
    }

    mutating func server(_ node: Node) -> EmbeddedServer? {
        guard var map = mapping(node, what: "the embedded server") else { return nil }
        var proto: EmbeddedServer.ServerProtocol?
        if let p = map.take("protocol"), let name = string(p) {
            proto = EmbeddedServer.ServerProtocol(rawValue: name)
            if proto == nil {
                let names = EmbeddedServer.ServerProtocol.allCases.map(\.rawValue).joined(separator: ", ")
                error(p, "unknown server protocol '\(name)' (known: \(names))")
            }
        } else if map.node("protocol") == nil {
            error(node, "the embedded server needs 'protocol' (smtp)")
        }
        var server = EmbeddedServer(protocol: proto ?? .smtp, location: location(node))
        if let n = map.take("hostname"), let v = string(n) { server.hostname = v }
        if let n = map.take("starttls"), let v = bool(n) { server.starttls = v }
        if let n = map.take("certificate"), let v = path(n) { server.certificate = v }
        if let n = map.take("key"), let v = path(n) { server.key = v }
        if server.starttls && (server.certificate == nil || server.key == nil) {
            error(node, "the embedded server offers STARTTLS and needs 'certificate' and 'key' (or 'starttls: false')")
        }
        finish(&map, allowed: ["protocol", "hostname", "starttls", "certificate", "key"], in: "the embedded server")
        return proto == nil ? nil : server
    }

    mutating func timeouts(_ node: Node) -> Timeouts {
        var result = Timeouts()
        guard var map = mapping(node, what: "timeouts") else { return result }
        if let n = map.take("connect"), let v = duration(n) { result.connect = v }
        if let n = map.take("expect"), let v = duration(n) { result.expect = v }
        if let n = map.take("handshake"), let v = duration(n) { result.handshake = v }
        finish(&map, allowed: ["connect", "expect", "handshake"], in: "timeouts")
        return result
    }

    // MARK: Steps

    static let stepKeywords = ["connect", "send", "expect", "starttls", "assert", "close"]

    mutating func step(_ node: Node) -> Step? {
        guard let map = mapping(node, what: "a step") else { return nil }
        guard map.count == 1, let (keyNode, value) = map.pairs.first, let keyword = keyNode.scalar?.string else {
            let keys = map.pairs.compactMap { $0.0.scalar?.string }.joined(separator: ", ")
            error(node, "a step has exactly one keyword (\(Self.stepKeywords.joined(separator: ", "))); found: \(keys)")
            return nil
        }
        let at = location(node)
        switch keyword {
        case "connect": return connect(value).map { Step(.connect($0), at: at) }
        case "send": return send(value).map { Step(.send($0), at: at) }
        case "expect": return expect(value).map { Step(.expect($0), at: at) }
        case "starttls": return starttls(value).map { Step(.starttls($0), at: at) }
        case "assert": return assertion(value).map { Step(.assert($0), at: at) }
        case "close":
            if !isNull(value) { error(value, "'close' takes no value") }
            return Step(.close, at: at)
        default:
            error(keyNode, unknownKey(keyword, allowed: Self.stepKeywords, in: "a step"))
            return nil
        }
    }

    mutating func connect(_ node: Node) -> Step.Connect? {
        var result = Step.Connect()
        if isNull(node) { return result }
        guard var map = mapping(node, what: "'connect'") else { return nil }
        if let n = map.take("host"), let v = template(n) { result.host = v }
        if let n = map.take("port") { result.port = template(n) }
        if let n = map.take("timeout"), let v = duration(n) { result.timeout = v }
        if let n = map.take("tls") {
            if n.scalar != nil, !isNull(n) {
                if let on = bool(n) { result.tls = on ? TLSOptions() : nil }
            } else {
                result.tls = tlsOptions(n, what: "'tls'")
            }
        }
        finish(&map, allowed: ["host", "port", "timeout", "tls"], in: "'connect'")
        return result
    }

    mutating func send(_ node: Node) -> Step.Send? {
        if node.scalar != nil {
            guard let t = template(node) else { return nil }
            return Step.Send(data: t, appendCRLF: false)
        }
        guard var map = mapping(node, what: "'send' (a string, or a mapping with 'text' or 'line')") else { return nil }
        var result: Step.Send?
        let text = map.take("text")
        let line = map.take("line")
        switch (text, line) {
        case (let t?, nil): result = template(t).map { Step.Send(data: $0, appendCRLF: false) }
        case (nil, let l?): result = template(l).map { Step.Send(data: $0, appendCRLF: true) }
        case (_?, _?): error(node, "'send' takes either 'text' or 'line', not both")
        case (nil, nil): error(node, "'send' needs 'text' (sent as written) or 'line' (CRLF appended)")
        }
        finish(&map, allowed: ["text", "line"], in: "'send'")
        return result
    }

    mutating func expect(_ node: Node) -> Step.Expect? {
        if node.scalar != nil {
            return pattern(node, caseInsensitive: false).map { Step.Expect(pattern: $0) }
        }
        guard var map = mapping(node, what: "'expect' (a pattern, or a mapping with 'pattern')") else { return nil }
        let caseless = map.take("case-insensitive").flatMap { bool($0) } ?? false
        var result: Step.Expect?
        if let p = map.take("pattern") {
            result = pattern(p, caseInsensitive: caseless).map { Step.Expect(pattern: $0) }
        } else {
            error(node, "'expect' needs 'pattern'")
        }
        if let n = map.take("timeout"), let v = duration(n) { result?.timeout = v }
        finish(&map, allowed: ["pattern", "timeout", "case-insensitive"], in: "'expect'")
        return result
    }

    /// Reply framing and go-ahead test for SMTP (RFC 3207 §4): the last line of a reply is
    /// "NNN text", and 220 means go ahead.
    static let smtpReply = #"^[0-9]{3} [^\n]*\n"#
    static let smtpSuccess = #"^2[0-9]{2} "#

    mutating func starttls(_ node: Node) -> Step.StartTLS? {
        let at = location(node)
        var result = Step.StartTLS(
            command: Template("STARTTLS\r\n", at: at),
            reply: PatternSpec(Self.smtpReply, at: at),
            success: PatternSpec(Self.smtpSuccess, at: at),
            tls: TLSOptions()
        )
        if isNull(node) { return result }
        guard var map = mapping(node, what: "'starttls'") else { return nil }
        if let n = map.take("command"), let v = template(n) { result.command = v }
        if let n = map.take("reply"), let v = pattern(n, caseInsensitive: false) { result.reply = v }
        if let n = map.take("success"), let v = pattern(n, caseInsensitive: false) { result.success = v }
        if let n = map.take("timeout"), let v = duration(n) { result.timeout = v }
        if let n = map.take("handshake-timeout"), let v = duration(n) { result.handshakeTimeout = v }
        if let n = map.take("handshake"), let v = string(n) {
            switch v {
            case "succeed": result.expectFailure = false
            case "fail": result.expectFailure = true
            default: error(n, "'handshake' is 'succeed' or 'fail', not '\(v)'")
            }
        }
        let tlsKeys = Self.tlsKeys
        result.tls = readTLS(&map)
        finish(
            &map,
            allowed: ["command", "reply", "success", "timeout", "handshake-timeout", "handshake"] + tlsKeys,
            in: "'starttls'"
        )
        return result
    }

    static let tlsKeys = ["ca-file", "insecure", "server-name", "priority", "client-cert", "client-key", "alpn"]

    mutating func tlsOptions(_ node: Node, what: String) -> TLSOptions? {
        if isNull(node) { return TLSOptions() }
        guard var map = mapping(node, what: what) else { return nil }
        let options = readTLS(&map)
        finish(&map, allowed: Self.tlsKeys, in: what)
        return options
    }

    mutating func readTLS(_ map: inout MappingCursor) -> TLSOptions {
        var tls = TLSOptions()
        if let n = map.take("ca-file"), let v = path(n) { tls.caFile = v }
        if let n = map.take("insecure"), let v = bool(n) { tls.insecure = v }
        if let n = map.take("server-name"), let v = template(n) { tls.serverName = v }
        if let n = map.take("priority"), let v = string(n) { tls.priority = v }
        if let n = map.take("client-cert"), let v = path(n) { tls.clientCertificate = v }
        if let n = map.take("client-key"), let v = path(n) { tls.clientKey = v }
        if let n = map.take("alpn") {
            if n.scalar != nil, let v = string(n) {
                tls.alpn = [v]
            } else if let items = sequence(n, what: "a list of ALPN protocol names") {
                tls.alpn = items.compactMap { string($0) }
            }
        }
        return tls
    }

    mutating func assertion(_ node: Node) -> Step.Assertion? {
        guard var map = mapping(node, what: "'assert' (a mapping of facts)") else { return nil }
        var checks: [Step.Check] = []
        for (keyNode, value) in map.pairs {
            guard let key = keyNode.scalar?.string else { continue }
            let at = location(value)
            switch key {
            case "status":
                if let v = string(value) {
                    if ["open", "closed"].contains(v) {
                        checks.append(Step.Check(.status(v), at: at))
                    } else {
                        error(value, "'status' is 'open' or 'closed', not '\(v)'")
                    }
                }
            case "tls": if let v = bool(value) { checks.append(Step.Check(.tls(v), at: at)) }
            case "verified": if let v = bool(value) { checks.append(Step.Check(.verified(v), at: at)) }
            case "tls-version": if let v = string(value) { checks.append(Step.Check(.tlsVersion(v), at: at)) }
            case "discarded-bytes": if let v = int(value) { checks.append(Step.Check(.discardedBytes(v), at: at)) }
            default: continue
            }
            map.consumed.insert(key)
        }
        finish(&map, allowed: ["status", "tls", "verified", "tls-version", "discarded-bytes"], in: "'assert'")
        if checks.isEmpty && diagnostics.isEmpty { error(node, "'assert' has no checks") }
        return Step.Assertion(checks: checks)
    }

    // MARK: Values

    mutating func mapping(_ node: Node, what: String) -> MappingCursor? {
        guard let m = node.mapping else {
            error(node, "expected \(what) as a mapping, found \(kind(node))")
            return nil
        }
        var pairs: [(Node, Node)] = []
        var seen: [String: Node] = [:]
        for (k, v) in m {
            if let name = k.scalar?.string {
                if seen[name] != nil {
                    error(k, "duplicate key '\(name)'")
                    continue
                }
                seen[name] = k
            }
            pairs.append((k, v))
        }
        return MappingCursor(pairs: pairs)
    }

    mutating func sequence(_ node: Node, what: String) -> [Node]? {
        guard let s = node.sequence else {
            error(node, "expected \(what), found \(kind(node))")
            return nil
        }
        return Array(s)
    }

    mutating func string(_ node: Node) -> String? {
        guard let s = node.scalar else {
            error(node, "expected a string, found \(kind(node))")
            return nil
        }
        return s.string
    }

    mutating func template(_ node: Node) -> Template? {
        if let s = node.scalar { return Template(s.string, at: location(node)) }
        error(node, "expected a string, found \(kind(node))")
        return nil
    }

    mutating func path(_ node: Node) -> String? {
        guard let raw = string(node) else { return nil }
        if raw.hasPrefix("/") { return raw }
        return baseDirectory.appendingPathComponent(raw).standardizedFileURL.path
    }

    mutating func bool(_ node: Node) -> Bool? {
        if let s = node.scalar, s.style == .plain, let v = node.bool { return v }
        error(node, "expected true or false, found \(kind(node))")
        return nil
    }

    mutating func int(_ node: Node) -> Int? {
        if let s = node.scalar, s.style == .plain, let v = node.int { return v }
        error(node, "expected a whole number, found \(kind(node))")
        return nil
    }

    /// A duration: a number of seconds, or a string with a unit (`250ms`, `5s`, `2m`).
    mutating func duration(_ node: Node) -> Duration? {
        guard let s = node.scalar else {
            error(node, "expected a duration (seconds, or a string like '500ms', '5s', '2m'), found \(kind(node))")
            return nil
        }
        let text = s.string.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
        var value: Double?
        if let number = Double(text) {
            value = number
        } else {
            for (suffix, scale) in units where text.hasSuffix(suffix) {
                if let number = Double(text.dropLast(suffix.count)) {
                    value = number * scale
                    break
                }
            }
        }
        guard let value, value.isFinite, value > 0 else {
            error(node, "'\(text)' is not a positive duration (seconds, or a string like '500ms', '5s', '2m')")
            return nil
        }
        return .milliseconds(Int64((value * 1000).rounded()))
    }

    mutating func pattern(_ node: Node, caseInsensitive: Bool) -> PatternSpec? {
        guard let source = string(node) else { return nil }
        let spec = PatternSpec(source, caseInsensitive: caseInsensitive, at: location(node))
        if let validatePattern, let problem = validatePattern(source, caseInsensitive) {
            var at = spec.location
            // Point at the character PCRE2 rejected when the scalar is plain or single-quoted on
            // one line, where a pattern byte maps to one column (for ASCII text).
            if let scalar = node.scalar, !source.contains("\n"), source.utf8.count == source.unicodeScalars.count {
                switch scalar.style {
                case .plain: at.column += problem.offset
                case .singleQuoted where !source.contains("'"): at.column += problem.offset + 1
                default: break
                }
            }
            diagnostics.append(Diagnostic(at: at, "bad regular expression \(quoted(source)): \(problem.message) (at offset \(problem.offset))"))
            return nil
        }
        return spec
    }

    func isNull(_ node: Node) -> Bool {
        guard let s = node.scalar else { return false }
        return s.style == .plain && (s.string.isEmpty || s.string == "~" || s.string == "null")
    }

    func kind(_ node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar(let s): s.string.isEmpty ? "nothing" : "'\(s.string)'"
        case .alias: "an alias"
        }
    }

    mutating func finish(_ map: inout MappingCursor, allowed: [String], in what: String) {
        for (keyNode, _) in map.pairs {
            guard let key = keyNode.scalar?.string else {
                error(keyNode, "keys in \(what) must be strings")
                continue
            }
            if !map.consumed.contains(key) && !allowed.contains(key) {
                error(keyNode, unknownKey(key, allowed: allowed, in: what))
            }
        }
    }

    func unknownKey(_ key: String, allowed: [String], in what: String) -> String {
        var message = "unknown key '\(key)' in \(what)"
        if let near = nearest(key, in: allowed) { message += "; did you mean '\(near)'?" }
        return message + " (allowed: \(allowed.joined(separator: ", ")))"
    }
}

/// The pairs of a mapping and which keys have been read.
private struct MappingCursor {
    var pairs: [(Node, Node)]
    var consumed: Set<String> = []

    var count: Int { pairs.count }

    func node(_ key: String) -> Node? {
        pairs.first { $0.0.scalar?.string == key }?.1
    }

    mutating func take(_ key: String) -> Node? {
        guard let value = node(key) else { return nil }
        consumed.insert(key)
        return value
    }
}

/// The allowed word closest to `word`, when it is close enough to be a likely typo.
func nearest(_ word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word, $0)) }.min { $0.1 < $1.1 }
    guard let (best, distance) = scored else { return nil }
    return distance <= max(2, word.count / 3) ? best : nil
}

/// The Levenshtein distance between two strings, counted in characters.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
