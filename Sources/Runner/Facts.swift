// SPDX-License-Identifier: Apache-2.0
import Foundation
internal import Patterns
import Scenario

/// What is known of one connection at one moment: the facts that `assert` checks and `snapshot`
/// records, in one vocabulary (the TLS part is ``TLSFacts``, as transcripts and reports show it).
struct ConnectionFacts: Sendable {
    /// Emacs's `process-status` ("open", "closed", ...).
    var status: String = "closed"
    /// The TLS session, once a handshake completed.
    var tls: TLSFacts?
    /// Plaintext bytes discarded after STARTTLS go-aheads.
    var discardedBytes = 0
    /// The greeting, as matched.
    var greeting: [UInt8]?
    /// The capability response read before TLS.
    var capabilitiesBeforeTLS: [UInt8]?
    /// The capability response read under TLS.
    var capabilitiesAfterTLS: [UInt8]?
    /// The latest capability response.
    var latestCapabilities: [UInt8]?
    /// What the connection's `open` returned: the type and the error (`:return-list`).
    var opened: (type: String, error: String?)?

    /// The peer's certificate.
    var leaf: CertificateFacts? { tls?.peerCertificates.first }
}

/// Checks an `assert` step's facts against a connection's.
struct FactCheck {
    /// Compiles a pattern of the scenario (cached by the runner).
    var compile: (PatternSpec) throws(Failure) -> BytePattern
    /// Expands a template.
    var expand: (Template) throws(Failure) -> String
    /// Looks a variable up.
    var lookup: (String) -> String?
    /// Hides secrets in bytes shown in a message.
    var hideSecrets: ([UInt8]) -> [UInt8]

    /// The TLS versions in order, for `min-tls-version`.
    static let versionOrder = ["SSL3.0", "TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3"]

    /// Throws the assertion failure when `check` does not hold for `facts`.
    func verify(_ check: Step.Check, _ facts: ConnectionFacts) throws(Failure) {
        func session(_ fact: String) throws(Failure) -> TLSFacts {
            guard let tls = facts.tls else {
                throw Failure(.assertion, at: check.location, "'\(fact)' needs a TLS session, and there is none")
            }
            return tls
        }
        func clientOffered(_ fact: String) throws(Failure) -> TLSFacts.OfferedTLS {
            guard let offered = try session(fact).clientOffered else {
                throw Failure(
                    .assertion, at: check.location, "'\(fact)' is what a client offered: it needs a connection a scripted server accepted")
            }
            return offered
        }
        func leaf(_ fact: String) throws(Failure) -> CertificateFacts {
            guard let certificate = try session(fact).peerCertificates.first else {
                throw Failure(.assertion, at: check.location, "'\(fact)' needs the peer's certificate, and it sent none")
            }
            return certificate
        }
        func matches(_ spec: PatternSpec, _ text: String, fact: String) throws(Failure) {
            if try compile(spec).firstMatch(in: Array(text.utf8)) == nil {
                throw Self.mismatch(check, fact, "/\(spec.source)/", text)
            }
        }
        func opened(_ fact: String) throws(Failure) -> (type: String, error: String?) {
            guard let opened = facts.opened else {
                throw Failure(.assertion, at: check.location, "'\(fact)' needs an 'open' step first")
            }
            return opened
        }
        switch check.fact {
        case .status(let expected):
            if facts.status != expected { throw Self.mismatch(check, "status", expected, facts.status) }
        case .tls(let expected):
            let actual = facts.tls != nil && facts.status == "open"
            if actual != expected { throw Self.mismatch(check, "tls", "\(expected)", "\(actual)") }
        case .verified(let expected):
            let tls = try session("verified")
            if tls.verified != expected {
                let why = tls.verificationProblems.isEmpty ? "" : " (\(tls.verificationProblems.joined(separator: ", ")))"
                throw Self.mismatch(check, "verified", "\(expected)", "\(tls.verified)\(why)")
            }
        case .tlsVersion(let expected):
            let actual = try session("tls-version").version
            if actual != expected { throw Self.mismatch(check, "tls-version", expected, actual) }
        case .minimumTLSVersion(let minimum):
            let actual = try session("min-tls-version").version
            guard let have = Self.versionOrder.firstIndex(of: actual), let need = Self.versionOrder.firstIndex(of: minimum),
                have >= need
            else {
                throw Self.mismatch(check, "min-tls-version", "\(minimum) or later", actual)
            }
        case .cipher(let spec):
            try matches(spec, try session("cipher").cipher, fact: "cipher")
        case .peerSubject(let spec):
            try matches(spec, try leaf("peer-subject").subject, fact: "peer-subject")
        case .peerIssuer(let spec):
            try matches(spec, try leaf("peer-issuer").issuer, fact: "peer-issuer")
        case .peerSAN(let name):
            let names = try leaf("peer-san").subjectAlternativeNames
            if !names.contains(name) { throw Self.mismatch(check, "peer-san", name, names.joined(separator: ", ")) }
        case .daysLeft(let minimum):
            let days = Int(try leaf("days-left").notAfter.timeIntervalSinceNow / 86_400)
            if days < minimum { throw Self.mismatch(check, "days-left", "at least \(minimum)", "\(days)") }
        case .discardedBytes(let expected):
            if facts.discardedBytes != expected {
                throw Self.mismatch(check, "discarded-bytes", "\(expected)", "\(facts.discardedBytes)")
            }
        case .greeting(let spec):
            guard let greeting = facts.greeting else {
                throw Failure(.assertion, at: check.location, "'greeting' needs a 'greeting' step first")
            }
            if try compile(spec).firstMatch(in: greeting) == nil {
                throw Self.mismatch(check, "greeting", "/\(spec.source)/", Self.text(hideSecrets(greeting)))
            }
        case .capabilities(let capabilityCheck):
            let response: [UInt8]?
            switch capabilityCheck.phase {
            case .latest: response = facts.latestCapabilities
            case .beforeTLS: response = facts.capabilitiesBeforeTLS
            case .afterTLS: response = facts.capabilitiesAfterTLS
            }
            guard let response else {
                let phase = capabilityCheck.phase == .latest ? "" : "\(capabilityCheck.phase.rawValue) "
                throw Failure(.assertion, at: check.location, "there is no capability response \(phase)to check: add a 'capability' step")
            }
            let words = CapabilityWords.parse(response)
            for word in capabilityCheck.has where !words.contains(word.uppercased()) {
                throw Self.mismatch(check, "capabilities", "to include \(word)", words.sorted().joined(separator: " "))
            }
            for word in capabilityCheck.lacks where words.contains(word.uppercased()) {
                throw Self.mismatch(check, "capabilities", "to lack \(word)", words.sorted().joined(separator: " "))
            }
        case .offeredVersions(let has, let lacks):
            let offered = try clientOffered("offered-versions").versions
            for version in has where !offered.contains(version) {
                throw Self.mismatch(check, "offered-versions", "to include \(version)", offered.joined(separator: " "))
            }
            for version in lacks where offered.contains(version) {
                throw Self.mismatch(check, "offered-versions", "to lack \(version)", offered.joined(separator: " "))
            }
        case .offeredALPN(let has, let lacks):
            let offered = try clientOffered("offered-alpn").alpn
            let shown = offered.isEmpty ? "(none)" : offered.joined(separator: " ")
            for name in has where !offered.contains(name) {
                throw Self.mismatch(check, "offered-alpn", "to include \(name)", shown)
            }
            for name in lacks where offered.contains(name) {
                throw Self.mismatch(check, "offered-alpn", "to lack \(name)", shown)
            }
        case .sni(let expected):
            let name = try session("sni").serverName ?? ""
            if name != expected {
                throw Self.mismatch(check, "sni", expected.isEmpty ? "(none)" : expected, name.isEmpty ? "(none)" : name)
            }
        case .streamType(let expected):
            let type = try opened("stream-type").type
            if type != expected { throw Self.mismatch(check, "stream-type", expected, type) }
        case .streamError(let spec):
            let error = try opened("stream-error").error
            if try compile(spec).firstMatch(in: Array((error ?? "").utf8)) == nil {
                throw Self.mismatch(check, "stream-error", "/\(spec.source)/", error ?? "(none)")
            }
        case .variable(let name, let template):
            let expected = try expand(template)
            let actual = lookup(name)
            if actual != expected {
                throw Self.mismatch(check, "variable \(name)", expected, actual ?? "(not set)")
            }
        case .dane, .mtaSTS, .tlsRPT:
            // Facts of the mail domain: they need look-ups, which the run makes (DomainChecks.swift).
            break
        }
    }

