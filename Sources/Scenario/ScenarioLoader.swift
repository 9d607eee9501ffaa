// SPDX-License-Identifier: Apache-2.0
import Foundation
internal import Yams

/// Reads scenario files into `Scenario` values, collecting every problem with its place.
public struct ScenarioLoader: Sendable {
    /// Checks a regular expression when the file is loaded; returns an error message and the
    /// byte offset in the pattern where it went wrong, or nil when the pattern is fine.
    public typealias PatternValidator = @Sendable (_ source: String, _ caseInsensitive: Bool) -> (message: String, offset: Int)?

    /// Checks an embedded server's fault knob (`NAME` or `NAME=VALUE`); returns what is wrong,
    /// or nil when the knob is fine.
    public typealias FaultValidator = @Sendable (_ knob: String) -> String?

    /// The pattern check; the runner passes PCRE2's compiler.
    public var validatePattern: PatternValidator?
    /// The fault-knob check; the runner passes the fake servers' parser.
    public var validateFault: FaultValidator?

    /// Creates a loader.
    public init(validatePattern: PatternValidator? = nil, validateFault: FaultValidator? = nil) {
        self.validatePattern = validatePattern
        self.validateFault = validateFault
    }

    /// Loads one scenario file.
    ///
    /// - Parameter path: the file, as the user named it; relative paths inside the file are
    ///   resolved against its folder.
    /// - Returns: the scenario.
    /// - Throws: `ScenarioLoadError` with every problem found.
    public func load(path: String) throws(ScenarioLoadError) -> Scenario {
        let text = try Self.read(path)
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
        reader.validateFault = validateFault
        reader.sources[file] = yaml
        let scenario = reader.scenario(yaml: yaml)
        if !reader.diagnostics.isEmpty {
            // File order, the way an editor lists them; the scenario's own file first.
            let ordered = reader.diagnostics.enumerated().sorted { a, b in
                let l = a.element.location
                let r = b.element.location
                let lf = l?.file == file ? "" : (l?.file ?? "")
                let rf = r?.file == file ? "" : (r?.file ?? "")
                return (lf, l?.line ?? 0, l?.column ?? 0, a.offset) < (rf, r?.line ?? 0, r?.column ?? 0, b.offset)
            }.map(\.element)
            throw ScenarioLoadError(file: file, diagnostics: ordered, sources: reader.sources)
        }
        return scenario
    }

    /// The text of a file, or a load error that says why it cannot be read.
    static func read(_ path: String) throws(ScenarioLoadError) -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? error.localizedDescription
            throw ScenarioLoadError(file: path, diagnostics: [Diagnostic(at: nil, "\(path): cannot read the file: \(reason)")], source: nil)
        }
        // The first byte that is not UTF-8, at its line and column; the characters YAML forbids
        // are found when the text is composed, for text handed to `load(yaml:file:)` too.
        let bytes = [UInt8](data)
        if let problem = SourceBytes.firstProblem(in: bytes, checkingCharacters: false) {
            let at = SourceLocation(file: path, line: problem.line, column: problem.column)
            throw ScenarioLoadError(
                file: path, diagnostics: [Diagnostic(at: at, problem.message)], source: String(decoding: bytes, as: UTF8.self))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ScenarioLoadError(file: path, diagnostics: [Diagnostic(at: nil, "\(path): the file is not valid UTF-8")], source: nil)
        }
        return text
    }
}

// MARK: - Walking the node tree

/// Walks composed YAML trees (the scenario and what it includes), building the model and
/// collecting diagnostics.
struct NodeReader {
    /// The file being read now (changes while an included file is read).
    var file: String
    let validatePattern: ScenarioLoader.PatternValidator?
    var validateFault: ScenarioLoader.FaultValidator?
    var diagnostics: [Diagnostic] = []
    /// The text of every file read, for carets.
    var sources: [String: String] = [:]
    /// The scenario's preset, which fills in defaults.
    var preset: Preset?
    /// Named step lists, with where each was defined.
    var fragments: [String: (node: Node, file: String)] = [:]
    /// Fragments being expanded, to catch a fragment that uses itself.
    var expanding: [String] = []
    /// Included files being read, to catch include cycles.
    var including: [String] = []
    /// Keys that repeat an earlier key of their mapping, by place: reported when their file was
    /// composed, and left out by `mapping(_:what:)` so that the first value stands.
    var repeatedKeys: Set<SourceLocation> = []
    /// Keys changed so that a file with repeated keys composes (see `compose(_:)`), by place,
    /// with the names as written.
    var maskedKeys: [SourceLocation: String] = [:]

