// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServerProvider
import MailServers
import Scenario
import Testing

@testable import Runner

@Suite("Snapshot files")
struct SnapshotFileTests {
    @Test("the file sits in snapshots/ beside the scenario, named after the scenario and the step")
    func path() {
        #expect(SnapshotFile.path(scenarioFile: "/suite/mail/mx.yaml", name: "after-tls") == "/suite/mail/snapshots/mx.after-tls.txt")
        #expect(SnapshotFile.path(scenarioFile: "suite/mx.yml", name: "a") == "suite/snapshots/mx.a.txt")
        #expect(SnapshotFile.path(scenarioFile: "mx.yaml", name: "a") == "snapshots/mx.a.txt")
    }

    @Test("render and parse agree; comments, blank lines and CRLF are read; an empty value survives")
    func roundTrip() {
        let facts: [SnapshotFile.Fact] = [("greeting", "220 mx: ready"), ("alpn", ""), ("cipher", "TLS_AES_128_GCM_SHA256")]
        let text = SnapshotFile.render(facts, scenario: "/s/mx.yaml", name: "n")
        #expect(text.hasPrefix("# Parley snapshot 'n' of mx.yaml.\n"))
        let parsed = SnapshotFile.parse(text.replacingOccurrences(of: "\n", with: "\r\n") + "\n\n")
        #expect(parsed.map(\.name) == facts.map(\.name))
        #expect(parsed.map(\.value) == facts.map(\.value))
    }

    @Test("differences: changed and missing facts in the step's order; facts only in the file are not compared")
    func differences() {
        let recorded: [SnapshotFile.Fact] = [("tls-version", "TLS1.2"), ("cipher", "A"), ("group", "X25519")]
        let now: [SnapshotFile.Fact] = [("tls-version", "TLS1.3"), ("cipher", "A"), ("alpn", "none")]
        #expect(
            SnapshotFile.differences(recorded: recorded, now: now) == [
                .init(fact: "tls-version", recorded: "TLS1.2", now: "TLS1.3"),
                .init(fact: "alpn", recorded: nil, now: "none"),
            ])
        #expect(SnapshotFile.differences(recorded: recorded, now: Array(recorded)).isEmpty)
    }
}

@Suite("snapshot steps")
struct SnapshotStepTests {
    /// Writes a scenario into a scratch folder (so that its snapshots/ folder is real) and runs it.
    func run(
        _ steps: String,
        in folder: URL,
        update: Bool = false,
        environment: [String: String] = [:]
    ) async throws -> ScenarioResult {
        let file = folder.appendingPathComponent("mx.yaml").path
        try scenarioText(steps).replacingOccurrences(of: "name: test\n", with: "name: test\npreset: smtp\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let scenario = try ScenarioRunner.loader(serverProvider: MailServerProvider()).load(path: file)
        var runner = ScenarioRunner(environment: environment, serverProvider: MailServerProvider())
        runner.updateSnapshots = update
        return await runner.run(scenario) { _ in }
    }

    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("parley-snapshot-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static let dialog = """
          - connect:
          - greeting:
          - capability:
          - snapshot: {name: plain, facts: [tls-version, capabilities-before-tls]}
          - starttls: {ca-file: \(certs)/ca.pem, server-name: mail.test}
          - capability:
          - snapshot: tls
        """

    @Test("the first run writes the files; the next one compares and passes")
    func writeThenMatch() async throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = try await run(Self.dialog, in: folder)
        #expect(first.outcome == .passed, "\(String(describing: first.failure))")
        let plain = try String(contentsOfFile: folder.appendingPathComponent("snapshots/mx.plain.txt").path, encoding: .utf8)
        #expect(
            SnapshotFile.parse(plain).map { "\($0.name): \($0.value)" } == [
                "capabilities-before-tls: 8BITMIME ENHANCEDSTATUSCODES PIPELINING SIZE SMTPUTF8 STARTTLS", "tls-version: -",
            ])
        let tls = SnapshotFile.parse(
            try String(contentsOfFile: folder.appendingPathComponent("snapshots/mx.tls.txt").path, encoding: .utf8))
        #expect(tls.map(\.name) == Step.Snapshot.defaultFacts)
        #expect(tls.first { $0.name == "tls-version" }?.value == "TLS1.3")
        #expect(tls.first { $0.name == "peer-issuer" }?.value == "CN=Parley Test CA,O=Parley")
        #expect(tls.first { $0.name == "verified" }?.value == "yes")
        let second = try await run(Self.dialog, in: folder)
        #expect(second.outcome == .passed, "\(String(describing: second.failure))")
    }

    @Test("a changed fact fails the step with the recorded and the new value; --update-snapshots accepts it")
    func changeFailsThenUpdates() async throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try await run(Self.dialog, in: folder)
        let path = folder.appendingPathComponent("snapshots/mx.tls.txt").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "tls-version: TLS1.3", with: "tls-version: TLS1.2")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let changed = try await run(Self.dialog, in: folder)
        #expect(changed.outcome == .failed)
        let failure = try #require(changed.failure)
        #expect(failure.kind == .assertion)
        #expect(failure.message.hasPrefix("snapshot 'tls' differs from \(path) in 1 of 11 facts (tls-version)"))
        #expect(failure.expected == "tls-version: TLS1.2")
        #expect(failure.actual == "tls-version: TLS1.3")
        let updated = try await run(Self.dialog, in: folder, update: true)
        #expect(updated.outcome == .passed)
        #expect(try String(contentsOfFile: path, encoding: .utf8).contains("tls-version: TLS1.3\n"))
    }

    @Test("under CI a missing file fails the step and is not written, unless snapshots are being updated")
    func missingUnderCI() async throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try await run(Self.dialog, in: folder, environment: ["CI": "true"])
        #expect(result.outcome == .failed)
        #expect(result.failure?.message.contains("has no file") == true)
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("snapshots").path))
        let updated = try await run(Self.dialog, in: folder, update: true, environment: ["CI": "true"])
        #expect(updated.outcome == .passed)
        let notCI = try await run(Self.dialog, in: folder, environment: ["CI": "false"])
        #expect(notCI.outcome == .passed)
    }
}
