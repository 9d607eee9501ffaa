// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServerProvider
import Runner
import Scenario
import Testing

/// The folder of malformed scenarios; each `NAME.yaml` has its exact expected diagnostics in
/// `NAME.expected` (paths shown relative to the folder).
let malformedFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Malformed")

/// The malformed files, by name.
let malformedFiles: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: malformedFolder.path)) ?? []
    return names.filter { $0.hasSuffix(".yaml") }.sorted()
}()

/// What the loader says about a file, with the folder stripped from paths.
func renderedDiagnostics(_ name: String) -> String {
    let path = malformedFolder.appendingPathComponent(name).path
    do {
        _ = try ScenarioRunner.loader(serverProvider: MailServerProvider()).load(path: path)
        return "(loaded without errors)\n"
    } catch {
        return error.description.replacingOccurrences(of: malformedFolder.path + "/", with: "")
    }
}

@Suite("Malformed scenarios")
struct MalformedScenarioTests {
    @Test("there are at least 30 malformed scenarios, each with its expected diagnostics")
    func corpus() {
        #expect(malformedFiles.count >= 30)
        for name in malformedFiles {
            let expected = malformedFolder.appendingPathComponent(name.replacingOccurrences(of: ".yaml", with: ".expected"))
            #expect(FileManager.default.fileExists(atPath: expected.path), "\(name) has no .expected file")
        }
    }

    @Test("each malformed scenario gives exactly its expected diagnostics", arguments: malformedFiles)
    func diagnostics(_ name: String) throws {
        let expectedFile = malformedFolder.appendingPathComponent(name.replacingOccurrences(of: ".yaml", with: ".expected"))
        let expected = try String(contentsOf: expectedFile, encoding: .utf8)
        #expect(renderedDiagnostics(name) == expected)
    }
}