    /// How many repeated keys `compose(_:)` gets past in one file before it gives up and reports
    /// the rest without a tree.
    static let maskLimit = 100

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

    /// Composes text into a node tree, reporting YAML syntax errors with their place.
    ///
    /// Two kinds of problem are found here rather than left to Yams, which cannot place them:
    ///
    /// - libyaml's reader rejects a character YAML forbids with a byte offset only, so the bytes
    ///   are checked first and the first such character is reported at its line and column;
    /// - Yams rejects a mapping that repeats a key and gives one place only: the first place of
    ///   one repeated key. That key is changed in a copy of the text (its first character becomes
    ///   a private-use one, every line and column kept; see `SourceBytes.maskingKey`) and the copy
    ///   composed again, until it composes; `reportDuplicateKeys(in:)` then finds every repeat in
    ///   the tree, and `mapping(_:what:)` gives the changed keys back their names.
    mutating func compose(_ yaml: String) -> Node? {
        var bytes = Array(yaml.utf8)
        if let problem = SourceBytes.firstProblem(in: bytes) {
            diagnostics.append(Diagnostic(at: SourceLocation(file: file, line: problem.line, column: problem.column), problem.message))
            return nil
        }
        var text = yaml
        // libyaml skips a byte order mark only when it finds the encoding itself, and Yams names
        // the encoding: a mark at the start is dropped here, as reading a file drops it.
        if bytes.starts(with: SourceBytes.byteOrderMark) {
            bytes.removeFirst(SourceBytes.byteOrderMark.count)
            text = String(decoding: bytes, as: UTF8.self)
        }
        var masked: [(at: SourceLocation, name: String)] = []
        while true {
            do {
                // `.basic`: no tag resolution by regular expression (Yams's default resolver
                // compiles seven NSRegularExpressions on first use, which loads ICU's regex
                // engine at every start); the reader recognises booleans and numbers itself.
                guard let root = try Yams.compose(yaml: text, .basic) else {
                    diagnostics.append(Diagnostic(at: SourceLocation(file: file, line: 1, column: 1), "the file is empty"))
                    return nil
                }
                for key in masked { maskedKeys[key.at] = key.name }
                reportDuplicateKeys(in: root)
                return root
            } catch let error as YamlError {
                if case .duplicatedKeysInMapping(let names, let context) = error, masked.count < Self.maskLimit, let name = names.first,
                    let offset = SourceBytes.offset(line: context.mark.line, column: context.mark.column, in: bytes),
                    let copy = SourceBytes.maskingKey(at: offset, in: bytes, with: Self.maskCharacter(masked.count))
                {
                    masked.append((SourceLocation(file: file, line: context.mark.line, column: context.mark.column), name))
                    bytes = copy
                    text = String(decoding: copy, as: UTF8.self)
                    continue
                }
                // No tree: the repeated keys found so far are reported where they were first given.
                for key in masked {
                    diagnostics.append(Diagnostic(at: key.at, Self.repeatedLaterMessage([key.name])))
                }
                diagnostics.append(diagnostic(for: error, bytes: bytes))
            } catch {
                diagnostics.append(Diagnostic(at: nil, "\(file): \(error)"))
            }
            return nil
        }
    }

    /// The character that replaces the first character of the `index`th changed key: one of
    /// plane 15's private-use characters, which no scenario key begins with.
    static func maskCharacter(_ index: Int) -> Unicode.Scalar {
        Unicode.Scalar(0xF0000 + UInt32(min(index, 0xFFFD))) ?? "\u{F0000}"
    }

    /// The message for a key given again later in its mapping, when the later one has no place.
    static func repeatedLaterMessage(_ names: [String]) -> String {
        let names = names.map { "'\($0)'" }.joined(separator: ", ")
        return "duplicate key \(names) in one mapping (this one and a later one; each key may appear once)"
    }

