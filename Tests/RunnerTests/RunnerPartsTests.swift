// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import NetworkStream
import Patterns
import Scenario
import Testing

@testable import Runner

/// The runner's pure parts, each tested where it lives: no server, no connection.
private let here = SourceLocation(file: "t.yaml", line: 3, column: 5)

private func template(_ text: String) -> Template { Template(text, at: here) }

@Suite("The runner's parts, as values")
struct RunnerPartsTests {
    // MARK: Variables

    @Test("a name is looked up: runtime, then --var, then variables:, then the built-ins, then the environment")
    func lookupOrder() {
        var scope = VariableScope(commandLine: ["A": "cli", "B": "cli"], environment: ["A": "env", "E": "env"], folder: "/s")
        scope.defaults = ["A": "default", "B": "default", "C": "default"]
        scope.runtime = ["A": "runtime"]
        scope.servers = ["server": ("127.0.0.1", 2525)]
        scope.currentHost = "mx.test"
        #expect(scope.lookup("A") == "runtime")
        #expect(scope.lookup("B") == "cli")
        #expect(scope.lookup("C") == "default")
        #expect(scope.lookup("E") == "env")
        #expect(scope.lookup("client-name") == "parley.test")
        #expect(scope.lookup("server-name") == "mx.test")
        #expect(scope.lookup("server.host") == "127.0.0.1")
        #expect(scope.lookup("server.port") == "2525")
        #expect(scope.lookup("missing") == nil)
    }

    @Test("an unset reference fails at its place; paths with variables resolve against the scenario's folder")
    func expandAndPaths() throws {
        var scope = VariableScope(
            commandLine: ["CERTS": "certs", "ABS": "/etc/ssl", "EMPTY": ""],
            environment: ["ENV_CA": "env/ca.pem", "HOME_DIR": "home"],
            folder: "/suite/dir",
            workingDirectory: "/work"
        )
        scope.defaults = ["SUITE_CERTS": "own", "HOME_DIR": "suite-home"]
        #expect(try scope.expand(template("${CERTS}/ca.pem")) == "certs/ca.pem")
        #expect(throws: Failure.self) { try scope.expand(template("${NOPE}")) }
        // From the command line or the environment: relative to the working directory.
        #expect(try scope.resolvePath("${CERTS}/../ca.pem", at: here) == "/work/ca.pem")
        #expect(try scope.resolvePath("${ENV_CA}", at: here) == "/work/env/ca.pem")
        // Written in the scenario (its variables, or a path that only uses a variable later on):
        // relative to the scenario's folder.
        #expect(try scope.resolvePath("${SUITE_CERTS}/ca.pem", at: here) == "/suite/dir/own/ca.pem")
        #expect(try scope.resolvePath("${HOME_DIR}/ca.pem", at: here) == "/suite/dir/suite-home/ca.pem")
        #expect(try scope.resolvePath("certs/${CERTS}.pem", at: here) == "/suite/dir/certs/certs.pem")
        #expect(try scope.resolvePath("${ABS}/ca.pem", at: here) == "/etc/ssl/ca.pem")
        #expect(try scope.resolvePath("plain.pem", at: here) == "plain.pem")  // resolved at load time
        // Empty: no file (a ca-file then means the system trust store).
        #expect(try scope.resolvePath("${EMPTY}", at: here) == nil)
        var tls = TLSOptions()
        #expect(try scope.serverName(tls, host: "mx.test") == "mx.test")
        #expect(try scope.serverName(tls, host: "") == nil)
        tls.serverName = template("${CERTS}.example")
        #expect(try scope.serverName(tls, host: "mx.test") == "certs.example")
    }

    // MARK: STARTTLS

    private func starttls(required: Bool, word: String? = "STARTTLS", expectFailure: Bool = false) -> Step.StartTLS {
        var step = Step.StartTLS(
            command: template("STARTTLS\r\n"),
            reply: PatternSpec("^\\d{3} ", at: here),
            success: PatternSpec("^220", at: here),
            tls: TLSOptions()
        )
        step.required = required
        step.capabilityWord = word
        step.expectFailure = expectFailure
        return step
    }

    @Test("stripping: a capability list without STARTTLS fails a mandatory step and skips an opportunistic one")
    func stripping() throws {
        let stripped = Array("250-mail.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n".utf8)
        let offered = Array("250-mail.test\r\n250 STARTTLS\r\n".utf8)
        #expect(try StartTLSPolicy.before(starttls(required: false), capabilitiesBeforeTLS: stripped, at: here) == .notOffered)
        #expect(try StartTLSPolicy.before(starttls(required: true), capabilitiesBeforeTLS: offered, at: here) == .attempt)
        #expect(try StartTLSPolicy.before(starttls(required: true), capabilitiesBeforeTLS: nil, at: here) == .attempt)
        #expect(try StartTLSPolicy.before(starttls(required: true, word: nil), capabilitiesBeforeTLS: stripped, at: here) == .attempt)
        do {
            _ = try StartTLSPolicy.before(starttls(required: true), capabilitiesBeforeTLS: stripped, at: here)
            Issue.record("a stripped STARTTLS passed a mandatory step")
        } catch {
            #expect(error.kind == .expectation)
            #expect(error.actual == "8BITMIME PIPELINING")
            #expect(error.location == here)
        }
    }

