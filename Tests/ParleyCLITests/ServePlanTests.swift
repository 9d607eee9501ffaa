// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import MailServers
import Testing

@testable import ParleyCLI

@Suite("parley serve's plan: listeners, ports, accounts and faults")
struct ServePlanTests {
    @Test(
        "serve all: seven listeners on GreenMail's ports unless told; submission requires AUTH; TLS from the start on smtps, imaps, pop3s")
    func allDefaults() throws {
        let plan = ServePlan.all(ports: ["imap": 0], users: ["alice": "secret"], faults: [])
        #expect(plan.listeners.map(\.name) == ["smtp", "submission", "smtps", "imap", "imaps", "pop3", "pop3s"])
        #expect(plan.listeners.map(\.port) == [3025, 3587, 3465, 0, 3993, 3110, 3995])
        #expect(plan.listeners.filter(\.implicitTLS).map(\.name) == ["smtps", "imaps", "pop3s"])
        #expect(plan.listeners.filter(\.requireAuth).map(\.name) == ["submission"])
        #expect(plan.httpPort == 8025)
    }

    @Test("a fault applies to every listener, or to the one its LISTENER: prefix names")
    func scopedFaults() throws {
        let faults = try ["slow-greeting=2", "imap:refuse-starttls"].map { try ServePlan.ScopedFault(parsing: $0) }
        let plan = ServePlan.all(ports: [:], users: [:], faults: faults)
        let byName = Dictionary(uniqueKeysWithValues: plan.listeners.map { ($0.name, $0.faults.map(\.description)) })
        #expect(byName["imap"] == ["slow-greeting=2", "refuse-starttls"])
        #expect(byName["imaps"] == ["slow-greeting=2"])
        #expect(byName["smtp"] == ["slow-greeting=2"])
        #expect(throws: ServePlanError.self) { try ServePlan.ScopedFault(parsing: "nntp:refuse-starttls") }
        #expect(throws: (any Error).self) { try ServePlan.ScopedFault(parsing: "imap:no-such-fault") }
    }

    @Test("--user NAME:PASSWORD repeats (a password may hold colons); --password goes with one plain --user")
    func users() throws {
        #expect(try ServePlan.users(["alice:secret", "bob:a:b"], password: nil) == ["alice": "secret", "bob": "a:b"])
        #expect(try ServePlan.users(["bob"], password: "hunter2") == ["bob": "hunter2"])
        #expect(throws: ServePlanError.self) { try ServePlan.users(["bob"], password: nil) }
        #expect(throws: ServePlanError.self) { try ServePlan.users([":x"], password: nil) }
        #expect(throws: ServePlanError.self) { try ServePlan.users(["a", "b"], password: "p") }
    }

    @Test("serve smtp|imap|pop3: one listener on --port, named with an s under implicit TLS")
    func single() {
        let plan = ServePlan.single(.pop3, port: 0, implicitTLS: true, users: ["a": "b"], faults: [])
        #expect(plan.listeners.map(\.name) == ["pop3s"])
        #expect(plan.httpPort == nil)
    }

    @Test("the command line: serve all refuses --port and --implicit-tls; serve smtp refuses --imap-port")
    func validation() throws {
        #expect(throws: (any Error).self) { try ServeCommand.parse(["all", "--port", "25"]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["all", "--implicit-tls"]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["smtp", "--imap-port", "1"]) }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["all", "--user", "nopassword"]) }
        let command = try ServeCommand.parse(["all", "--imap-port", "0", "--user", "x:y", "--fault", "smtp:no-starttls"])
        let plan = try command.plan()
        #expect(plan.users == ["x": "y"])
        #expect(plan.listeners.first { $0.name == "smtp" }?.faults.map(\.description) == ["no-starttls"])
    }
}
