// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyCLI
import ParleyTestSupport
import Testing

@Suite("parley run --matrix: one run per value, shards over the product")
struct MatrixTests {
    @Test("shards split the scenario x value product: disjoint, and together every pair", arguments: [1, 2, 3, 4, 7, 40])
    func shardsCoverTheProduct(_ total: Int) async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["a", "b", "c"] {
            try """
            name: \(name)
            server: {protocol: smtp, starttls: false}
            steps:
              - connect:
              - expect: '^220 '
              - assert: {variables: {DOMAIN: '${DOMAIN}'}}
            """.write(to: folder.appendingPathComponent("\(name).yaml"), atomically: true, encoding: .utf8)
        }
        let values = (1...6).map { "d\($0).test" }
        let list = folder.appendingPathComponent("domains.txt")
        try ("# customer domains\n\n" + values.joined(separator: "\n  ") + "\n").write(to: list, atomically: true, encoding: .utf8)
        var seen: [String] = []
        for index in 1...total {
            let output = Output()
            var frontend = RunFrontend(paths: [folder.path]) { output.write($0) }
            frontend.matrix = ("DOMAIN", list.path)
            frontend.shard = RunFrontend.Shard(parsing: "\(index)/\(total)")
            frontend.jobs = 4
            let status = await frontend.run()
            #expect(status == 0, "\(output.all)")
            #expect(output.all.contains("=== matrix DOMAIN: 6 values from \(list.path), 18 runs\n"))
            let names = output.all.components(separatedBy: "\n").filter { $0.hasPrefix("=== scenario: ") }.map {
                String($0.dropFirst("=== scenario: ".count).prefix { $0 != "(" }).trimmingCharacters(in: .whitespaces)
            }
            seen += names
        }
        let expected = ["a", "b", "c"].flatMap { scenario in values.map { "\(scenario) [DOMAIN=\($0)]" } }
        #expect(seen.count == expected.count, "each pair runs in exactly one shard")
        #expect(seen.sorted() == expected.sorted())
    }

    @Test("matrix files: values trimmed, blank lines and comments skipped, CR LF line ends too")
    func values() {
        let bytes = Array("# list\r\nexample.org\r\n\r\n  example.net  \n#x\nexample.com".utf8)
        #expect(RunFrontend.matrixValues(bytes) == ["example.org", "example.net", "example.com"])
    }

    @Test("an unreadable or empty matrix file is a usage error (exit 2) that names it")
    func badFile() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try "name: a\nsteps:\n  - sleep: 0.01\n".write(to: folder.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        let empty = folder.appendingPathComponent("empty.txt")
        try "# nothing\n\n".write(to: empty, atomically: true, encoding: .utf8)
        for (path, words) in [(empty.path, "has no values"), (folder.appendingPathComponent("missing.txt").path, "cannot read")] {
            let output = Output()
            var frontend = RunFrontend(paths: [folder.appendingPathComponent("a.yaml").path]) { output.write($0) }
            frontend.matrix = ("DOMAIN", path)
            #expect(await frontend.run() == 2)
            #expect(output.all.contains(words) && output.all.contains(path), "\(output.all)")
        }
    }

    @Test("a trust anchor that cannot be read is a usage error before anything runs")
    func badTrustAnchor() async throws {
        let folder = try scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try "name: a\nsteps:\n  - sleep: 0.01\n".write(to: folder.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        let output = Output()
        var frontend = RunFrontend(paths: [folder.path]) { output.write($0) }
        frontend.trustAnchor = folder.appendingPathComponent("nope.key").path
        #expect(await frontend.run() == 2)
        #expect(output.all.contains("nope.key"), "\(output.all)")
    }
}
