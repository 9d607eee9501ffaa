// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyTestSupport
import Scenario
import Testing

/// Loads text, expecting failure, and returns the diagnostics.
func diagnostics(_ yaml: String, loader: ScenarioLoader = ScenarioLoader()) -> [Diagnostic] {
    do {
        _ = try loader.load(yaml: yaml, file: "t.yaml")
        Issue.record("expected the load to fail")
        return []
    } catch {
        return error.diagnostics
    }
}

@Suite("Scenario loader")
struct ScenarioLoaderTests {
    @Test(
        "plain booleans and whole numbers in YAML 1.1's forms, read without Yams's regex resolver",
        arguments: [
            ("2048", 2048), ("+2_048", 2048), ("0x800", 2048), ("0o4000", 2048), ("04000", 2048), ("0b100000000000", 2048), ("34:08", 2048),
            ("0", 0), ("-7", -7),
        ])
    func plainNumbers(text: String, value: Int) throws {
        let scenario = try ScenarioLoader().load(
            yaml: "name: n\nsteps:\n  - connect: {host: h, port: 25}\n  - tls-policy: {min-rsa-bits: \(text)}\n", file: "t.yaml")
        guard case .tlsPolicy(let policy) = try #require(scenario.steps.last).kind else {
            Issue.record("not a tls-policy step")
            return
        }
        #expect(policy.minimumRSABits == value)
    }

    @Test("quoted, misspelt or non-decimal-looking scalars are not booleans or numbers")
    func notPlainNumbers() {
        for text in ["'2048'", "20x48", "2048.0", "_2048", "0x", "1:75", "TrUe"] {
            let field = text == "TrUe" ? "- connect: {host: h, port: 25, tls: \(text)}" : "- tls-policy: {min-rsa-bits: \(text)}"
            let problems = diagnostics("name: n\nsteps:\n  - connect: {host: h, port: 25}\n  \(field)\n")
            #expect(!problems.isEmpty, "\(text)")
        }
        for (text, value) in [("yes", true), ("On", true), ("FALSE", false), ("off", false)] {
            let loaded = try? ScenarioLoader().load(
                yaml: "name: n\nsteps:\n  - connect: {host: h, port: 25, tls: \(text)}\n", file: "t.yaml")
            guard case .connect(let connect) = loaded?.steps.first?.kind else {
                Issue.record("\(text) did not load")
                continue
            }
            #expect((connect.tls != nil) == value, "\(text)")
        }
    }

    @Test("the bundled SMTP STARTTLS scenario loads with every step and its place")
    func bundledScenario() throws {
        let path = SourceTree.path("scenarios/smtp-starttls.yaml")
        let scenario = try ScenarioLoader().load(path: path)
        #expect(scenario.name == "SMTP STARTTLS with a verified certificate")
        #expect(scenario.server?.protocol == .smtp)
        #expect(scenario.server?.certificate?.hasSuffix("/fixtures/certs/server.pem") == true)
        #expect(scenario.timeouts.expect == .seconds(5))
        let keywords = scenario.steps.map(\.keyword)
        #expect(keywords.first == "connect")
        #expect(keywords.contains("starttls"))
        #expect(keywords.last == "expect")
        let connect = try #require(scenario.steps.first)
        #expect(connect.location.file == path)
        #expect(connect.location.line > 1)
        guard case .starttls(let starttls) = try #require(scenario.steps.first(where: { $0.keyword == "starttls" })).kind else {
            Issue.record("not a starttls step")
            return
        }
        #expect(starttls.command.raw == "STARTTLS\r\n")
        #expect(starttls.success.source == "^220 ")
        #expect(starttls.tls.caFile?.hasSuffix("/fixtures/certs/ca.pem") == true)
        #expect(starttls.tls.serverName?.raw == "localhost")
    }

    @Test("an unknown step keyword names its place and suggests the nearest")
    func unknownKeyword() {
        let found = diagnostics("steps:\n  - expct: '^220'\n")
        #expect(found.count == 1)
        #expect(found.first?.location == SourceLocation(file: "t.yaml", line: 2, column: 5))
        #expect(found.first?.message.contains("unknown key 'expct'") == true)
        #expect(found.first?.message.contains("did you mean 'expect'?") == true)
    }

    @Test("every problem of a file is reported, not only the first")
    func allProblems() {
        let yaml = """
            name: x
            timeout: 3
            steps:
              - connect: {hots: a}
              - send: {text: a, line: b}
              - assert: {status: half-open}
            """
        let found = diagnostics(yaml)
        let messages = found.map(\.message)
        #expect(found.count == 4, "\(messages)")
        #expect(messages.contains { $0.contains("unknown key 'timeout'") && $0.contains("'timeouts'") })
        #expect(messages.contains { $0.contains("unknown key 'hots'") && $0.contains("'host'") })
        #expect(messages.contains { $0.contains("takes one of 'text', 'line', 'hex', 'base64' or 'parts'; found text, line") })
        #expect(messages.contains { $0.contains("'open' or 'closed', not 'half-open'") })
        #expect(found.map { $0.location?.line ?? 0 } == [2, 4, 5, 6])
    }

    @Test("broken YAML reports libyaml's place")
    func brokenYAML() {
        let found = diagnostics("steps:\n  - send: \"unterminated\n")
        #expect(found.count == 1)
        #expect(found.first?.message.hasPrefix("invalid YAML") == true)
        #expect((found.first?.location?.line ?? 0) >= 2)
    }

    @Test("a bad regular expression points at the character the checker rejects")
    func badPattern() {
        let loader = ScenarioLoader { source, _ in
            source.contains("(") && !source.contains(")") ? ("missing closing parenthesis", source.count) : nil
        }
        let found = diagnostics("steps:\n  - expect: '^2(50'\n", loader: loader)
        #expect(found.count == 1)
        // The scalar's quote is at column 13; offset 5 in the pattern is column 13 + 1 + 5.
        #expect(found.first?.location?.column == 19)
        #expect(found.first?.message.contains("missing closing parenthesis") == true)
    }

    @Test("durations accept seconds and units; nonsense is rejected")
    func durations() throws {
        let scenario = try ScenarioLoader().load(
            yaml: "timeouts: {connect: 2, expect: 250ms, handshake: 1m}\nsteps: [close: ]\n",
            file: "t.yaml"
        )
        #expect(scenario.timeouts.connect == .seconds(2))
        #expect(scenario.timeouts.expect == .milliseconds(250))
        #expect(scenario.timeouts.handshake == .seconds(60))
        let found = diagnostics("timeouts: {connect: -1}\nsteps: [close: ]\n")
        #expect(found.first?.message.contains("'-1' is not a duration between 1ms and 24h") == true)
    }

    @Test("a scenario without steps is an error at the top")
    func missingSteps() {
        let found = diagnostics("name: lonely\n")
        #expect(found.first?.message.contains("missing 'steps'") == true)
    }

    @Test("the send forms: text as written, line with CRLF appended")
    func sendForms() throws {
        let scenario = try ScenarioLoader().load(
            yaml: "steps:\n  - send: \"A\\r\\n\"\n  - send: {line: B}\n",
            file: "t.yaml"
        )
        guard case .send(let first) = scenario.steps[0].kind, case .send(let second) = scenario.steps[1].kind else {
            Issue.record("expected two send steps")
            return
        }
        guard case .text(let text) = first.parts.first, case .line(let line) = second.parts.first else {
            Issue.record("expected a text part and a line part")
            return
        }
        #expect(Array(text.raw.utf8) == [65, 13, 10])
        #expect(line.raw == "B")
    }

    @Test("base64, alone or as a part, keeps its template (a YAML \\0 is a NUL); a part with two forms is an error")
    func base64Forms() throws {
        let scenario = try ScenarioLoader().load(
            yaml: "steps:\n  - send: {base64: '${token}'}\n  - send: {parts: ['AUTH PLAIN ', {base64: \"\\0${u}\\0${p}\"}]}\n",
            file: "t.yaml"
        )
        guard case .send(let first) = scenario.steps[0].kind, case .send(let second) = scenario.steps[1].kind else {
            Issue.record("expected two send steps")
            return
        }
        guard case .base64(let alone) = first.parts.first, second.parts.count == 2, case .base64(let part) = second.parts[1] else {
            Issue.record("expected base64 parts")
            return
        }
        #expect(alone.raw == "${token}")
        #expect(Array(part.raw.utf8) == [0] + Array("${u}".utf8) + [0] + Array("${p}".utf8))
        let found = diagnostics("steps:\n  - send: {parts: [{base64: a, text: b}]}\n")
        #expect(found.map(\.message) == ["a part has exactly one of 'text', 'line', 'hex' or 'base64'"])
        #expect(found.first?.location?.line == 2)
    }
}

