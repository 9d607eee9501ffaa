// SPDX-License-Identifier: Apache-2.0
import Foundation
import Runner
import Scenario

/// Writes JUnit XML as GitLab, Jenkins and GitHub test reporters read it: one `<testsuite>` per
/// scenario file holding one `<testcase>`, the failure with its place and details, the transcript
/// in `<system-out>`, and a verification opt-out as a property.
public enum JUnitReporter {
    /// The XML document for a run.
    public static func render(_ run: RunRecord) -> String {
        let counts = run.counts
        var xml = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        xml += "<testsuites name=\"parley\" tests=\"\(run.scenarios.count)\" failures=\"\(counts.failed)\""
        xml += " errors=\"\(counts.errors)\" skipped=\"\(counts.skipped)\" time=\"\(seconds(run.duration))\">\n"
        for record in run.scenarios {
            let result = record.result
            let failures = result.outcome == .failed ? 1 : 0
            let errors = result.outcome == .error ? 1 : 0
            let skipped = result.outcome == .skipped ? 1 : 0
            xml += "  <testsuite name=\(attribute(result.name)) tests=\"1\" failures=\"\(failures)\" errors=\"\(errors)\""
            // A retried scenario took the time of all its attempts.
            let time = seconds(record.earlierAttempts.reduce(result.duration) { $0 + $1.duration })
            xml += " skipped=\"\(skipped)\" time=\"\(time)\" timestamp=\(attribute(JSONOutput.timestamp(record.started)))"
            xml += " file=\(attribute(record.file))>\n"
            xml += "    <properties>\n"
            xml += "      <property name=\"file\" value=\(attribute(record.file))/>\n"
            xml += "      <property name=\"steps\" value=\"\(result.stepCount)\"/>\n"
            xml += "      <property name=\"insecure\" value=\"\(result.insecure)\"/>\n"
            if record.attempts > 1 {
                xml += "      <property name=\"attempts\" value=\"\(record.attempts)\"/>\n"
            }
            if !result.tags.isEmpty {
                xml += "      <property name=\"tags\" value=\(attribute(result.tags.joined(separator: ",")))/>\n"
            }
            xml += "    </properties>\n"
            xml += "    <testcase classname=\(attribute(classname(record.file))) name=\(attribute(result.name))"
            xml += " file=\(attribute(record.file)) time=\"\(time)\">\n"
            if result.outcome == .skipped {
                xml += "      <skipped message=\(attribute(result.skipReason ?? "skipped"))/>\n"
            }
            if let failure = result.failure, result.outcome != .passed {
                xml += element(result.outcome == .error ? "error" : "failure", failure)
            }
            // Earlier attempts, as Maven Surefire reports reruns (read by Jenkins): flaky when
            // the last attempt passed, reruns of a failure otherwise.
            for earlier in record.earlierAttempts {
                guard let failure = earlier.failure else { continue }
                xml += element((result.outcome == .passed ? "flaky" : "rerun") + (earlier.outcome == .error ? "Error" : "Failure"), failure)
            }
            xml += "      <system-out>" + text(record.transcript) + "</system-out>\n"
            xml += "    </testcase>\n"
            xml += "  </testsuite>\n"
        }
        xml += "</testsuites>\n"
        return xml
    }

    /// The failure as plain text: place, message, expectation, deadline and the unmatched tail.
    /// A failure as a testcase child element (`failure`, `error`, `flakyFailure`, …): the message
    /// and kind as attributes, the details as text.
    static func element(_ name: String, _ failure: Failure) -> String {
        "      <\(name) message=\(attribute(failure.message)) type=\(attribute(failure.kind.rawValue))>"
            + text(details(failure)) + "</\(name)>\n"
    }

    static func details(_ failure: Failure) -> String {
        var lines = ["\(failure.location): \(failure.message)"]
        if let expected = failure.expected { lines.append("expected: \(expected)") }
        if let actual = failure.actual { lines.append("actual: \(actual)") }
        if let wait = failure.wait, let deadline = failure.deadlineText {
            lines.append("deadline: \(wait.rawValue) (\(deadline))")
        }
        if let tail = failure.tail {
            lines.append("received and not matched: \(ByteText.escaped(tail))")
        }
        if let variables = failure.variablesText { lines.append("variables: " + variables) }
        lines += failure.reproduce.map { "try by hand: \($0)" }
        return lines.joined(separator: "\n")
    }

    /// `scenarios/smtp-starttls.yaml` → `scenarios.smtp-starttls`, the dotted form reporters group by.
    static func classname(_ file: String) -> String {
        var path = file
        for suffix in [".yaml", ".yml"] where path.hasSuffix(suffix) {
            path.removeLast(suffix.count)
        }
        while path.hasPrefix("./") { path.removeFirst(2) }
        if path.hasPrefix("/") { path.removeFirst() }
        return path.replacingOccurrences(of: "/", with: ".")
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.3f", duration.seconds)
    }

    /// Text escaped for XML 1.0 content. Characters XML 1.0 cannot carry at all (C0 controls
    /// other than tab, LF and CR, lone surrogates, U+FFFE/U+FFFF) become a visible `\xNN` or
    /// `\u{NNNN}`; CR is kept as a character reference so parsers do not fold it away.
    static func text(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\r": out += "&#13;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            default:
                let v = scalar.value
                if v < 0x20 {
                    out += "\\x" + String(format: "%02X", v)
                } else if v == 0xFFFE || v == 0xFFFF {
                    out += "\\u{\(String(v, radix: 16, uppercase: true))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// An attribute value in double quotes; newlines and tabs as references so they survive
    /// attribute-value normalisation.
    static func attribute(_ value: String) -> String {
        var escaped = text(value)
        escaped = escaped.replacingOccurrences(of: "\"", with: "&quot;")
        escaped = escaped.replacingOccurrences(of: "\n", with: "&#10;")
        escaped = escaped.replacingOccurrences(of: "\t", with: "&#9;")
        return "\"" + escaped + "\""
    }
}
