// SPDX-License-Identifier: Apache-2.0
import Foundation
internal import MailDomain
internal import NIOCore
internal import Patterns
public import Scenario

/// One MX host of a mail domain that a run goes to (`connect: {mx: DOMAIN}`).
public struct MXChoice: Sendable, Hashable {
    /// The mail domain, lowercased, without a trailing dot.
    public var domain: String
    /// The MX host's name (the domain itself for the implicit MX).
    public var host: String
    /// The MX record's preference (0 for the implicit MX).
    public var preference: Int
    /// The host's addresses, IPv4 first.
    public var addresses: [String]
    /// Whether the host is the implicit MX (RFC 5321 §5.1: the domain has no MX records).
    public var implicit: Bool
    /// The DNSSEC state of the MX answer: `secure`, `insecure`, `bogus` or `unvalidated`.
    public var dnssec: String

    /// Creates a choice.
    public init(domain: String, host: String, preference: Int, addresses: [String], implicit: Bool = false, dnssec: String = "unvalidated")
    {
        self.domain = domain
        self.host = host
        self.preference = preference
        self.addresses = addresses
        self.implicit = implicit
        self.dnssec = dnssec
    }
}

/// The DNS look-ups and MTA-STS fetches of a run, shared by all its scenarios so each question
/// is asked once (`--resolver`, `--trust-anchor`, or `PARLEY_RESOLVER` and `PARLEY_TRUST_ANCHOR`,
/// else the system's resolver and root trust anchor).
public final class DomainLookups: @unchecked Sendable {
    let configuration: ResolverConfiguration
    private let lock = NSLock()
    private var made: Result<DomainResolver, DomainLookupError>?
    private var policies: [String: Result<FetchedPolicy, PolicyFetchError>] = [:]

    /// Lookups through `resolver` (ADDR or ADDR:PORT) validated with the trust anchor file;
    /// each nil falls back to the environment, then to the system's.
    public init(resolver: String? = nil, trustAnchor: String? = nil, environment: [String: String]? = nil) {
        configuration = ResolverConfiguration.from(
            resolver: resolver, trustAnchor: trustAnchor, environment: environment ?? ProcessInfo.processInfo.environment)
    }

    /// Lookups answered from zone data alone (libunbound's local data in a static `test.` zone),
    /// for tests: nothing is asked of any server (the forwarder is a closed loopback port).
    init(localData: [String], localZones: [String] = []) {
        configuration = ResolverConfiguration(
            forwarder: "127.0.0.1:1", localData: localData, timeout: .seconds(5), localZones: ["test. static"] + localZones)
    }

    /// Which resolver and trust anchor, for transcripts.
    public var description: String { configuration.description }

    /// The resolver, made at the first use; an error (a trust anchor file that cannot be read,
    /// a bad resolver address) names what is wrong.
    public func check() -> String? {
        switch resolverResult() {
        case .success: nil
        case .failure(let error): error.description
        }
    }

    func resolver() throws(DomainLookupError) -> DomainResolver {
        try resolverResult().get()
    }

    private func resolverResult() -> Result<DomainResolver, DomainLookupError> {
        lock.withLock {
            if let made { return made }
            let result: Result<DomainResolver, DomainLookupError>
            do throws(DomainLookupError) {
                result = .success(try DomainResolver(configuration))
            } catch {
                result = .failure(error)
            }
            made = result
            return result
        }
    }

    func policy(_ key: String) -> Result<FetchedPolicy, PolicyFetchError>? { lock.withLock { policies[key] } }
    func store(_ policy: Result<FetchedPolicy, PolicyFetchError>, _ key: String) { lock.withLock { policies[key] = policy } }

    /// The MX hosts of `domain` as choices, or why there are none.
    func choices(_ domain: String) async throws(DomainLookupError) -> (hosts: [MXChoice], problem: String?) {
        let resolution = try await resolver().resolveMX(domain)
        switch resolution {
        case .hosts(let hosts, let dnssec):
            return (
                hosts.map {
                    MXChoice(
                        domain: domain, host: $0.name, preference: Int($0.preference), addresses: $0.addresses, implicit: $0.implicit,
                        dnssec: dnssec.rawValue)
                }, nil
            )
        case .nullMX:
            return ([], "\(domain) publishes a null MX (RFC 7505): it accepts no mail")
        case .noSuchDomain:
            return ([], "\(domain) does not exist (the DNS answers NXDOMAIN)")
        case .failed(let why):
            return ([], "the MX hosts of \(domain) cannot be found: \(why)")
        }
    }
}