/// Writes bytes to a new file in a new folder and returns the file's path.
func scratchFile(_ bytes: [UInt8], name: String = "t.yaml") throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("parley-loader-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let url = folder.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
}

/// Removes the folder `scratchFile(_:name:)` made for a file.
func removeScratch(_ path: String) {
    try? FileManager.default.removeItem(at: URL(fileURLWithPath: path).deletingLastPathComponent())
}

/// Loads a file, expecting failure, and returns the error.
func loadError(_ path: String) -> ScenarioLoadError? {
    do {
        _ = try ScenarioLoader().load(path: path)
        Issue.record("expected the load to fail")
        return nil
    } catch {
        return error
    }
}

@Suite("Encoding problems")
struct EncodingTests {
    @Test(
        "a byte that is not UTF-8 is placed by LF-counted line and by characters before it",
        arguments: [
            // A stray continuation byte at the start of line 2.
            (Array("steps:\n".utf8) + [0x80] + Array(" - close:\n".utf8), 2, 1, "byte 0x80 (offset 7)"),
            // A character cut short by the end of the file, after a CRLF line and a two-byte character.
            (Array("steps:\r\n  - send: \"\u{E9}".utf8) + [0xE2, 0x82], 2, 13, "byte 0xE2 (offset 21)"),
            // An encoded surrogate (CESU-8) and an overlong slash.
            (Array("name: ".utf8) + [0xED, 0xA0, 0x80], 1, 7, "byte 0xED (offset 6)"),
            (Array("name: a".utf8) + [0xC0, 0xAF], 1, 8, "byte 0xC0 (offset 7)"),
        ] as [([UInt8], Int, Int, String)])
    func invalidUTF8(bytes: [UInt8], line: Int, column: Int, byte: String) throws {
        let path = try scratchFile(bytes)
        defer { removeScratch(path) }
        let error = try #require(loadError(path))
        #expect(error.diagnostics.count == 1)
        #expect(error.diagnostics.first?.location == SourceLocation(file: path, line: line, column: column))
        #expect(
            error.diagnostics.first?.message
                == "the file is not valid UTF-8: \(byte) does not begin a well-formed character; save the file as UTF-8")
        // Rendered with its line and a caret, the bad bytes shown as U+FFFD.
        #expect(error.description.hasPrefix("\(path):\(line):\(column): error: the file is not valid UTF-8"))
        #expect(error.description.split(separator: "\n").count == 3)
    }

    @Test(
        "a character YAML forbids is named at its line and column",
        arguments: [
            (
                "steps:\n  - send: \"a\u{0}b\"\n", 2, 13,
                "U+0000 (a control character) is not allowed in a scenario file; write it as \\x00 in a double-quoted string"
            ),
            (
                "steps:\r\n  - send: \"\u{E9}\u{1B}[0m\"\r\n", 2, 13,
                "U+001B (a control character) is not allowed in a scenario file; write it as \\x1B in a double-quoted string"
            ),
            (
                "name: \u{7F}\nsteps: [close: ]\n", 1, 7,
                "U+007F (a control character) is not allowed in a scenario file; write it as \\x7F in a double-quoted string"
            ),
            (
                "name: \u{85}ok\u{80}\nsteps: [close: ]\n", 1, 10,
                "U+0080 (a control character) is not allowed in a scenario file; write it as \\x80 in a double-quoted string"
            ),
            (
                "name: x\u{FFFE}\nsteps: [close: ]\n", 1, 8,
                "U+FFFE (not a character) is not allowed in a scenario file; write it as \\uFFFE in a double-quoted string"
            ),
        ])
    func forbiddenCharacter(yaml: String, line: Int, column: Int, message: String) {
        let found = diagnostics(yaml)
        #expect(found.map(\.message) == [message])
        #expect(found.first?.location == SourceLocation(file: "t.yaml", line: line, column: column))
    }

    @Test("a control character is shown as its Control Pictures sign, and the caret stays under it")
    func controlShown() {
        do {
            _ = try ScenarioLoader().load(yaml: "steps:\r\n  - send: \"\t\u{1B}[0m\"\r\n", file: "t.yaml")
            Issue.record("expected the load to fail")
        } catch {
            // The caret line keeps the tab: 2 + 11 spaces, the tab, the caret.
            #expect(error.description.hasSuffix("    - send: \"\t\u{241B}[0m\"\n" + String(repeating: " ", count: 13) + "\t^\n"))
        }
    }

    @Test("a byte order mark at the start still loads, and is not counted as a column")
    func byteOrderMark() throws {
        let yaml = "\u{FEFF}name: marked\nsteps: [close: ]\n"
        #expect(try ScenarioLoader().load(yaml: yaml, file: "t.yaml").name == "marked")
        let path = try scratchFile(Array(yaml.utf8))
        defer { removeScratch(path) }
        #expect(try ScenarioLoader().load(path: path).name == "marked")
        let found = diagnostics("\u{FEFF}nme: x\nsteps: [close: ]\n")
        #expect(found.first?.location == SourceLocation(file: "t.yaml", line: 1, column: 1))
        #expect(found.first?.rendered(source: "\u{FEFF}nme: x\n").hasSuffix("\n  nme: x\n  ^\n") == true)
        let control = diagnostics("\u{FEFF}name: a\u{7}\nsteps: [close: ]\n")
        #expect(control.first?.location == SourceLocation(file: "t.yaml", line: 1, column: 8))
        let bytes = Self.byteOrderMark + Array("name: a".utf8) + [0xFF]
        let badPath = try scratchFile(bytes)
        defer { removeScratch(badPath) }
        let error = try #require(loadError(badPath))
        #expect(error.diagnostics.first?.location == SourceLocation(file: badPath, line: 1, column: 8))
    }

    /// The UTF-8 byte order mark.
    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    @Test("an included file that is not UTF-8 is shown at its own line and column")
    func includedNotUTF8() throws {
        let part = try scratchFile(Array("fragments:\n  hello: [{send: \"".utf8) + [0xFF] + Array("\"}]\n".utf8), name: "part.yaml")
        defer { removeScratch(part) }
        let main = URL(fileURLWithPath: part).deletingLastPathComponent().appendingPathComponent("main.yaml")
        try "include: part.yaml\nsteps: [use: hello]\n".write(to: main, atomically: true, encoding: .utf8)
        let error = try #require(loadError(main.path))
        let places = error.diagnostics.compactMap(\.location).map {
            "\(URL(fileURLWithPath: $0.file).lastPathComponent):\($0.line):\($0.column)"
        }
        #expect(places.contains("main.yaml:1:10"))
        #expect(places.contains("part.yaml:2:19"))
        #expect(error.description.contains("part.yaml:2:19: error: the file is not valid UTF-8: byte 0xFF (offset 29)"))
    }
}