    /// Reports each key that repeats an earlier key of the same mapping, at its own place and with
    /// where the key was first given, and notes it in `repeatedKeys`.
    ///
    /// Keys are compared by their text, as `mapping(_:what:)` finds them; a key changed by
    /// `compose(_:)` counts under its name as written.
    mutating func reportDuplicateKeys(in root: Node) {
        // An alias puts a node that is already in the tree in a second place: each collection is
        // walked once (by its place), which also keeps nested aliases from multiplying the walk.
        var walkedMappings = Set<SourceLocation>()
        var walkedSequences = Set<SourceLocation>()
        var pending = [root]
        while let node = pending.popLast() {
            switch node {
            case .mapping(let mapping):
                guard walkedMappings.insert(location(node)).inserted else { continue }
                var first: [String: SourceLocation] = [:]
                for (key, value) in mapping {
                    pending.append(key)
                    pending.append(value)
                    let at = location(key)
                    guard let name = maskedKeys[at] ?? key.scalar?.string else { continue }
                    guard let earlier = first[name] else {
                        first[name] = at
                        continue
                    }
                    // A file included twice is composed twice; its repeats are reported once.
                    if repeatedKeys.insert(at).inserted {
                        diagnostics.append(
                            Diagnostic(
                                at: at,
                                "duplicate key '\(name)' (first given at \(earlier.line):\(earlier.column)); each key may appear once in a mapping"
                            )
                        )
                    }
                }
            case .sequence(let sequence):
                guard walkedSequences.insert(location(node)).inserted else { continue }
                pending.append(contentsOf: sequence)
            case .scalar, .alias:
                break
            }
        }
    }

