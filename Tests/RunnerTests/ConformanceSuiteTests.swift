// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServerProvider
import MailServers
import NetworkStream
import ParleyTestSupport
import Runner
import Scenario
import Testing

/// Runs the conformance suites (`suites/conformance/`) against the fake servers, set up the way
/// `ci/conformance` sets up Dovecot and Postfix: one server per scenario, reached through the
/// suites' variables. The correct server passes every check; each fault knob that breaks a
/// security property makes the check for it fail.
enum ConformanceTarget: Sendable {
    case smtp, smtps, imap, imaps, pop3, pop3s

    /// The server a conformance file talks to, from its name.
    init(file: String) {
        let name = (file as NSString).lastPathComponent
        func has(_ word: String) -> Bool { name.contains(word) }
        if has("smtps") {
            self = .smtps
        } else if has("imaps") {
            self = .imaps
        } else if has("pop3s") {
            self = .pop3s
        } else if has("imap") {
            self = .imap
        } else if has("pop3") {
            self = .pop3
        } else {
            self = .smtp
        }
    }

    var mailProtocol: MailProtocol {
        switch self {
        case .smtp, .smtps: .smtp
        case .imap, .imaps: .imap
        case .pop3, .pop3s: .pop3
        }
    }

    var implicitTLS: Bool {
        switch self {
        case .smtps, .imaps, .pop3s: true
        default: false
        }
    }
}

/// The conformance files, relative to the repository, sorted; `informative/` separately.
func conformanceFiles(informative: Bool = false) -> [String] {
    let folder = "suites/conformance" + (informative ? "/informative" : "")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: SourceTree.root.appendingPathComponent(folder).path)) ?? []
    return names.filter { $0.hasSuffix(".yaml") }.sorted().map { "\(folder)/\($0)" }
}

/// The `--var` settings `ci/conformance` passes, pointed at one fake server. The fake servers
/// discard pipelined plaintext after STARTTLS, so the DISCARD variants of the IMAP and POP3
/// injection checks apply to them.
func conformanceVariables(host: String, port: Int) -> [String: String] {
    var variables = [
        "SERVER_NAME": "mail.test", "MAIL_USER": "alice", "MAIL_PASSWORD": "secret",
        "IMAP_INJECTION_DISCARDS": "yes", "POP3_INJECTION_DISCARDS": "yes",
        // The fake servers present the test PKI's certificate; a user's run gives their CA
        // bundle, or none for the system trust store.
        "CA_FILE": FixtureCertificates.path("ca.pem"),
    ]
    for name in ["SMTP", "SUBMISSION", "IMAP", "POP3"] {
        variables["\(name)_HOST"] = host
    }
    for name in ["SMTP", "SUBMISSION", "SMTPS", "IMAP", "IMAPS", "POP3", "POP3S"] {
        variables["\(name)_PORT"] = String(port)
    }
    return variables
}

/// Runs one conformance file against a fake server with these fault knobs.
func runConformance(
    _ file: String,
    faults: [String] = [],
    variables extra: [String: String] = [:]
) async throws -> (ScenarioResult, [RunEvent]) {
    let target = ConformanceTarget(file: file)
    let configuration = FakeMailServer.Configuration(
        protocol: target.mailProtocol,
        tls: try FixtureCertificates.serverContext(),
        implicitTLS: target.implicitTLS,
        faults: try faults.map { try MailServerFault(parsing: $0) }
    )
    let scenario = try ScenarioRunner.loader(serverProvider: MailServerProvider()).load(
        path: SourceTree.root.appendingPathComponent(file).path)
    return try await withFakeMailServer(configuration) { server in
        let variables = conformanceVariables(host: server.host, port: server.port).merging(extra) { $1 }
        let events = Events()
        let result = await ScenarioRunner(variables: variables, environment: [:], serverProvider: MailServerProvider()).run(scenario) {
            events.add($0)
        }
        return (result, events.all)
    }
}

/// The failure's message, or a note that there is none.
func describe(_ result: ScenarioResult) -> String {
    "\(result.outcome): \(result.failure.map { "\($0)" } ?? "no failure")"
}

@Suite("Conformance suites against the fake servers")
struct ConformanceSuiteTests {
    /// The files that check the CLOSE defence against command injection; the fake servers discard.
    static let closeVariants: Set<String> = [
        "suites/conformance/security-imap-command-injection-closes.yaml",
        "suites/conformance/security-pop3-command-injection-closes.yaml",
    ]

    @Test("without the suites' variables every conformance scenario is skipped")
    func skippedByDefault() async throws {
        let files = conformanceFiles() + conformanceFiles(informative: true)
        #expect(files.count >= 20)
        for file in files {
            let scenario = try ScenarioRunner.loader(serverProvider: MailServerProvider()).load(
                path: SourceTree.root.appendingPathComponent(file).path)
            let result = await ScenarioRunner(variables: [:], environment: [:], serverProvider: MailServerProvider()).run(scenario) { _ in }
            #expect(result.outcome == .skipped, "\(file): \(describe(result))")
        }
    }

    @Test(
        "every conformance check passes against the correct fake server",
        arguments: conformanceFiles().filter { !ConformanceSuiteTests.closeVariants.contains($0) }
    )
    func passesAgainstCorrectServer(_ file: String) async throws {
        let (result, _) = try await runConformance(file)
        #expect(result.outcome == .passed, "\(file): \(describe(result))")
    }