@Suite("Repeated keys")
struct DuplicateKeyTests {
    @Test("CRLF line endings: repeated keys at the right line and column, the line shown without CR")
    func crlf() throws {
        let yaml = "name: a\r\nsteps:\r\n  - send: {line: x,  line: y}\r\nname: b\r\n"
        do {
            _ = try ScenarioLoader().load(yaml: yaml, file: "t.yaml")
            Issue.record("expected the load to fail")
        } catch {
            #expect(
                error.diagnostics.map(\.location) == [
                    SourceLocation(file: "t.yaml", line: 3, column: 22), SourceLocation(file: "t.yaml", line: 4, column: 1),
                ])
            let expected =
                "t.yaml:3:22: error: duplicate key 'line' (first given at 3:12); each key may appear once in a mapping\n"
                + "    - send: {line: x,  line: y}\n" + String(repeating: " ", count: 23) + "^\n"
                + "t.yaml:4:1: error: duplicate key 'name' (first given at 1:1); each key may appear once in a mapping\n"
                + "  name: b\n  ^\n"
            #expect(error.description == expected)
        }
    }

    @Test("quoted, tagged and anchored keys that repeat are each placed; the first value stands")
    func quotedAndTaggedKeys() {
        let found = diagnostics("&k name: a\n\"name\": b\n!!str name: c\n'name': d\nsteps: [close: ]\ntimeouts: {connect: 1, connect: x}\n")
        #expect(found.map(\.location?.line) == [2, 3, 4, 6])
        #expect(found.allSatisfy { $0.message.hasPrefix("duplicate key '") })
        #expect(found.last?.message.hasPrefix("duplicate key 'connect' (first given at 6:12)") == true)
        // 'x' is not a duration, but it is the repeat, so it is not read.
        #expect(found.last?.location?.column == 24)
    }

    @Test("a mapping put in two places by an alias reports its repeated key once")
    func aliasedMapping() {
        let found = diagnostics("variables: &v {A: x, A: y}\nsteps:\n  - set: *v\n  - set: *v\n")
        #expect(
            found.map(\.description) == [
                "t.yaml:1:22: error: duplicate key 'A' (first given at 1:16); each key may appear once in a mapping"
            ])
    }

    @Test("with a YAML syntax error after them, repeated keys are still reported where first given")
    func syntaxErrorAfterRepeats() {
        // The flow mapping ends (and Yams finds its repeat) before the scanner finds the open quote.
        let found = diagnostics("steps:\n  - send: {line: a, line: b}\n  - send: \"unterminated\n")
        #expect(found.count == 2)
        #expect(found.first?.location == SourceLocation(file: "t.yaml", line: 2, column: 12))
        #expect(found.first?.message == "duplicate key 'line' in one mapping (this one and a later one; each key may appear once)")
        #expect(found.last?.message.hasPrefix("invalid YAML") == true)
    }

    @Test("very many repeats end in a bounded report")
    func manyRepeats() {
        let yaml = String(repeating: "name: a\n", count: 150) + "steps: [close: ]\n"
        let found = diagnostics(yaml)
        #expect(found.count == 101)
        #expect(found.first?.location?.line == 1)
    }
}

