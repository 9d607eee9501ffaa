// SPDX-License-Identifier: Apache-2.0
import Foundation
internal import GnuTLSNIO
internal import NetworkStream
public import Scenario

/// The decisions of a `tls-policy` step, as values: which handshakes to try with which GnuTLS
/// priority, and what the certificate chain must satisfy.
enum TLSPolicyCheck {
    /// One extra handshake and what its outcome must be.
    struct Probe: Sendable, Hashable {
        /// What is offered, as the transcript says it ("TLS1.0", "weak ciphers (NULL, RC4, 3DES)").
        var name: String
        /// The GnuTLS priority string that offers only that.
        var priority: String
        /// Whether the server must complete the handshake.
        var mustAccept: Bool
        /// Why it must be refused, for the failure message.
        var reason: String
    }

    /// The priority offering exactly one protocol version.
    static func versionPriority(_ version: String) -> String {
        "NORMAL:-VERS-ALL:+VERS-" + version
    }

    /// NULL, RC4 and 3DES suites and nothing else (GnuTLS cannot offer EXPORT suites at all).
    static let weakCipherPriority =
        "NONE:+VERS-TLS1.2:+VERS-TLS1.1:+VERS-TLS1.0:+NULL:+ARCFOUR-128:+3DES-CBC:+SHA1:+MD5:+SHA256:+RSA:+ECDHE-RSA:+ECDHE-ECDSA:+DHE-RSA:+SIGN-ALL:+GROUP-ALL:+COMP-NULL:+CTYPE-X509"

    /// RSA key exchange only, below TLS 1.3 (whose key exchanges all have forward secrecy).
    static let staticRSAPriority = "NORMAL:-VERS-TLS1.3:-KX-ALL:+RSA"

    /// The handshakes a policy needs, in a fixed order.
    static func probes(_ policy: Step.TLSPolicy) -> [Probe] {
        var probes: [Probe] = []
        for version in Step.TLSPolicy.versions where policy.refuse.contains(version) || policy.accept.contains(version) {
            let refuse = policy.refuse.contains(version)
            probes.append(
                Probe(
                    name: version, priority: versionPriority(version), mustAccept: !refuse,
                    reason: ["TLS1.0", "TLS1.1"].contains(version) ? "RFC 8996 deprecates it" : "the policy refuses it"))
        }
        if policy.weakCiphersRefused {
            probes.append(
                Probe(
                    name: "weak ciphers (NULL, RC4, 3DES)", priority: weakCipherPriority, mustAccept: false,
                    reason: "RFC 7465 forbids RC4; NULL has no encryption; 3DES has 64-bit blocks (Sweet32)"))
        }
        if policy.forwardSecrecyRequired {
            probes.append(
                Probe(
                    name: "RSA key exchange (no forward secrecy)", priority: staticRSAPriority, mustAccept: false,
                    reason: "the policy requires forward secrecy"))
        }
        return probes
    }

    /// What the certificate chain breaks of the policy, one phrase each naming the certificate.
    static func certificateProblems(_ policy: Step.TLSPolicy, tls: TLSFacts, names: [String], now: Date) -> [String] {
        var problems: [String] = []
        let chain = tls.peerCertificates
        guard let leaf = chain.first else { return ["the server sent no certificate"] }
        let isEC = leaf.publicKeyAlgorithm.uppercased().hasPrefix("EC") || leaf.publicKeyAlgorithm.hasPrefix("EdDSA")
        if let minimum = policy.minimumRSABits, leaf.publicKeyAlgorithm == "RSA", leaf.publicKeyBits < minimum {
            problems.append("the leaf certificate (\(leaf.subject)) has a \(leaf.publicKeyBits)-bit RSA key, fewer than \(minimum) bits")
        }
        if let minimum = policy.minimumECBits, isEC, leaf.publicKeyBits < minimum {
            problems.append(
                "the leaf certificate (\(leaf.subject)) has a \(leaf.publicKeyBits)-bit \(leaf.publicKeyAlgorithm) key, fewer than \(minimum) bits"
            )
        }
        if policy.weakSignaturesRefused {
            for certificate in chain where certificate.subject != certificate.issuer {
                let algorithm = certificate.signatureAlgorithm.uppercased()
                if algorithm.contains("SHA1") || algorithm.contains("MD5") {
                    problems.append("the certificate \(certificate.subject) is signed with \(certificate.signatureAlgorithm)")
                }
            }
        }
        if policy.intermediatesSent {
            let chainProblems = tls.verificationProblems.filter {
                $0.contains("signer") || $0.contains("issuer") || $0.contains("self-signed")
            }
            if !chainProblems.isEmpty {
                problems.append(
                    "the chain as sent (\(chain.count) certificate\(chain.count == 1 ? "" : "s"): \(chain.map(\.subject).joined(separator: " <- "))) does not verify: \(chainProblems.joined(separator: ", ")); the server may not send its intermediates"
                )
            } else if !tls.verified && tls.verificationProblems.isEmpty {
                problems.append("the chain was not verified (verification is off), so whether intermediates are sent cannot be told")
            }
        }
        if let minimum = policy.daysLeft {
            for certificate in chain {
                let days = Int((certificate.notAfter.timeIntervalSince(now) / 86_400).rounded(.down))
                if days < minimum {
                    problems.append(
                        "the certificate \(certificate.subject) ends on \(certificate.validUntil), \(days < 0 ? "\(-days) days ago" : "in \(days) days") (fewer than \(minimum) left)"
                    )
                }
            }
        }
        let dnsNames = leaf.subjectAlternativeNames.filter { $0.hasPrefix("DNS:") }.map { String($0.dropFirst(4)) }
        for name in names where !dnsNames.contains(where: { DomainNames.certificateName($0, covers: name) }) {
            problems.append(
                "the leaf certificate (\(leaf.subject); names \(dnsNames.isEmpty ? "none" : dnsNames.joined(separator: ", "))) is not valid for \(name)"
            )
        }
        return problems
    }
}