extension ScenarioRunner {
    /// The MX hosts a scenario goes to, when one of its `connect` or `open` steps names a mail
    /// domain (`mx:`): one run per host. Empty when it names none or the domain has no usable
    /// MX host; the run then reports why at that step.
    public func mxChoices(for scenario: Scenario) async -> [MXChoice] {
        guard let template = scenario.mxDomain else { return [] }
        var scope = VariableScope(commandLine: variables, environment: environment, folder: scenario.folder)
        for (name, value) in scenario.variables where variables[name] == nil {
            if let expanded = try? scope.expand(value) { scope.defaults[name] = expanded }
        }
        guard let domain = try? scope.expand(template) else { return [] }
        return (try? await domainLookups.choices(DomainNames.normalized(domain)))?.hosts ?? []
    }
}

/// Domain-name spelling.
enum DomainNames {
    /// Lowercased, without a trailing dot or surrounding spaces.
    static func normalized(_ name: String) -> String {
        var text = name.trimmingCharacters(in: .whitespaces).lowercased()
        while text.hasSuffix(".") { text.removeLast() }
        return text
    }

    /// Whether a certificate name (`*.example.com` or `mx.example.com`) covers `host`: exact, or
    /// a wildcard standing for exactly one leftmost label (RFC 6125 §6.4.3).
    static func certificateName(_ pattern: String, covers host: String) -> Bool {
        let pattern = normalized(pattern)
        let host = normalized(host)
        if pattern == host { return true }
        guard pattern.hasPrefix("*."), let dot = host.firstIndex(of: ".") else { return false }
        let label = host[..<dot]
        return !label.isEmpty && String(host[host.index(after: dot)...]) == String(pattern.dropFirst(2))
    }
}

extension Execution {
    /// The MX host a `connect`/`open` with `mx:` goes to: the one the run was given for this
    /// domain, else the most preferred one.
    func mxTarget(_ template: Template, at location: SourceLocation) async throws(Failure) -> MXChoice {
        let domain = DomainNames.normalized(try expand(template))
        guard !domain.isEmpty else { throw Failure(.runtime, at: template.location, "'mx' is empty: it names a mail domain") }
        let choice: MXChoice
        if let given = runner.mxChoice, given.domain == domain {
            choice = given
        } else {
            let found: (hosts: [MXChoice], problem: String?)
            do {
                found = try await runner.domainLookups.choices(domain)
            } catch {
                throw Failure(.runtime, at: location, error.description)
            }
            guard let first = found.hosts.first else {
                throw Failure(.assertion, at: location, found.problem ?? "\(domain) has no MX host")
            }
            emit(
                .note(
                    "MX of \(domain) (DNSSEC \(first.dnssec)): "
                        + found.hosts.map { "\($0.preference) \($0.host)" }.joined(separator: ", ")))
            choice = first
        }
        guard !choice.addresses.isEmpty else {
            throw Failure(.assertion, at: location, "MX host \(choice.host) of \(domain) has no address (no A or AAAA record)")
        }
        emit(
            .note(
                (choice.implicit
                    ? "\(domain) has no MX records: its implicit MX is the domain itself"
                    : "MX host \(choice.host) (preference \(choice.preference)) of \(domain)")
                    + " at \(choice.addresses.joined(separator: ", "))"))
        set("mx.domain", domain)
        set("mx.host", choice.host)
        set("mx.preference", String(choice.preference))
        return choice
    }

    /// The DANE outcome of a connection under TLS: the TLSA records of its host and port, looked
    /// up with DNSSEC validation, matched against the chain the server presented. Worked out
    /// once per connection, with the records, digests and outcome in the transcript.
    func daneOutcome(_ connection: Connection, at location: SourceLocation) async throws(Failure) -> DANEOutcome {
        if let known = connection.dane { return known }
        guard let tls = await facts(of: connection).tls else {
            throw Failure(.assertion, at: location, "DANE needs the server's certificate chain: the connection is not under TLS")
        }
        let host = connection.host
        let answer: DNSAnswer<TLSARecord>
        do {
            answer = try await runner.domainLookups.resolver().tlsa(host: host, port: connection.port)
        } catch {
            throw Failure(.runtime, at: location, error.description)
        }
        let references = [host] + (connection.mx.map { [$0.domain] } ?? [])
        let outcome = DANE.check(answer, chain: tls.peerCertificates.map(\.der), referenceNames: references)
        emit(.note("DANE: TLSA \(outcome.tlsaName) (DNSSEC \(outcome.dnssec.rawValue))" + (outcome.records.isEmpty ? ": no records" : "")))
        for record in outcome.records {
            emit(.note("DANE:   TLSA \(record)\(record.usableForSMTP ? "" : " (unusable for SMTP)")"))
        }
        for (index, certificate) in outcome.certificates.enumerated() {
            emit(
                .note(
                    "DANE:   certificate \(index) \(certificate.subject): SHA-256 \(certificate.sha256), SPKI SHA-256 \(certificate.spkiSHA256)"
                ))
        }
        for match in outcome.matches {
            emit(.note("DANE:   TLSA \(match.record) matches certificate \(match.certificateIndex)"))
        }
        emit(.note(outcome.summary))
        connection.dane = outcome
        return outcome
    }

