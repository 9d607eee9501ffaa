// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailDomain
import ParleyTestSupport
import Testing

/// DANE against the test PKI (fixtures/certs), with TLSA answers built by hand.
///
/// The digests below were computed once from the fixture files with OpenSSL, a route independent
/// of the GnuTLS code under test:
///
///     openssl x509 -in F.pem -outform DER | sha256sum                                   (selector 0)
///     openssl x509 -in F.pem -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum  (selector 1)
///
/// (and `sha512sum` for matching type 2). The certificates' DER is read here by base64-decoding
/// the PEM files with Foundation, not with GnuTLS.
@Suite struct DANETests {
    enum Digest {
        static let serverCertSHA256 = "80e39823274a9cc146c56178af123db093534d8c2f7c8788bb9d0f2f620af092"
        static let serverCertSHA512 =
            "98301c702eb476ba16c7eb7a56b40aa9e87374a2925eba6b4541a03d30b045097bd4fb5d8691eb0f7f7437a4cd34365fe48f36b352bf297b52e8c3b7a95093f9"
        static let serverSPKISHA256 = "639b4c7b54684e47aa92a903f1bea42f9e260e2398462f468853701377391937"
        static let serverSPKISHA512 =
            "21e1737cd216d375aa749f4f73fdfd5415dc55b62f544118dae9cefcdd9c0e221873df974031c6a96478a0e31c0b03e561f6e99a9716aa8c4e01531de7b90cf6"
        static let caCertSHA256 = "4c99b1e86cc2da4b94f310cde5454cf103104cc7d2d00003f4e076be49a1a8a2"
        static let caSPKISHA256 = "4c0cc00f34dd45e6bef574b4bced500ef818712ad03b912aceef96a94aaabcb4"
        static let expiredSPKISHA256 = "4ecb3d6ca413f4503188053e8573276d8cb443b18d5edc328a9c2a29ad279150"
    }

    /// A moment inside every fixture's validity except expired.pem's (2026-09-21).
    static let now = Date(timeIntervalSince1970: 1_790_000_000)

    /// The DER of a fixture certificate, decoded from its PEM file.
    static func der(_ name: String) throws -> [UInt8] {
        let pem = try String(contentsOfFile: FixtureCertificates.path(name + ".pem"), encoding: .utf8)
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        return [UInt8](try #require(Data(base64Encoded: body)))
    }

    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    static func record(_ usage: UInt8, _ selector: UInt8, _ matching: UInt8, _ hex: String) -> TLSARecord {
        TLSARecord(usage: usage, selector: selector, matchingType: matching, data: Self.bytes(hex))
    }

    static func answer(
        _ records: [TLSARecord], dnssec: DNSSECStatus = .secure, code: ResponseCode = .noError, whyBogus: String? = nil
    ) -> DNSAnswer<TLSARecord> {
        DNSAnswer(
            name: "_25._tcp.mail.test", type: "TLSA", code: code, records: records, dnssec: dnssec, whyBogus: whyBogus)
    }

    static func chain(_ names: String...) throws -> [[UInt8]] {
        try names.map(Self.der)
    }

    @Test func digestsOfThePresentedCertificatesAgreeWithOpenSSL() throws {
        let outcome = DANE.check(
            Self.answer([Self.record(3, 1, 1, Digest.serverSPKISHA256)]), chain: try Self.chain("server", "ca"),
            referenceNames: ["mail.test"], now: Self.now)
        #expect(outcome.certificates.count == 2)
        #expect(
            outcome.certificates[0]
                == CertificateDigests(
                    subject: "CN=localhost,O=Parley", sha256: Digest.serverCertSHA256, sha512: Digest.serverCertSHA512,
                    spkiSHA256: Digest.serverSPKISHA256, spkiSHA512: Digest.serverSPKISHA512))
        #expect(outcome.certificates[1].sha256 == Digest.caCertSHA256)
        #expect(outcome.certificates[1].spkiSHA256 == Digest.caSPKISHA256)
        #expect(outcome.certificates[1].subject == "CN=Parley Test CA,O=Parley")
    }