    /// The diagnostic for a Yams error, at its place when it has one.
    ///
    /// - Parameters:
    ///   - error: what Yams threw.
    ///   - bytes: the text Yams read, to place a byte offset.
    func diagnostic(for error: YamlError, bytes: [UInt8]) -> Diagnostic {
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            var message = "invalid YAML: \(problem)"
            if let context { message += " (\(context.text))" }
            return Diagnostic(at: SourceLocation(file: file, line: mark.line, column: mark.column), message)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return Diagnostic(
                at: SourceLocation(file: file, line: context.mark.line, column: context.mark.column),
                Self.repeatedLaterMessage(duplicates)
            )
        case .reader(let problem, let offset, _, _):
            // `compose(_:)` checks the bytes first, so libyaml's reader has nothing left to reject.
            let (line, column) = SourceBytes.position(ofOffset: offset ?? 0, in: bytes)
            return Diagnostic(at: SourceLocation(file: file, line: line, column: column), "cannot decode the file: \(problem)")
        default:
            return Diagnostic(at: nil, "\(file): invalid YAML: \(error)")
        }
    }

    // MARK: Top level

    static let topKeys = [
        "name", "description", "tags", "requires", "variables", "secrets", "preset", "timeouts", "server", "servers",
        "include", "fragments", "steps", "client-exit",
    ]

    mutating func scenario(yaml: String) -> Scenario {
        let fileName = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        var result = Scenario(file: file, name: fileName, steps: [])
        guard let root = compose(yaml), var map = mapping(root, what: "a scenario") else { return result }
        if let node = map.take("name"), let name = string(node) { result.name = name }
        if let node = map.take("description"), let text = string(node) { result.description = text }
        if let node = map.take("tags") { result.tags = stringList(node, what: "a list of tags") }
        if let node = map.take("preset"), let name = string(node) {
            if let found = Preset.all[name] {
                preset = found
                result.preset = found
            } else {
                error(node, unknownValue(name, allowed: Preset.names, what: "preset"))
            }
        }
        if let node = map.take("requires") {
            result.requires = stringList(node, what: "a list of variable names")
            for name in result.requires where !Self.isVariableName(name) {
                error(node, "'\(name)' is not a variable name (letters, digits, '_', '.', '-')")
            }
        }
        if let node = map.take("variables") { result.variables = assignments(node, what: "'variables'") }
        if let node = map.take("secrets") {
            result.secrets = stringList(node, what: "a list of variable names")
            for name in result.secrets where !Self.isVariableName(name) {
                error(node, "'\(name)' is not a variable name (letters, digits, '_', '.', '-')")
            }
        }
        if let node = map.take("timeouts") { result.timeouts = timeouts(node) }
        if let node = map.take("server"), let server = server(node, name: "server") { result.servers.append(server) }
        if let node = map.take("servers"), var named = mapping(node, what: "'servers' (a mapping of names to servers)") {
            for (key, value) in named.pairs {
                guard let name = key.scalar?.string else { continue }
                named.consumed.insert(name)
                if !Self.isVariableName(name) {
                    error(key, "'\(name)' is not a server name (letters, digits, '_', '.', '-')")
                } else if result.servers.contains(where: { $0.name == name }) {
                    error(key, "a server named '\(name)' is already defined")
                } else if let server = server(value, name: name) {
                    result.servers.append(server)
                }
            }
        }
        if let node = map.take("include") {
            let paths = node.scalar != nil ? [node] : (sequence(node, what: "a file or a list of files") ?? [])
            for item in paths { include(item) }
        }
        if let node = map.take("fragments") { defineFragments(node) }
        if let node = map.take("client-exit"), let text = string(node) {
            if let exit = Scenario.ClientExit(rawValue: text) {
                result.clientExit = exit
                result.clientExitLocation = location(node)
            } else {
                error(node, unknownValue(text, allowed: Scenario.ClientExit.allCases.map(\.rawValue), what: "'client-exit' value"))
            }
        }
        if let node = map.take("steps") {
            if let items = sequence(node, what: "a list of steps") {
                result.steps = steps(items)
                if items.isEmpty { error(node, "'steps' is empty: a scenario needs at least one step") }
                // Each snapshot has a file of its own: two steps with one name would overwrite it.
                var snapshots: [String: SourceLocation] = [:]
                for step in result.steps {
                    guard case .snapshot(let snapshot) = step.kind else { continue }
                    if let first = snapshots[snapshot.name] {
                        diagnostics.append(
                            Diagnostic(
                                at: step.location,
                                "snapshot name '\(snapshot.name)' is used twice (first at line \(first.line)): each names a file")
                        )
                    } else {
                        snapshots[snapshot.name] = step.location
                    }
                }
            }
        } else {
            error(root, "missing 'steps': a scenario needs a list of steps")
        }
        finish(&map, allowed: Self.topKeys, in: "a scenario")
        return result
    }

    /// Reads an included file's fragments.
    mutating func include(_ node: Node) {
        guard let path = path(node), let written = node.scalar?.string else { return }
        if including.contains(path) || path == file {
            error(node, "'\(path)' includes itself (through \(including.joined(separator: " -> ")))")
            return
        }
        let text: String
        do {
            text = try ScenarioLoader.read(path)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "it cannot be read as UTF-8 text" : "there is no such file"
            self.error(node, "cannot include '\(written)': \(reason) (looked for \(path))")
            // A byte that is not UTF-8 is also shown at its place in the included file.
            for diagnostic in error.diagnostics where diagnostic.location != nil { diagnostics.append(diagnostic) }
            sources.merge(error.sources) { current, _ in current }
            return
        }
        let outer = file
        including.append(outer)
        file = path
        sources[path] = text
        defer {
            file = outer
            including.removeLast()
        }
        guard let root = compose(text), var map = mapping(root, what: "an included file") else { return }
        _ = map.take("description")
        if let nested = map.take("include") {
            let paths = nested.scalar != nil ? [nested] : (sequence(nested, what: "a file or a list of files") ?? [])
            for item in paths { include(item) }
        }
        if let node = map.take("fragments") {
            defineFragments(node)
        } else {
            error(root, "an included file needs 'fragments' (named step lists)")
        }
        finish(&map, allowed: ["description", "include", "fragments"], in: "an included file")
    }

    mutating func defineFragments(_ node: Node) {
        guard var map = mapping(node, what: "'fragments' (a mapping of names to step lists)") else { return }
        for (key, value) in map.pairs {
            guard let name = key.scalar?.string else { continue }
            map.consumed.insert(name)
            if let previous = fragments[name] {
                error(key, "fragment '\(name)' is already defined in \(previous.file)")
                continue
            }
            guard value.sequence != nil else {
                error(value, "fragment '\(name)' must be a list of steps, found \(kind(value))")
                continue
            }
            fragments[name] = (value, file)
        }
    }

    mutating func server(_ node: Node, name: String) -> EmbeddedServer? {
        guard var map = mapping(node, what: "an embedded server") else { return nil }
        var proto: EmbeddedServer.ServerProtocol?
        if let p = map.take("protocol"), let value = string(p) {
            proto = EmbeddedServer.ServerProtocol(rawValue: value)
            if proto == nil {
                error(p, unknownValue(value, allowed: EmbeddedServer.ServerProtocol.allCases.map(\.rawValue), what: "server protocol"))
            }
        } else if map.node("protocol") == nil {
            error(node, "the embedded server needs 'protocol' (smtp, imap or pop3)")
        }
        var server = EmbeddedServer(protocol: proto ?? .smtp, location: location(node))
        server.name = name
        if let n = map.take("hostname"), let v = string(n) { server.hostname = v }
        if let n = map.take("starttls"), let v = bool(n) { server.starttls = v }
        if let n = map.take("implicit-tls"), let v = bool(n) { server.implicitTLS = v }
        if let n = map.take("certificate"), let v = path(n) { server.certificate = v }
        if let n = map.take("key"), let v = path(n) { server.key = v }
        if let n = map.take("faults") {
            server.faults = stringList(n, what: "a list of fault knobs (NAME or NAME=VALUE)")
            let items = n.sequence.map(Array.init) ?? [n]
            for (knob, item) in zip(server.faults, items) {
                if let problem = validateFault?(knob) { error(item, problem) }
            }
        }
        if let n = map.take("users"), var users = mapping(n, what: "'users' (a mapping of user names to passwords)") {
            for (key, value) in users.pairs {
                guard let user = key.scalar?.string else { continue }
                users.consumed.insert(user)
                if let password = string(value) { server.users[user] = password }
            }
        }
        if (server.starttls || server.implicitTLS) && (server.certificate == nil || server.key == nil) {
            error(node, "the embedded server uses TLS and needs 'certificate' and 'key' (or 'starttls: false')")
        }
        if server.implicitTLS && server.starttls && map.node("starttls") != nil {
            error(node, "'implicit-tls' and 'starttls' exclude each other: TLS starts with the connection")
        }
        finish(
            &map,
            allowed: ["protocol", "hostname", "starttls", "implicit-tls", "certificate", "key", "faults", "users"],
            in: "an embedded server"
        )
        return proto == nil ? nil : server
    }

    mutating func timeouts(_ node: Node) -> Timeouts {
        var result = Timeouts()
        guard var map = mapping(node, what: "'timeouts'") else { return result }
        if let n = map.take("connect"), let v = duration(n) { result.connect = v }
        if let n = map.take("expect"), let v = duration(n) { result.expect = v }
        if let n = map.take("handshake"), let v = duration(n) { result.handshake = v }
        finish(&map, allowed: ["connect", "expect", "handshake"], in: "'timeouts'")
        return result
    }

    /// `name: value` pairs, in order, with checked names.
    mutating func assignments(_ node: Node, what: String) -> [(name: String, value: Template)] {
        guard var map = mapping(node, what: "\(what) (a mapping of names to values)") else { return [] }
        var result: [(name: String, value: Template)] = []
        for (key, value) in map.pairs {
            guard let name = key.scalar?.string else { continue }
            map.consumed.insert(name)
            if !Self.isVariableName(name) {
                error(key, "'\(name)' is not a variable name (letters, digits, '_', '.', '-')")
                continue
            }
            if let t = template(value) { result.append((name, t)) }
        }
        return result
    }

    static func isVariableName(_ name: String) -> Bool {
        Template.isName(name)
    }
}

/// The pairs of a mapping and which keys have been read.
struct MappingCursor {
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
public func nearest(_ word: String, in candidates: [String]) -> String? {
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