    /// Why an outcome is not what was wanted, naming the records and certificates.
    static func daneReason(_ outcome: DANEOutcome) -> String {
        outcome.problems.isEmpty ? outcome.summary : outcome.problems.joined(separator: "; ")
    }

    /// `verify: dane`: the TLS session just made is authenticated by DANE, or the step fails.
    func requireDANE(_ connection: Connection, at location: SourceLocation) async throws(Failure) {
        let outcome = try await daneOutcome(connection, at: location)
        guard outcome.state == .valid else {
            throw Failure(
                .assertion, at: location,
                "DANE authentication of \(connection.host) failed: \(outcome.tlsaName) is \(outcome.state.rawValue): \(Self.daneReason(outcome))"
            )
        }
    }

    /// `assert: {dane: STATE}`.
    func checkDANE(_ states: [String], _ check: Step.Check, connection: Connection?) async throws(Failure) {
        guard let connection else { throw Failure(.runtime, at: check.location, "there is no connection to check DANE on") }
        let outcome = try await daneOutcome(connection, at: check.location)
        guard states.contains(outcome.state.rawValue) else {
            throw Failure(
                .assertion,
                at: check.location,
                "DANE for \(outcome.tlsaName) is \(outcome.state.rawValue): \(Self.daneReason(outcome))",
                expected: states.joined(separator: " or "),
                actual: outcome.state.rawValue
            )
        }
    }

    /// The mail domain of a connection made with `mx:`.
    func mailDomain(_ connection: Connection?, fact: String, at location: SourceLocation) throws(Failure) -> (domain: String, mx: MXChoice)
    {
        guard let mx = connection?.mx else {
            throw Failure(.runtime, at: location, "'\(fact)' needs a connection made with 'mx:' (it checks that mail domain)")
        }
        return (mx.domain, mx)
    }

    /// One TXT record set, as bytes per record.
    func txt(_ name: String, at location: SourceLocation) async throws(Failure) -> DNSAnswer<[UInt8]> {
        let answer: DNSAnswer<[UInt8]>
        do {
            answer = try await runner.domainLookups.resolver().txt(name)
        } catch {
            throw Failure(.runtime, at: location, error.description)
        }
        if answer.dnssec == .bogus {
            throw Failure(
                .assertion, at: location, "the TXT records of \(name) fail DNSSEC validation: \(answer.whyBogus ?? "bogus")")
        }
        // A failed look-up (SERVFAIL, REFUSED) says nothing about what the domain publishes: it
        // is not a missing record.
        switch answer.code {
        case .noError, .nxDomain: return answer
        case .serverFailure, .other:
            throw Failure(
                .runtime, at: location, "the TXT look-up of \(name) failed (\(answer.code)): whether a record is published is not known")
        }
    }

    /// The one record of a TXT record set that `select` chooses (MTA-STS, TLS-RPT), nil when
    /// none is published, and the answer's DNSSEC state; a record that does not parse fails.
    func txtRecord<Record>(
        _ name: String, what: String, at location: SourceLocation, select: ([[UInt8]]) throws(PolicyError) -> Record?
    ) async throws(Failure) -> (Record?, DNSSECStatus) {
        let answer = try await txt(name, at: location)
        do throws(PolicyError) {
            return (try select(answer.records), answer.dnssec)
        } catch {
            throw Failure(.assertion, at: location, "the \(what) record at \(name) is not valid: \(error)")
        }
    }

