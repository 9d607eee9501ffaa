// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyCLI
import Testing

@Suite("--var-file")
struct VariableFileTests {
    @Test("NAME=VALUE lines, comments, export, spaces around unquoted values, quotes and escapes, CRLF")
    func parsing() throws {
        let text = """
            # the servers
            export SMTP_HOST=127.0.0.1\r
              SMTP_PORT = 10025 \t
            URL=smtp://h:25/?a=b#frag
            SPACED='  kept  '
            ESCAPED="a \\"b\\"\\t\\\\\\0"
            RAW='x\\ny'
            EMPTY=
            SMTP_PORT=10026

            """
        let variables = try VariableFile.parse(text, path: "v.env")
        #expect(
            variables == [
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": "10026",
                "URL": "smtp://h:25/?a=b#frag",
                "SPACED": "  kept  ",
                "ESCAPED": "a \"b\"\t\\\0",
                "RAW": "x\\ny",
                "EMPTY": "",
            ])
    }

    @Test(
        "a line that cannot be read is named with FILE:LINE and what is wrong",
        arguments: [
            ("A=1\nno equals sign\n", 2, "expected NAME=VALUE, found \"no equals sign\""),
            ("9LIVES=x\n", 1, "\"9LIVES\" is not a variable name (letters, digits, '_', '.', '-')"),
            ("=x\n", 1, "\"\" is not a variable name (letters, digits, '_', '.', '-')"),
            ("A=\"open\n", 1, "no closing \""),
            ("A='x' y\n", 1, "text after the closing ': \" y\""),
            ("A=\"\\q\"\n", 1, "unknown escape \\q (known: \\\" \\\\ \\n \\r \\t \\0)"),
        ])
    func problems(text: String, line: Int, message: String) {
        #expect(throws: VariableFile.Problem(path: "v.env", line: line, message: message)) {
            _ = try VariableFile.parse(text, path: "v.env")
        }
    }

    @Test("parley run reads --var-file, --var wins over it, and a bad file is bad usage (exit 2)")
    func commandLine() throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let scenario = folder.appendingPathComponent("v.yaml").path
        try "name: v\nsteps:\n  - assert: {variables: {a: from-file, b: from-option}}\n"
            .write(toFile: scenario, atomically: true, encoding: .utf8)
        let file = folder.appendingPathComponent("v.env").path
        try "a=from-file\nb=from-file\n".write(toFile: file, atomically: true, encoding: .utf8)
        let (status, output) = try ExecutableTests().runParley([
            "run", "--no-color", "--var-file", file, "--var", "b=from-option", scenario,
        ])
        #expect(status == 0, "\(output)")
        let bad = folder.appendingPathComponent("bad.env").path
        try "a=1\nnonsense\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let (refused, message) = try ExecutableTests().runParley(["run", "--var-file", bad, scenario])
        #expect(refused == 2)
        #expect(message == "\(bad):2: error: expected NAME=VALUE, found \"nonsense\"\n")
    }
}
