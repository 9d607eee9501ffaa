// SPDX-License-Identifier: Apache-2.0
import Foundation

/// The file a `snapshot` step compares against: `snapshots/STEM.NAME.txt` beside the scenario,
/// one `fact: value` line per fact, with `#` comment lines that the comparison skips. Plain text,
/// so that a change shows in code review as a one-line diff.
enum SnapshotFile {
    /// One fact and its value.
    typealias Fact = (name: String, value: String)

    /// One fact that differs: its value in the file and now (nil: absent).
    struct Difference: Equatable {
        var fact: String
        var recorded: String?
        var now: String?
    }

    /// Where the snapshot `name` of the scenario in `scenarioFile` lives.
    /// A relative scenario path gives a relative snapshot path, so that messages name the file
    /// the way the command line named the scenario.
    static func path(scenarioFile: String, name: String) -> String {
        let stem = URL(fileURLWithPath: scenarioFile).deletingPathExtension().lastPathComponent
        let folder = scenarioFile.lastIndex(of: "/").map { String(scenarioFile[...$0]) } ?? ""
        return folder + "snapshots/\(stem).\(name).txt"
    }

    /// The file's text for these facts.
    static func render(_ facts: [Fact], scenario: String, name: String) -> String {
        var text = "# Parley snapshot '\(name)' of \(URL(fileURLWithPath: scenario).lastPathComponent).\n"
        text += "# Written by a run; later runs compare against it. `parley run --update-snapshots` rewrites it.\n"
        for fact in facts {
            text += "\(fact.name): \(fact.value)\n"
        }
        return text
    }

    /// The facts of a file's text; comment and blank lines are skipped, and so is a line
    /// without `: ` (it is reported as a difference by the comparison, as a missing fact).
    static func parse(_ text: String) -> [Fact] {
        var facts: [Fact] = []
        // "\r\n" is one Character: isNewline splits at it, at LF and at a lone CR.
        for line in text.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("#") || line.allSatisfy(\.isWhitespace) { continue }
            guard let separator = line.range(of: ": ") else {
                if line.hasSuffix(":") { facts.append((String(line.dropLast()), "")) }
                continue
            }
            facts.append((String(line[..<separator.lowerBound]), String(line[separator.upperBound...])))
        }
        return facts
    }

    /// The facts of `now` whose values differ from (or are missing in) `recorded`, in the order
    /// of `now`. Facts only in the file are not compared: the step chose what it checks.
    static func differences(recorded: [Fact], now: [Fact]) -> [Difference] {
        let file = Dictionary(recorded.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        return now.compactMap { fact in
            file[fact.name] == fact.value ? nil : Difference(fact: fact.name, recorded: file[fact.name], now: fact.value)
        }
    }
}

extension SnapshotFile {
    /// What a `snapshot` step does with its file.
    enum Decision: Equatable {
        /// There is no file: write one (outside CI, or with `--update-snapshots`).
        case writeNew
        /// There is no file and the run is under CI without `--update-snapshots`: fail, writing nothing.
        case missingUnderCI(String)
        /// The file holds the same values.
        case matches
        /// The values differ and `--update-snapshots` accepts them.
        case update([Difference])
        /// The values differ: fail.
        case differs([Difference])
    }

    /// Decides, from the file's text (nil: no file), the facts now, `--update-snapshots` and the
    /// `CI` variable (set and not "", "0" or "false" means under CI).
    static func decide(recorded text: String?, now: [Fact], update: Bool, ci: String?) -> Decision {
        guard let text else {
            let environment = ci ?? ""
            if !update && !["", "0", "false"].contains(environment.lowercased()) { return .missingUnderCI(environment) }
            return .writeNew
        }
        let found = differences(recorded: parse(text), now: now)
        if found.isEmpty { return .matches }
        return update ? .update(found) : .differs(found)
    }
}

/// The text of a snapshot file, for tools that write one for a scenario they generate
/// (`parley record`): the same format the `snapshot` step writes and reads.
public enum SnapshotText {
    /// The file's text for these facts, of the snapshot `name` of the scenario file `scenario`.
    public static func render(_ facts: [(name: String, value: String)], scenario: String, name: String) -> String {
        SnapshotFile.render(facts, scenario: scenario, name: name)
    }
}