    /// `assert: {mta-sts: {mode: …, mx-covered: …}}` (RFC 8461): the `_mta-sts` record, the
    /// policy fetched over verified HTTPS, and the connection's MX host against its patterns.
    func checkMTASTS(_ expected: Step.Check.MTASTSCheck, _ check: Step.Check, connection: Connection?) async throws(Failure) {
        let (domain, mx) = try mailDomain(connection, fact: "mta-sts", at: check.location)
        let recordName = "_mta-sts." + domain
        let (found, dnssec) = try await txtRecord(recordName, what: "MTA-STS", at: check.location, select: MTASTSRecord.select)
        guard let record = found else {
            throw Failure(
                .assertion, at: check.location, "\(domain) publishes no MTA-STS record (no TXT record 'v=STSv1' at \(recordName))")
        }
        emit(.note("MTA-STS: \(recordName) id \(record.id) (DNSSEC \(dnssec.rawValue))"))
        let fetched = try await policy(domain, connection: connection, at: check.location)
        let policy = fetched.policy
        emit(
            .note(
                "MTA-STS: \(fetched.url) from \(fetched.address) (\(fetched.tlsVersion)): mode \(policy.mode.rawValue), max_age \(policy.maxAge), mx \(policy.mx.joined(separator: ", "))"
            ))
        if let mode = expected.mode, policy.mode.rawValue != mode {
            throw Failure(
                .assertion,
                at: check.location,
                "the MTA-STS policy of \(domain) (\(fetched.url)) is in mode \(policy.mode.rawValue), not \(mode)",
                expected: mode,
                actual: policy.mode.rawValue
            )
        }
        if let covered = expected.mxCovered {
            let pattern = policy.pattern(covering: mx.host)
            emit(.note("MTA-STS: MX host \(mx.host) " + (pattern.map { "is covered by 'mx: \($0)'" } ?? "is covered by no mx pattern")))
            if covered != (pattern != nil) {
                let message =
                    covered
                    ? "the MTA-STS policy of \(domain) (\(fetched.url)) does not cover MX host \(mx.host): its mx patterns are \(policy.mx.joined(separator: ", "))"
                    : "the MTA-STS policy of \(domain) covers MX host \(mx.host) (by 'mx: \(pattern ?? "")'), which the check says it must not"
                throw Failure(.assertion, at: check.location, message)
            }
        }
    }

    /// The policy of `domain`, fetched once per run (per trust file).
    func policy(_ domain: String, connection: Connection?, at location: SourceLocation) async throws(Failure) -> FetchedPolicy {
        let caFile = try resolvePath(connection?.tlsOptions?.caFile, at: location)
        let key = domain + "\n" + (caFile ?? "")
        let result: Result<FetchedPolicy, PolicyFetchError>
        if let known = runner.domainLookups.policy(key) {
            result = known
        } else {
            let host = "mta-sts." + domain
            let addresses: DNSAnswer<String>
            do {
                addresses = try await runner.domainLookups.resolver().addresses(host)
            } catch {
                throw Failure(.runtime, at: location, error.description)
            }
            guard !addresses.records.isEmpty else {
                throw Failure(.assertion, at: location, "the MTA-STS policy host \(host) has no address (no A or AAAA record)")
            }
            do throws(PolicyFetchError) {
                result = .success(
                    try await PolicyFetch.fetch(
                        policyHost: host, addresses: addresses.records, caFile: caFile,
                        timeout: scenario.timeouts.connect + scenario.timeouts.expect,
                        eventLoopGroup: loop))
            } catch {
                result = .failure(error)
            }
            runner.domainLookups.store(result, key)
        }
        switch result {
        case .success(let fetched): return fetched
        case .failure(let error):
            throw Failure(.assertion, at: location, "the MTA-STS policy of \(domain) cannot be fetched: \(error)")
        }
    }

    /// `assert: {tls-rpt: {present: …, rua: …}}` (RFC 8460): the `_smtp._tls` record.
    func checkTLSRPT(_ expected: Step.Check.TLSRPTCheck, _ check: Step.Check, connection: Connection?) async throws(Failure) {
        let (domain, _) = try mailDomain(connection, fact: "tls-rpt", at: check.location)
        let name = "_smtp._tls." + domain
        let (record, _) = try await txtRecord(name, what: "TLS-RPT", at: check.location, select: TLSRPTRecord.select)
        emit(.note("TLS-RPT: \(name): " + (record.map { "rua " + $0.rua.joined(separator: ", ") } ?? "no record")))
        if let present = expected.present, present != (record != nil) {
            throw Failure(
                .assertion, at: check.location,
                present
                    ? "\(domain) publishes no TLS-RPT record (no TXT record 'v=TLSRPTv1' at \(name))"
                    : "\(domain) publishes a TLS-RPT record at \(name), which the check says it must not")
        }
        if let spec = expected.rua {
            let pattern = try compile(spec)
            let addresses = record?.rua ?? []
            guard addresses.contains(where: { pattern.firstMatch(in: Array($0.utf8)) != nil }) else {
                throw Failure(
                    .assertion, at: spec.location, "no TLS-RPT report address of \(domain) matches /\(spec.source)/",
                    expected: "/\(spec.source)/", actual: addresses.isEmpty ? "(none)" : addresses.joined(separator: ", "))
            }
        }
    }
}