    @Test("after a failed attempt: refused (mandatory or not), an expected handshake failure, anything else")
    func afterFailure() {
        let refused = NetworkError(.starttlsRefused, message: "the server refused STARTTLS")
        let handshake = NetworkError(.tls, message: "TLS: bad certificate")
        let timeout = NetworkError(.timeout, message: "timed out")
        #expect(StartTLSPolicy.after(refused, step: starttls(required: true)) == .refusedMandatory)
        #expect(StartTLSPolicy.after(refused, step: starttls(required: false)) == .refusedOpportunistic)
        #expect(StartTLSPolicy.after(handshake, step: starttls(required: true, expectFailure: true)) == .expectedHandshakeFailure)
        #expect(StartTLSPolicy.after(handshake, step: starttls(required: true)) == .fail)
        #expect(StartTLSPolicy.after(timeout, step: starttls(required: false, expectFailure: true)) == .fail)
    }

    // MARK: Snapshots

    @Test("a snapshot file: written when missing (not under CI), compared, updated only when asked")
    func snapshotDecisions() {
        let now: [SnapshotFile.Fact] = [("tls-version", "TLS1.3"), ("cipher", "X")]
        let same = SnapshotFile.render(now, scenario: "s.yaml", name: "n")
        let other = SnapshotFile.render([("tls-version", "TLS1.2"), ("cipher", "X")], scenario: "s.yaml", name: "n")
        #expect(SnapshotFile.decide(recorded: nil, now: now, update: false, ci: nil) == .writeNew)
        #expect(SnapshotFile.decide(recorded: nil, now: now, update: false, ci: "false") == .writeNew)
        #expect(SnapshotFile.decide(recorded: nil, now: now, update: false, ci: "true") == .missingUnderCI("true"))
        #expect(SnapshotFile.decide(recorded: nil, now: now, update: true, ci: "true") == .writeNew)
        #expect(SnapshotFile.decide(recorded: same, now: now, update: false, ci: "true") == .matches)
        let change = [SnapshotFile.Difference(fact: "tls-version", recorded: "TLS1.2", now: "TLS1.3")]
        #expect(SnapshotFile.decide(recorded: other, now: now, update: false, ci: nil) == .differs(change))
        #expect(SnapshotFile.decide(recorded: other, now: now, update: true, ci: nil) == .update(change))
    }

    // MARK: Facts

    private var checker: FactCheck {
        FactCheck(
            compile: { spec throws(Failure) in
                do { return try BytePattern(spec.source, options: [.multiline]) } catch {
                    throw Failure(.runtime, at: spec.location, "bad pattern")
                }
            },
            expand: { $0.raw },
            lookup: { $0 == "starttls" ? "upgraded" : nil },
            hideSecrets: { $0 }
        )
    }

    private func failure(_ fact: Step.Check.Fact, _ facts: ConnectionFacts) -> Failure? {
        do {
            try checker.verify(Step.Check(fact, at: here), facts)
            return nil
        } catch {
            return error
        }
    }

    @Test("facts: status, TLS only while open, versions in order, the peer's names, capabilities, variables")
    func facts() {
        var facts = ConnectionFacts()
        facts.status = "open"
        #expect(failure(.status("open"), facts) == nil)
        #expect(failure(.status("closed"), facts)?.message == "assertion failed: status is open, expected closed")
        #expect(failure(.tls(true), facts) != nil)
        #expect(failure(.tlsVersion("TLS1.3"), facts)?.message == "'tls-version' needs a TLS session, and there is none")
        let leaf = CertificateFacts(
            subject: "CN=localhost",
            issuer: "CN=Parley Test CA",
            subjectAlternativeNames: ["DNS:localhost"],
            notBefore: Date(timeIntervalSince1970: 0),
            notAfter: Date().addingTimeInterval(40 * 86_400)
        )
        facts.tls = TLSFacts(version: "TLS1.2", cipher: "TLS_ECDHE_ECDSA_AES_128_GCM_SHA256", peerCertificates: [leaf], verified: true)
        #expect(failure(.tls(true), facts) == nil)
        #expect(failure(.minimumTLSVersion("TLS1.2"), facts) == nil)
        #expect(failure(.minimumTLSVersion("TLS1.3"), facts)?.expected == "TLS1.3 or later")
        #expect(failure(.peerSAN("DNS:localhost"), facts) == nil)
        #expect(failure(.peerSAN("DNS:mail.test"), facts)?.actual == "DNS:localhost")
        #expect(failure(.daysLeft(30), facts) == nil)
        #expect(failure(.daysLeft(60), facts) != nil)
        #expect(failure(.cipher(PatternSpec("AES_128", at: here)), facts) == nil)
        facts.status = "closed"
        #expect(failure(.tls(true), facts)?.actual == "false")
        facts.capabilitiesBeforeTLS = Array("250-mail.test\r\n250-STARTTLS\r\n250 SIZE 100\r\n".utf8)
        let has = Step.Check.CapabilityCheck(phase: .beforeTLS, has: ["starttls"], lacks: ["AUTH"])
        #expect(failure(.capabilities(has), facts) == nil)
        let after = Step.Check.CapabilityCheck(phase: .afterTLS, has: ["AUTH"], lacks: [])
        #expect(failure(.capabilities(after), facts)?.message.contains("add a 'capability' step") == true)
        #expect(failure(.streamType("tls"), facts)?.message == "'stream-type' needs an 'open' step first")
        facts.opened = ("plain", "Server does not support TLS")
        #expect(failure(.streamType("tls"), facts)?.actual == "plain")
        #expect(failure(.streamError(PatternSpec("does not support", at: here)), facts) == nil)
        #expect(failure(.variable(name: "starttls", value: template("upgraded")), facts) == nil)
        #expect(failure(.variable(name: "other", value: template("x")), facts)?.actual == "(not set)")
    }