extension Execution {
    /// `tls-policy`: the handshakes the policy needs, each on a connection of its own, then the
    /// chain of the step's connection. Every problem is named, and all are reported together.
    @inline(never)
    func perform(_ policy: Step.TLSPolicy, on step: Step) async throws(Failure) {
        let connection = try require(step)
        let facts = await self.facts(of: connection)
        let endpoint = "\(connection.host):\(connection.port)"
        var problems: [String] = []
        for probe in TLSPolicyCheck.probes(policy) {
            let outcome = try await handshake(probe, like: connection, timeout: policy.timeout, at: step.location)
            switch outcome {
            case .accepted(let version, let cipher):
                emit(.note("tls-policy: \(probe.name) accepted (\(version), \(cipher))"))
                if !probe.mustAccept {
                    problems.append("\(endpoint) accepts \(probe.name) (negotiated \(version), \(cipher)); \(probe.reason)")
                }
            case .refused(let why):
                emit(.note("tls-policy: \(probe.name) refused (\(why))"))
                if probe.mustAccept { problems.append("\(endpoint) refuses \(probe.name): \(why)") }
            }
        }
        let needsChain =
            policy.minimumRSABits != nil || policy.minimumECBits != nil || policy.weakSignaturesRefused || policy.intermediatesSent
            || policy.daysLeft != nil || !policy.names.isEmpty
        if needsChain {
            if let tls = facts.tls {
                var names: [String] = []
                for template in policy.names { names.append(try expand(template)) }
                let leaf = tls.peerCertificates.first
                emit(
                    .note(
                        "tls-policy: chain of \(tls.peerCertificates.count); leaf key \(leaf.map { "\($0.publicKeyAlgorithm) \($0.publicKeyBits) bits, signed \($0.signatureAlgorithm)" } ?? "none")"
                    ))
                problems += TLSPolicyCheck.certificateProblems(policy, tls: tls, names: names, now: Date())
            } else {
                problems.append("the connection is not under TLS, so its certificate chain cannot be checked")
            }
        }
        if !problems.isEmpty {
            throw Failure(.assertion, at: step.location, "the TLS policy of \(endpoint) does not hold: " + problems.joined(separator: "; "))
        }
    }

    /// How one probe's handshake went.
    enum ProbeOutcome {
        case accepted(version: String, cipher: String)
        case refused(String)
    }

    /// One handshake offering only what `probe` offers, set up as `connection` was: implicit TLS,
    /// or the preset's STARTTLS dialog. Verification is off: the question is whether the server
    /// completes the handshake, not whom it is. A failure to connect is an error, not a refusal.
    func handshake(_ probe: TLSPolicyCheck.Probe, like connection: Connection, timeout: Duration?, at location: SourceLocation)
        async throws(Failure) -> ProbeOutcome
    {
        var open = Step.Open()
        open.name = "tls-policy"
        if connection.implicitTLS {
            open.type = .tls
        } else {
            guard let preset = scenario.preset else {
                throw Failure(
                    .runtime, at: location, "'tls-policy' repeats the STARTTLS dialog of the preset: give the scenario a 'preset'")
            }
            open.type = .starttls
            open.apply(preset, at: location)
        }
        open.tls.insecure = true
        open.tls.priority = probe.priority
        open.tls.serverName = connection.tlsOptions?.serverName ?? Template(connection.host, at: location)
        open.timeout = timeout ?? scenario.timeouts.handshake
        var parameters = try OpenStepMapping.parameters(
            open, host: connection.host, scope: scope, timeouts: scenario.timeouts, at: location)
        parameters.group = loop
        let result: OpenStreamResult
        do {
            result = try await NetworkProcess.openStream(
                name: "tls-policy",
                host: connection.address ?? connection.host,
                service: .port(connection.port),
                parameters: parameters,
                table: ProcessTable()
            )
        } catch {
            if error.kind == .connectFailed || (error.kind == .timeout && error.wait == .connect) {
                throw failure(error, at: location, expected: nil)
            }
            return .refused(error.message)
        }
        if let process = result.process { await process.close() }
        if result.type == .tls, let session = result.tls {
            return .accepted(version: session.protocolVersion, cipher: session.cipherSuite)
        }
        return .refused(result.error ?? "no TLS session")
    }
}
