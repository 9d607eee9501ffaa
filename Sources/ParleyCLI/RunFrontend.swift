// SPDX-License-Identifier: Apache-2.0
import Foundation
import Reporting
import Runner
import Scenario

/// What `parley run` does, without a process around it: load, run, report, and choose the exit
/// status. Tests drive this directly.
public struct RunFrontend: Sendable {
    /// Exit statuses of `parley run`.
    public enum Status {
        public static let passed: Int32 = 0
        public static let failed: Int32 = 1
        public static let loadError: Int32 = 2
        public static let runError: Int32 = 3
    }

    /// Files or folders named on the command line.
    public var paths: [String]
    /// `--var` values.
    public var variables: [String: String]
    /// Whether to use ANSI colours.
    public var colour: Bool
    /// Where output goes.
    public var output: @Sendable (String) -> Void

    /// Creates a frontend.
    public init(paths: [String], variables: [String: String] = [:], colour: Bool = false, output: @escaping @Sendable (String) -> Void) {
        self.paths = paths
        self.variables = variables
        self.colour = colour
        self.output = output
    }

    /// Runs every scenario and returns the exit status.
    public func run() async -> Int32 {
        let files: [String]
        do {
            files = try Self.scenarioFiles(paths)
        } catch {
            output("error: \(error)\n")
            return Status.loadError
        }
        if files.isEmpty {
            output("error: no scenario files found in \(paths.joined(separator: ", "))\n")
            return Status.loadError
        }
        var loadErrors = 0
        let runner = ScenarioRunner(variables: variables)
        let reporter = ConsoleReporter(colour: colour, sink: output)
        var results: [ScenarioResult] = []
        for file in files {
            let scenario: Scenario
            do {
                scenario = try ScenarioRunner.loader.load(path: file)
            } catch {
                loadErrors += 1
                output(error.description + "\n")
                continue
            }
            results.append(await runner.run(scenario) { reporter.handle($0) })
        }
        let passed = results.filter { $0.outcome == .passed }.count
        let failed = results.filter { $0.outcome == .failed }.count
        let errors = results.filter { $0.outcome == .error }.count
        var summary = "\(passed) passed, \(failed) failed"
        if errors > 0 { summary += ", \(errors) could not run" }
        if loadErrors > 0 { summary += ", \(loadErrors) with file errors" }
        output(summary + "\n")
        if loadErrors > 0 { return Status.loadError }
        if errors > 0 { return Status.runError }
        if failed > 0 { return Status.failed }
        return Status.passed
    }

    /// The scenario files named by `paths`: files as given, folders searched for `*.yaml` and
    /// `*.yml` in name order.
    ///
    /// - Throws: when a path does not exist.
    static func scenarioFiles(_ paths: [String]) throws -> [String] {
        var files: [String] = []
        let manager = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CLIError("no such file or folder: \(path)")
            }
            if !isDirectory.boolValue {
                files.append(path)
                continue
            }
            var found: [String] = []
            if let walker = manager.enumerator(atPath: path) {
                while let item = walker.nextObject() as? String {
                    if item.hasSuffix(".yaml") || item.hasSuffix(".yml") {
                        found.append(path.hasSuffix("/") ? path + item : path + "/" + item)
                    }
                }
            }
            files += found.sorted()
        }
        return files
    }
}

/// A command-line problem, shown as its message.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