    @Test("snapshot values come from the same facts: '-' for what the connection does not have")
    func snapshotValues() {
        var facts = ConnectionFacts()
        #expect(facts.snapshotValue("tls-version") == "-")
        #expect(facts.snapshotValue("greeting") == "-")
        facts.greeting = Array("220 mail.test ESMTP\r\n".utf8)
        facts.tls = TLSFacts(version: "TLS1.3", cipher: "C", verified: false, verificationProblems: ["expired"])
        #expect(facts.snapshotValue("greeting") == "220 mail.test ESMTP")
        #expect(facts.snapshotValue("group") == "none")
        #expect(facts.snapshotValue("verified") == "no: expired")
        #expect(facts.snapshotValue("peer-subject") == "-")
    }

    // MARK: Open steps and TLS contexts

    @Test("an open step's parameters: type nil is network, one timeout for all, verification and SNI")
    func openMapping() throws {
        var open = Step.Open()
        open.type = .nil
        open.timeout = .seconds(3)
        open.tls.insecure = true
        open.capabilityCommand = template("EHLO ${client-name}\r\n")
        let scope = VariableScope(commandLine: [:], environment: [:], folder: "/s")
        let parameters = try OpenStepMapping.parameters(open, host: "mx.test", scope: scope, timeouts: Timeouts(), at: here)
        #expect(parameters.type == .network)
        #expect(parameters.timeouts.handshake == .seconds(3))
        #expect(parameters.timeouts.greeting == .seconds(3))
        #expect(!parameters.tls.verify)
        #expect(parameters.tls.serverName == "mx.test")
        guard case .bytes(let command)? = parameters.capabilityCommand else {
            Issue.record("no capability command")
            return
        }
        #expect(command == Array("EHLO parley.test\r\n".utf8))
    }

    @Test("TLS contexts are cached by what they load: verification on and off are two contexts")
    func contextKeys() {
        var options = TLSOptions()
        let verified = TLSContextFactory.configuration(options, caFile: "/ca.pem", clientCertificate: nil, clientKey: nil)
        options.insecure = true
        let insecure = TLSContextFactory.configuration(options, caFile: "/ca.pem", clientCertificate: nil, clientKey: nil)
        #expect(TLSContextFactory.key(verified) != TLSContextFactory.key(insecure))
        #expect(TLSContextFactory.key(verified) == "file:/ca.pem|verify|NORMAL|||")
    }

    // MARK: Failures

    @Test("engine errors become failures of the right class; the reproducer is left out for embedded servers")
    func failures() {
        let timeout = NetworkError(.timeout, wait: .expect, deadline: .seconds(2), message: "timed out", tail: [65])
        let failure = Failure(timeout, at: here, expected: "^250", hide: { _ in [42] })
        #expect(failure.kind == .expectation)
        #expect(failure.wait == .expect)
        #expect(failure.deadlineText == "2s")
        #expect(failure.tail == [42])
        #expect(Failure.kind(of: NetworkError(.timeout, wait: .handshake, message: "")) == .runtime)
        #expect(Failure.kind(of: NetworkError(.closedByPeer, wait: .expect, message: "")) == .expectation)
        let target = ConnectionTarget(host: "127.0.0.1", port: 2525, implicitTLS: false)
        let embedded = failure.enriched(
            target: target,
            embeddedServers: [("127.0.0.1", 2525)],
            runtime: ["password": "hunter2", "x": "1"],
            secrets: ["password"],
            hide: { $0 }
        )
        #expect(embedded.reproduce.isEmpty)
        #expect(embedded.variables == ["password": "****", "x": "1"])
        let outside = failure.enriched(target: target, embeddedServers: [], runtime: [:], secrets: [], hide: { $0 })
        #expect(!outside.reproduce.isEmpty)
    }
}