    @Test(
        "command injection: the vulnerable-pipelining knob is reported as vulnerable",
        arguments: [
            "suites/conformance/security-smtp-command-injection.yaml",
            "suites/conformance/security-smtp-command-injection-split.yaml",
            "suites/conformance/security-imap-command-injection.yaml",
            "suites/conformance/security-pop3-command-injection.yaml",
        ]
    )
    func commandInjectionVulnerable(_ file: String) async throws {
        let (result, events) = try await runConformance(file, faults: ["vulnerable-pipelining"])
        #expect(result.outcome == .failed, "\(file): \(describe(result))")
        // It fails where the reply to the injected command arrives under TLS, unasked.
        #expect(
            result.failure?.message.contains("nothing") == true || result.failure?.message.contains("arrived") == true,
            "\(describe(result))")
        let received = receivedText(events)
        #expect(!received.isEmpty)
    }

    @Test(
        "command injection, CLOSE defence: a server that discards or runs the command fails it",
        arguments: Array(ConformanceSuiteTests.closeVariants).sorted(), [[], ["vulnerable-pipelining"]]
    )
    func closeVariantFailsAgainstServersThatDoNotClose(_ file: String, _ faults: [String]) async throws {
        let (result, _) = try await runConformance(
            file, faults: faults, variables: ["IMAP_INJECTION_CLOSES": "yes", "POP3_INJECTION_CLOSES": "yes"])
        #expect(result.outcome == .failed, "\(file) \(faults): \(describe(result))")
    }

    @Test(
        "response injection: plaintext after the go-ahead is discarded, counted and fails the check",
        arguments: [
            "suites/conformance/security-smtp-response-injection.yaml",
            "suites/conformance/security-imap-response-injection.yaml",
        ]
    )
    func responseInjection(_ file: String) async throws {
        let (result, events) = try await runConformance(file, faults: ["inject-after-starttls"])
        #expect(result.outcome == .failed, "\(file): \(describe(result))")
        #expect(result.failure?.message.contains("discarded-bytes is") == true, "\(describe(result))")
        let discarded = events.compactMap { event -> [UInt8]? in
            if case .connection(_, .discarded(let bytes)) = event { return bytes }
            return nil
        }
        #expect(!discarded.isEmpty)
    }

    @Test(
        "stripping, mandatory mode: a stripped or refused STARTTLS fails closed, before any plaintext command",
        arguments: [("no-starttls", "STARTTLS is not offered (mandatory)"), ("refuse-starttls", "the server refused STARTTLS")]
    )
    func strippingMandatory(_ knob: String, _ message: String) async throws {
        let (result, events) = try await runConformance("suites/conformance/security-smtp-stripping-mandatory.yaml", faults: [knob])
        #expect(result.outcome == .failed, "\(describe(result))")
        #expect(result.failure?.message.contains(message) == true, "\(describe(result))")
        // Nothing after the STARTTLS attempt went out in plain text: no QUIT was sent.
        #expect(!sentText(events).contains("QUIT"))
    }

    @Test(
        "stripping, opportunistic mode: the dialog goes on in plain text and the report names the downgrade",
        arguments: [("no-starttls", "not-offered"), ("refuse-starttls", "refused")]
    )
    func strippingOpportunistic(_ knob: String, _ state: String) async throws {
        let (result, _) = try await runConformance("suites/conformance/security-smtp-stripping-opportunistic.yaml", faults: [knob])
        #expect(result.outcome == .failed, "\(describe(result))")
        #expect(result.failure?.message.contains("starttls is \(state), expected upgraded") == true, "\(describe(result))")
    }

    @Test("PREAUTH: a PREAUTH greeting with STARTTLS required fails closed")
    func preauth() async throws {
        let (result, events) = try await runConformance("suites/conformance/security-imap-preauth.yaml", faults: ["preauth"])
        #expect(result.outcome == .failed, "\(describe(result))")
        #expect(result.failure?.message.contains("STARTTLS") == true, "\(describe(result))")
        #expect(!sentText(events).contains("LOGOUT"))
    }

    @Test(
        "strict ALPN probes: informative failures without the knob, passes with strict-alpn", arguments: conformanceFiles(informative: true)
    )
    func strictALPN(_ file: String) async throws {
        let (lax, _) = try await runConformance(file)
        #expect(lax.outcome == .failed, "\(file): \(describe(lax))")
        let (strict, _) = try await runConformance(file, faults: ["strict-alpn"])
        #expect(strict.outcome == .passed, "\(file): \(describe(strict))")
    }

    @Test(
        "the other checks fail where the fake server breaks them",
        arguments: [
            ("suites/conformance/smtp-starttls.yaml", "no-starttls", "STARTTLS"),
            ("suites/conformance/smtp-starttls.yaml", "wrong-host-certificate", "host name mismatch"),
            ("suites/conformance/imap-starttls.yaml", "expired-certificate", "expired"),
            ("suites/conformance/pop3-stls.yaml", "refuse-starttls", "refused"),
            ("suites/conformance/imaps.yaml", "self-signed-certificate", "signer"),
        ])
    func otherChecksFail(_ file: String, _ knob: String, _ reason: String) async throws {
        let (result, _) = try await runConformance(file, faults: [knob])
        #expect(result.outcome != .passed, "\(file) \(knob): \(describe(result))")
        #expect(result.failure?.message.contains(reason) == true, "\(file) \(knob): \(describe(result))")
    }
}
