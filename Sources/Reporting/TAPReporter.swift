// SPDX-License-Identifier: Apache-2.0
import Foundation
import Runner
import Scenario

/// Writes TAP version 14: one test point per scenario, with a YAML diagnostic block for failures.
public enum TAPReporter {
    /// The plan line, printed before any test point.
    public static func header(count: Int) -> String {
        "TAP version 14\n1..\(count)\n"
    }

    /// One test point.
    ///
    /// - Parameters:
    ///   - number: the 1-based test number.
    ///   - record: the scenario's record.
    public static func point(_ number: Int, _ record: ScenarioRecord) -> String {
        let result = record.result
        let description = escape(result.name)
        if result.outcome == .skipped {
            return "ok \(number) - \(description) # SKIP \(escape(result.skipReason ?? "skipped"))\n"
        }
        guard result.outcome != .passed, let failure = result.failure else {
            var notes: [String] = []
            if result.insecure { notes.append("verification off") }
            if record.attempts > 1 { notes.append("passed on attempt \(record.attempts)") }
            return "ok \(number) - \(description)\(notes.isEmpty ? "" : " # " + notes.joined(separator: ", "))\n"
        }
        var out = "not ok \(number) - \(description)\n"
        out += "  ---\n"
        out += "  message: \(yaml(failure.message))\n"
        out += "  severity: \(result.outcome == .error ? "error" : "fail")\n"
        out += "  kind: \(failure.kind.rawValue)\n"
        out += "  at:\n"
        out += "    file: \(yaml(failure.location.file))\n"
        out += "    line: \(failure.location.line)\n"
        out += "    column: \(failure.location.column)\n"
        if let expected = failure.expected { out += "  expected: \(yaml(expected))\n" }
        if let actual = failure.actual { out += "  actual: \(yaml(actual))\n" }
        if let wait = failure.wait { out += "  wait: \(wait.rawValue)\n" }
        if let deadline = failure.deadlineText { out += "  deadline: \(deadline)\n" }
        if let tail = failure.tail { out += "  received: \(yaml(ByteText.escaped(tail)))\n" }
        if record.attempts > 1 { out += "  attempts: \(record.attempts)\n" }
        out += "  ...\n"
        return out
    }

    /// A whole run.
    public static func render(_ run: RunRecord) -> String {
        var out = header(count: run.scenarios.count)
        for (index, record) in run.scenarios.enumerated() {
            out += point(index + 1, record)
        }
        return out
    }

    /// `#` and `\` escaped, as TAP 14 asks for descriptions.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "#", with: "\\#")
            .replacingOccurrences(of: "\n", with: " ")
    }

    /// A YAML double-quoted scalar.
    static func yaml(_ text: String) -> String {
        quoted(text)
    }
}