    @Test(arguments: [
        (UInt8(1), UInt8(1), Digest.serverSPKISHA256),
        (UInt8(0), UInt8(1), Digest.serverCertSHA256),
        (UInt8(1), UInt8(2), Digest.serverSPKISHA512),
        (UInt8(0), UInt8(2), Digest.serverCertSHA512),
    ])
    func daneEEMatchesTheLeafWithoutAnyNameCheck(selector: UInt8, matching: UInt8, hex: String) throws {
        let record = Self.record(3, selector, matching, hex)
        let outcome = DANE.check(
            Self.answer([record]), chain: try Self.chain("server", "ca"), referenceNames: ["mx.other.test"], now: Self.now)
        #expect(outcome.state == .valid)
        #expect(outcome.matches == [DANEMatch(record: record, certificateIndex: 0)])
        #expect(outcome.problems.isEmpty)
        #expect(outcome.tlsaName == "_25._tcp.mail.test")
        #expect(outcome.summary.hasPrefix("DANE valid: _25._tcp.mail.test: TLSA 3 \(selector) \(matching) "))
    }

    @Test func daneEEWithTheFullCertificateExactly() throws {
        let record = TLSARecord(usage: 3, selector: 0, matchingType: 0, data: try Self.der("server"))
        let outcome = DANE.check(Self.answer([record]), chain: try Self.chain("server"), referenceNames: [], now: Self.now)
        #expect(outcome.state == .valid)
    }