@Suite("Diagnostics")
struct DiagnosticTests {
    @Test("a diagnostic renders file:line:col, the source line and a caret")
    func rendering() {
        let diagnostic = Diagnostic(at: SourceLocation(file: "a.yaml", line: 2, column: 5), "unknown key 'x'")
        let text = diagnostic.rendered(source: "steps:\n  - x: 1\n")
        #expect(text == "a.yaml:2:5: error: unknown key 'x'\n    - x: 1\n      ^\n")
    }

    @Test("a CRLF file's line is found by LF and shown without its CR; a control character as its sign")
    func crlfAndControl() {
        let diagnostic = Diagnostic(at: SourceLocation(file: "a.yaml", line: 2, column: 8), "x")
        let text = diagnostic.rendered(source: "steps:\r\n  - x: \u{7}\r\n  - y\r\n")
        #expect(text == "a.yaml:2:8: error: x\n    - x: \u{2407}\n" + String(repeating: " ", count: 9) + "^\n")
    }
}

@Suite("Templates")
struct TemplateTests {
    let at = SourceLocation(file: "t.yaml", line: 1, column: 1)

    @Test("variables, defaults and $$ expand")
    func expansion() throws {
        let template = Template("${HOST}:${PORT:-25} costs $$5 ${EMPTY:-}", at: at)
        let value = try template.expand { ["HOST": "mx.test"][$0] }
        #expect(value == "mx.test:25 costs $5 ")
    }

