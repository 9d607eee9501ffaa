// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyCLI
import ParleyTestSupport
import Testing

@Suite("Load mode")
struct LoadFrontendTests {
    /// Writes a scenario with these steps against an embedded plain SMTP server, in a new scratch
    /// folder; returns the folder (for the caller to remove) and the file.
    static func scenario(_ steps: String) throws -> (folder: URL, file: String) {
        let folder = try scratchFolder()
        let file = folder.appendingPathComponent("load.yaml").path
        try """
        name: load
        server: {protocol: smtp, starttls: false}
        timeouts: {connect: 30s, expect: 30s}
        steps:
        \(steps)
        """.write(toFile: file, atomically: true, encoding: .utf8)
        return (folder, file)
    }

    @Test("percentiles from the histogram: within 0.1 % of the nearest-rank ones, the maximum exact")
    func percentiles() throws {
        let samples = (1...100).map { Duration.milliseconds($0) }
        let latency = try #require(LoadFrontend.Latency(samples.shuffled()))
        func near(_ value: Duration, _ exact: Duration) -> Bool {
            let difference = value > exact ? value - exact : exact - value
            return difference * 1000 <= exact
        }
        #expect(latency.count == 100)
        #expect(near(latency.p50, .milliseconds(50)))
        #expect(near(latency.p90, .milliseconds(90)))
        #expect(near(latency.p99, .milliseconds(99)))
        #expect(latency.max == .milliseconds(100))
        let one = try #require(LoadFrontend.Latency([.seconds(2)]))
        #expect(one.p50 == .seconds(2) && one.p99 == .seconds(2))
        #expect(LoadFrontend.Latency([Duration]()) == nil)
    }

    @Test("40 sessions, 4 in flight: every session counted, per-step figures, errors by class, JSON written")
    func loadRun() async throws {
        let (folder, file) = try Self.scenario(
            """
              - connect:
              - expect: '^220 .*\\r\\n'
              - send: {line: NOOP}
              - expect: '^250 '
            """)
        defer { try? FileManager.default.removeItem(at: folder) }
        let json = folder.appendingPathComponent("load.json").path
        let output = Output()
        var load = LoadFrontend(file: file, sessions: 40, concurrency: 4) { output.write($0) }
        load.jsonPath = json
        let status = await load.run()
        #expect(status == 0, "\(output.all)")
        #expect(output.all.contains("=== 40 sessions, concurrency 4, "))
        #expect(output.all.contains("40 passed"))
        #expect(output.all.contains("=== errors: none"))
        #expect(output.all.contains("=== socket options: TCP_NODELAY on (SwiftNIO's default), TCP_QUICKACK set after each flush"))
        #expect(output.all.contains("4 expect (line 8)"))
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        let figures = try #require(document?["load"] as? [String: Any])
        #expect(figures["sessions"] as? Int == 40)
        #expect(figures["passed"] as? Int == 40)
        #expect((figures["socket"] as? [String: Bool]) == ["tcp_nodelay": true, "tcp_quickack_after_flush": true])
        let steps = try #require(figures["steps"] as? [[String: Any]])
        #expect(steps.count == 4)
        #expect(steps.allSatisfy { (($0["latency"] as? [String: Any])?["count"] as? Int) == 40 })
        #expect(((figures["session"] as? [String: Any])?["p99_ms"] as? Double ?? 0) > 0)
    }

    @Test("more workers than sessions: exactly the sessions asked for run")
    func fewerSessionsThanConcurrency() async throws {
        let (folder, file) = try Self.scenario(
            """
              - connect:
              - expect: '^220 .*\\r\\n'
            """)
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = Output()
        let status = await LoadFrontend(file: file, sessions: 3, concurrency: 10) { output.write($0) }.run()
        #expect(status == 0, "\(output.all)")
        #expect(output.all.contains("=== 3 sessions, concurrency 10, "))
        #expect(output.all.contains("3 passed"))
    }

    @Test("failing sessions are counted by class and set the exit status")
    func failures() async throws {
        let (folder, file) = try Self.scenario(
            """
              - connect:
              - expect: {pattern: '^599 ', timeout: 100ms}
            """)
        defer { try? FileManager.default.removeItem(at: folder) }
        let output = Output()
        let status = await LoadFrontend(file: file, sessions: 6, concurrency: 3) { output.write($0) }.run()
        #expect(status == 1)
        #expect(output.all.contains("*** errors: 6 expectation (expect)"))
    }
}