    /// The failure of a fact that has another value than expected.
    static func mismatch(_ check: Step.Check, _ name: String, _ expected: String, _ actual: String) -> Failure {
        Failure(
            .assertion,
            at: check.location,
            "assertion failed: \(name) is \(actual), expected \(expected)",
            expected: expected,
            actual: actual
        )
    }

    /// Bytes as text for a message, without the line end.
    static func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
    }
}

extension ConnectionFacts {
    /// The value of a snapshot fact (see `SnapshotFile.facts`), as a snapshot file holds it: "-"
    /// for a fact the connection does not have (no TLS yet, no capabilities asked for).
    func snapshotValue(_ name: String) -> String {
        func words(_ response: [UInt8]?) -> String {
            response.map { CapabilityWords.parse($0).sorted().joined(separator: " ") } ?? "-"
        }
        switch name {
        case "greeting":
            return greeting.map { String(decoding: $0.prefix { $0 != 10 && $0 != 13 }, as: UTF8.self) } ?? "-"
        case "capabilities-before-tls": return words(capabilitiesBeforeTLS)
        case "capabilities-after-tls": return words(capabilitiesAfterTLS)
        case "tls-version": return tls?.version ?? "-"
        case "cipher": return tls?.cipher ?? "-"
        case "group": return tls.map { $0.group ?? "none" } ?? "-"
        case "alpn": return tls.map { $0.alpn ?? "none" } ?? "-"
        case "verified": return tls.map { $0.verified ? "yes" : "no: " + $0.verificationProblems.joined(separator: ", ") } ?? "-"
        case "peer-subject": return leaf?.subject ?? "-"
        case "peer-issuer": return leaf?.issuer ?? "-"
        case "peer-san": return leaf.map { $0.subjectAlternativeNames.joined(separator: ", ") } ?? "-"
        case "peer-not-after": return leaf?.validUntil ?? "-"
        default: return "-"
        }
    }
}