    @Test("an unset variable without a default is an error that names it")
    func unset() {
        #expect(throws: TemplateError.self) {
            _ = try Template("${NOPE}", at: at).expand { _ in nil }
        }
        do {
            _ = try Template("x ${NOPE", at: at).expand { _ in nil }
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("unclosed"))
        }
    }

    @Test("a default may hold references itself, to any depth; the first set name wins")
    func nestedDefaults() throws {
        let template = Template("${A:-${B:-${C:-none}}}|${A:-b=${B:-?} $$ and $x}|${A:-}|$", at: at)
        #expect(try template.expand { ["A": "a"][$0] } == "a|a|a|$")
        #expect(try template.expand { ["B": "b"][$0] } == "b|b=b $ and $x||$")
        #expect(try template.expand { ["C": "c"][$0] } == "c|b=? $ and $x||$")
        #expect(try template.expand { _ in nil } == "none|b=? $ and $x||$")
        #expect(throws: TemplateError.self) { _ = try Template("${A:-${B}}", at: at).expand { _ in nil } }
        #expect(try Template("${A:-${B}}", at: at).expand { ["B": "b"][$0] } == "b")
    }

    @Test(
        "syntax problems are found without expanding: unclosed, nameless, not a name",
        arguments: [
            ("${A", "unclosed '${' in \"${A\""),
            ("${A:-${B}", "unclosed '${' in \"${A:-${B}\""),
            ("${A:-x", "unclosed '${' in \"${A:-x\""),
            ("${}", "'${' without a variable name in \"${}\""),
            ("${:-x}", "'${' without a variable name in \"${:-x}\""),
            ("${USER }", "\"USER \" is not a variable name (letters, digits, '_', '.', '-') in \"${USER }\"; write $$ for a literal $"),
        ])
    func syntaxProblems(text: String, problem: String) {
        #expect(Template(text, at: at).syntaxProblem == problem)
    }

    @Test(
        "well-formed templates have no syntax problem",
        arguments: ["", "plain", "$", "$$", "a$b", "${SERVER.host}", "${client-name:-x}", "${A:-}", "${A:-${B:-}}"])
    func wellFormed(text: String) {
        #expect(Template(text, at: at).syntaxProblem == nil)
    }
}