    @Test func aWrongDigestIsInvalidAndNamesTheRecordAndTheLeaf() throws {
        let stale = Self.record(3, 1, 1, Digest.caSPKISHA256)
        let outcome = DANE.check(
            Self.answer([stale]), chain: try Self.chain("server", "ca"), referenceNames: ["mail.test"], now: Self.now)
        #expect(outcome.state == .invalid)
        #expect(outcome.matches.isEmpty)
        #expect(
            outcome.problems == [
                "TLSA 3 1 1 4c0cc00f34dd45e6… matches no certificate: the leaf (CN=localhost,O=Parley) has SPKI SHA-256 639b4c7b54684e47…"
            ])
        #expect(outcome.summary == "DANE invalid: _25._tcp.mail.test: the usable TLSA record does not match the presented chain")
    }

    @Test func oneMatchingRecordAmongStaleOnesIsEnough() throws {
        let stale = Self.record(3, 1, 1, Digest.caSPKISHA256)
        let fresh = Self.record(3, 1, 1, Digest.serverSPKISHA256)
        let outcome = DANE.check(
            Self.answer([stale, fresh]), chain: try Self.chain("server"), referenceNames: [], now: Self.now)
        #expect(outcome.state == .valid)
        #expect(outcome.matches == [DANEMatch(record: fresh, certificateIndex: 0)])
        #expect(outcome.problems.count == 1, "the stale record is still reported")
        #expect(outcome.summary.contains("1 of 2 usable records matched"))
    }

    @Test func daneTAWithTheCAInTheChainAndAMatchingName() throws {
        for record in [Self.record(2, 0, 1, Digest.caCertSHA256), Self.record(2, 1, 1, Digest.caSPKISHA256)] {
            let outcome = DANE.check(
                Self.answer([record]), chain: try Self.chain("server", "ca"), referenceNames: ["mx.other.test", "mail.test"],
                now: Self.now)
            #expect(outcome.state == .valid, "\(outcome.problems)")
            #expect(outcome.matches == [DANEMatch(record: record, certificateIndex: 1)])
            #expect(outcome.summary.contains("matches certificate 1"))
        }
    }

    @Test func daneTAWithANameMismatchIsInvalid() throws {
        let outcome = DANE.check(
            Self.answer([Self.record(2, 0, 1, Digest.caCertSHA256)]), chain: try Self.chain("server", "ca"),
            referenceNames: ["mx.other.test", "other.test"], now: Self.now)
        #expect(outcome.state == .invalid)
        #expect(
            outcome.problems == [
                "TLSA 2 0 1 4c99b1e86cc2da4b… matches certificate 1 (CN=Parley Test CA,O=Parley), but the leaf (CN=localhost,O=Parley) has none of the names mx.other.test, other.test"
            ])
    }

    @Test func daneTAWithoutTheCAInTheChainIsInvalid() throws {
        let outcome = DANE.check(
            Self.answer([Self.record(2, 0, 1, Digest.caCertSHA256)]), chain: try Self.chain("server"),
            referenceNames: ["mail.test"], now: Self.now)
        #expect(outcome.state == .invalid)
        #expect(outcome.problems.count == 1)
        #expect(outcome.problems[0].hasPrefix("TLSA 2 0 1 4c99b1e86cc2da4b… matches no certificate of the presented chain of 1"))
        #expect(outcome.problems[0].contains("the leaf (CN=localhost,O=Parley) has certificate SHA-256 80e39823274a9cc1…"))
    }

    @Test func daneTAMatchingACertificateThatDidNotSignTheLeafIsInvalid() throws {
        // The self-signed certificate sent after the leaf, and named by the record: the leaf was
        // signed by the test CA, so the chain does not verify to it.
        let selfSigned = try Self.der("self-signed")
        let outcome = DANE.check(
            Self.answer([TLSARecord(usage: 2, selector: 0, matchingType: 0, data: selfSigned)]),
            chain: [try Self.der("server"), selfSigned], referenceNames: ["mail.test"], now: Self.now)
        #expect(outcome.state == .invalid)
        #expect(outcome.problems.first?.contains("the chain from the leaf does not verify to it") == true, "\(outcome.problems)")
    }

    @Test func onlyPKIXUsagesAreUnusable() throws {
        let outcome = DANE.check(
            Self.answer([Self.record(0, 0, 1, Digest.caCertSHA256), Self.record(1, 1, 1, Digest.serverSPKISHA256)]),
            chain: try Self.chain("server", "ca"), referenceNames: ["mail.test"], now: Self.now)
        #expect(outcome.state == .unusable)
        #expect(outcome.problems.count == 2)
        #expect(outcome.problems[0].contains("usage 0 (PKIX-TA) is not used for SMTP"))
        #expect(outcome.summary.contains("none usable for SMTP"))
    }

    @Test func insecureAnswersAreIgnored() throws {
        for dnssec in [DNSSECStatus.insecure, .unvalidated] {
            let record = Self.record(3, 1, 1, Digest.serverSPKISHA256)
            let outcome = DANE.check(
                Self.answer([record], dnssec: dnssec), chain: try Self.chain("server"), referenceNames: [], now: Self.now)
            #expect(outcome.state == .insecure)
            #expect(outcome.records == [record], "listed, but not used")
            #expect(outcome.matches.isEmpty)
            #expect(outcome.dnssec == dnssec)
            #expect(outcome.summary.contains("1 TLSA record ignored"))
        }
    }

    @Test func bogusAnswersAreBogusWithWhy() throws {
        let outcome = DANE.check(
            Self.answer([], dnssec: .bogus, code: .serverFailure, whyBogus: "signature expired"),
            chain: try Self.chain("server"), referenceNames: [], now: Self.now)
        #expect(outcome.state == .bogus)
        #expect(outcome.summary == "DANE bogus: _25._tcp.mail.test failed DNSSEC validation: signature expired")
        #expect(outcome.problems == ["the TLSA answer for _25._tcp.mail.test is bogus: signature expired"])
    }

    @Test func noRecordsInASecureAnswerIsAbsent() throws {
        for code in [ResponseCode.noError, .nxDomain] {
            let outcome = DANE.check(Self.answer([], code: code), chain: try Self.chain("server"), referenceNames: [])
            #expect(outcome.state == .absent)
            #expect(outcome.problems.isEmpty)
        }
    }

    @Test func anExpiredLeafPassesDANEEEButNotDANETA() throws {
        let chain = try Self.chain("expired", "ca")
        let endEntity = DANE.check(
            Self.answer([Self.record(3, 1, 1, Digest.expiredSPKISHA256)]), chain: chain, referenceNames: ["localhost"],
            now: Self.now)
        #expect(endEntity.state == .valid, "DANE-EE checks no dates (RFC 7672 §3.1.1)")

        let trustAnchor = DANE.check(
            Self.answer([Self.record(2, 0, 1, Digest.caCertSHA256)]), chain: chain, referenceNames: ["localhost"],
            now: Self.now)
        #expect(trustAnchor.state == .invalid)
        #expect(trustAnchor.problems.count == 1)
        #expect(trustAnchor.problems[0].contains("the leaf (CN=localhost,O=Parley) expired on 2021-01-01T00:00:00Z"))
    }

    @Test func unreadableCertificatesAreProblemsNotCrashes() throws {
        let outcome = DANE.check(
            Self.answer([Self.record(3, 1, 1, Digest.serverSPKISHA256)]), chain: [[0x30, 0x03, 0x02, 0x01]],
            referenceNames: [], now: Self.now)
        #expect(outcome.state == .invalid)
        #expect(outcome.problems.first?.hasPrefix("the leaf cannot be read") == true, "\(outcome.problems)")
        #expect(outcome.certificates.count == 1)
        let empty = DANE.check(
            Self.answer([Self.record(3, 1, 1, Digest.serverSPKISHA256)]), chain: [], referenceNames: [], now: Self.now)
        #expect(empty.state == .invalid)
        #expect(empty.problems == ["the server presented no certificate"])
    }
}
