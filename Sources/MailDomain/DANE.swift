// SPDX-License-Identifier: Apache-2.0
internal import CGnuTLS
public import Foundation

/// A presented certificate's subject and the digests TLSA records are compared with (lowercase hex).
public struct CertificateDigests: Sendable, Hashable {
    /// The subject DN in RFC 4514 form ("CN=localhost,O=Parley").
    public var subject: String
    /// SHA-256 of the certificate's DER (selector 0, matching type 1).
    public var sha256: String
    /// SHA-512 of the certificate's DER (selector 0, matching type 2).
    public var sha512: String
    /// SHA-256 of its SubjectPublicKeyInfo DER (selector 1, matching type 1).
    public var spkiSHA256: String
    /// SHA-512 of its SubjectPublicKeyInfo DER (selector 1, matching type 2).
    public var spkiSHA512: String

    /// Digests with these values.
    public init(subject: String, sha256: String, sha512: String, spkiSHA256: String, spkiSHA512: String) {
        self.subject = subject
        self.sha256 = sha256
        self.sha512 = sha512
        self.spkiSHA256 = spkiSHA256
        self.spkiSHA512 = spkiSHA512
    }
}

/// A TLSA record that matched, and the certificate of the chain it matched (0 = the leaf).
public struct DANEMatch: Sendable, Hashable {
    /// The record.
    public var record: TLSARecord
    /// The index in the presented chain of the certificate it matched (0 = the leaf).
    public var certificateIndex: Int

    /// A match with these fields.
    public init(record: TLSARecord, certificateIndex: Int) {
        self.record = record
        self.certificateIndex = certificateIndex
    }
}

/// What DANE says of a server's chain.
public struct DANEOutcome: Sendable, Hashable {
    /// The verdict.
    public enum State: String, Sendable, Hashable, CaseIterable {
        /// A usable record matched (and, for DANE-TA, the chain verified to it and the name matched).
        case valid
        /// Usable records, none of which matched.
        case invalid
        /// Records, none usable for SMTP (RFC 7672 §3.1.3).
        case unusable
        /// A secure answer with no records: DANE does not apply.
        case absent
        /// The answer is not secure (unsigned, or not validated): the records are ignored (RFC 7672 §2.2).
        case insecure
        /// The answer failed DNSSEC validation.
        case bogus
    }

    /// The verdict.
    public var state: State
    /// "_25._tcp.mx1.good.parley.test".
    public var tlsaName: String
    /// The answer's records, usable or not (listed even when ignored).
    public var records: [TLSARecord]
    /// The answer's DNSSEC state.
    public var dnssec: DNSSECStatus
    /// The usable records that matched, in record order.
    public var matches: [DANEMatch]
    /// Per presented certificate, leaf first.
    public var certificates: [CertificateDigests]
    /// Each names the record and the certificate.
    public var problems: [String]
    /// One line for a transcript.
    public var summary: String

    /// An outcome with these fields.
    public init(
        state: State,
        tlsaName: String,
        records: [TLSARecord],
        dnssec: DNSSECStatus,
        matches: [DANEMatch],
        certificates: [CertificateDigests],
        problems: [String],
        summary: String
    ) {
        self.state = state
        self.tlsaName = tlsaName
        self.records = records
        self.dnssec = dnssec
        self.matches = matches
        self.certificates = certificates
        self.problems = problems
        self.summary = summary
    }
}

/// DANE for SMTP: RFC 7672, on RFC 6698 and RFC 7671.
public enum DANE {
    /// Checks a TLSA answer against the chain a server presented.
    ///
    /// - Parameters:
    ///   - answer: the TLSA look-up's answer.
    ///   - chain: the DER certificates as presented, leaf first.
    ///   - referenceNames: the names the leaf must carry for DANE-TA(2): the MX host name (and the
    ///     domain). DANE-EE(3) checks neither names nor dates (RFC 7672 §3.1.1).
    ///   - now: the time DANE-TA(2) checks validity dates at.
    /// - Returns: the verdict, with the digests of every certificate and a problem per record that
    ///   did not match.
    public static func check(
        _ answer: DNSAnswer<TLSARecord>,
        chain: [[UInt8]],
        referenceNames: [String],
        now: Date = Date()
    ) -> DANEOutcome {
        var checker = Checker(answer: answer, chain: chain, referenceNames: referenceNames, now: now)
        return checker.run()
    }
}

/// One check's working state.
private struct Checker {
    let answer: DNSAnswer<TLSARecord>
    let chain: [[UInt8]]
    let referenceNames: [String]
    let now: Date
    var certificates: [ParsedCertificate?] = []
    var problems: [String] = []
    var matches: [DANEMatch] = []

    init(answer: DNSAnswer<TLSARecord>, chain: [[UInt8]], referenceNames: [String], now: Date) {
        self.answer = answer
        self.chain = chain
        self.referenceNames = referenceNames
        self.now = now
    }

    mutating func run() -> DANEOutcome {
        self.certificates = self.chain.enumerated().map { index, der in
            do throws(DNSRecordError) {
                return try ParsedCertificate(der: der)
            } catch {
                self.problems.append("\(Self.position(index)) cannot be read: \(error.description)")
                return nil
            }
        }
        let name = self.answer.name
        let records = self.answer.records
        let count = "\(records.count) TLSA record\(records.count == 1 ? "" : "s")"
        if self.answer.dnssec == .bogus {
            let why = self.answer.whyBogus ?? "no reason given"
            self.problems.insert("the TLSA answer for \(name) is bogus: \(why)", at: 0)
            return self.outcome(.bogus, "DANE bogus: \(name) failed DNSSEC validation: \(why)")
        }
        if self.answer.dnssec != .secure {
            let how = self.answer.dnssec == .unvalidated ? "was not validated (no trust anchor)" : "is not DNSSEC-signed"
            let ignored = records.isEmpty ? "" : "; \(count) ignored (RFC 7672 §2.2)"
            return self.outcome(.insecure, "DANE insecure: \(name) \(how)\(ignored)")
        }
        switch self.answer.code {
        case .noError, .nxDomain:
            break
        default:
            self.problems.insert("the TLSA look-up of \(name) gave \(self.answer.code)", at: 0)
            return self.outcome(.invalid, "DANE invalid: the TLSA look-up of \(name) gave \(self.answer.code)")
        }
        if records.isEmpty {
            return self.outcome(.absent, "DANE absent: \(name) has no TLSA records (\(self.answer.code), secure)")
        }
        let usable = records.filter(\.usableForSMTP)
        if usable.isEmpty {
            for record in records {
                self.problems.append("TLSA \(record.shortDescription): \(record.unusableReason ?? "unusable")")
            }
            return self.outcome(.unusable, "DANE unusable: \(name) has \(count), none usable for SMTP (RFC 7672 §3.1.3)")
        }
        guard let leaf = self.certificates.first ?? nil else {
            // An unreadable leaf has its problem already.
            if self.chain.isEmpty { self.problems.append("the server presented no certificate") }
            return self.outcome(.invalid, "DANE invalid: \(name): no readable leaf certificate to match")
        }
        for record in usable {
            if record.usage == 3 {
                self.checkEndEntity(record, leaf: leaf)
            } else {
                self.checkTrustAnchor(record, leaf: leaf)
            }
        }
        if let first = self.matches.first {
            let what = first.certificateIndex == 0 ? "the leaf" : "certificate \(first.certificateIndex)"
            let others = usable.count > 1 ? " (\(self.matches.count) of \(usable.count) usable records matched)" : ""
            return self.outcome(.valid, "DANE valid: \(name): TLSA \(first.record.shortDescription) matches \(what)\(others)")
        }
        let none =
            usable.count == 1
            ? "the usable TLSA record does not match" : "none of \(usable.count) usable TLSA records matches"
        return self.outcome(.invalid, "DANE invalid: \(name): \(none) the presented chain")
    }

    /// DANE-EE(3): the leaf's certificate or key, no name or date check (RFC 7672 §3.1.1).
    mutating func checkEndEntity(_ record: TLSARecord, leaf: ParsedCertificate) {
        if leaf.matches(record) {
            self.matches.append(DANEMatch(record: record, certificateIndex: 0))
        } else {
            self.problems.append(
                "TLSA \(record.shortDescription) matches no certificate: the leaf (\(leaf.digests.subject)) has \(leaf.value(for: record))"
            )
        }
    }

    /// DANE-TA(2): a certificate of the chain, the chain from the leaf verifying to it, the leaf's
    /// names and the dates (RFC 7672 §3.1.2).
    mutating func checkTrustAnchor(_ record: TLSARecord, leaf: ParsedCertificate) {
        guard let index = self.certificates.firstIndex(where: { $0?.matches(record) == true }),
            let anchor = self.certificates[index]
        else {
            let presented = self.certificates.enumerated().compactMap { index, certificate in
                certificate.map { "\(Self.position(index)) (\($0.digests.subject)) has \($0.value(for: record))" }
            }
            self.problems.append(
                "TLSA \(record.shortDescription) matches no certificate of the presented chain of \(self.chain.count) (a DANE-TA trust anchor must be sent by the server): "
                    + presented.joined(separator: "; "))
            return
        }
        let prefix = "TLSA \(record.shortDescription) matches \(Self.position(index)) (\(anchor.digests.subject)), but"
        let path = self.certificates[0...index].compactMap { $0 }
        guard path.count == index + 1 else {
            self.problems.append("\(prefix) a certificate below it cannot be read")
            return
        }
        if let failure = ParsedCertificate.verify(path: path, anchor: anchor) {
            self.problems.append("\(prefix) the chain from the leaf does not verify to it: \(failure)")
            return
        }
        // The trust anchor's own dates are not checked (as for any trust anchor), the others' are.
        for (position, certificate) in path.enumerated() where position < max(index, 1) {
            if let dates = certificate.dateProblem(at: self.now) {
                self.problems.append("\(prefix) \(Self.position(position)) (\(certificate.digests.subject)) \(dates)")
                return
            }
        }
        guard self.referenceNames.contains(where: { leaf.hasName($0) }) else {
            let names = self.referenceNames.isEmpty ? "(no reference names given)" : self.referenceNames.joined(separator: ", ")
            self.problems.append("\(prefix) the leaf (\(leaf.digests.subject)) has none of the names \(names)")
            return
        }
        self.matches.append(DANEMatch(record: record, certificateIndex: index))
    }

    /// "the leaf", "certificate 2".
    static func position(_ index: Int) -> String {
        index == 0 ? "the leaf" : "certificate \(index)"
    }

    func outcome(_ state: DANEOutcome.State, _ summary: String) -> DANEOutcome {
        DANEOutcome(
            state: state,
            tlsaName: self.answer.name,
            records: self.answer.records,
            dnssec: self.answer.dnssec,
            matches: self.matches,
            certificates: self.certificates.enumerated().map { index, certificate in
                certificate?.digests
                    ?? CertificateDigests(
                        subject: "(unreadable certificate)",
                        sha256: DNSWire.hex(GnuTLSDigest.sha256(self.chain[index])),
                        sha512: DNSWire.hex(GnuTLSDigest.sha512(self.chain[index])),
                        spkiSHA256: "",
                        spkiSHA512: ""
                    )
            },
            problems: self.problems,
            summary: summary
        )
    }
}

/// One-shot digests (`gnutls_hash_fast`).
enum GnuTLSDigest {
    static func sha256(_ bytes: [UInt8]) -> [UInt8] { Self.digest(GNUTLS_DIG_SHA256, bytes) }
    static func sha512(_ bytes: [UInt8]) -> [UInt8] { Self.digest(GNUTLS_DIG_SHA512, bytes) }

    private static func digest(_ algorithm: gnutls_digest_algorithm_t, _ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(gnutls_hash_get_len(algorithm)))
        let code = bytes.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in
                gnutls_hash_fast(algorithm, input.baseAddress, input.count, output.baseAddress)
            }
        }
        precondition(code == GNUTLS_E_SUCCESS, "gnutls_hash_fast failed: \(code)")
        return out
    }
}

/// A certificate parsed by GnuTLS, with its DER and SubjectPublicKeyInfo DER exported.
final class ParsedCertificate {
    /// `gnutls_x509_crt_t`.
    let raw: OpaquePointer
    /// The certificate's DER (`gnutls_x509_crt_export2`).
    let der: [UInt8]
    /// Its SubjectPublicKeyInfo DER (`gnutls_pubkey_export2`).
    let spki: [UInt8]
    let digests: CertificateDigests

    /// Parses DER.
    ///
    /// - Throws: ``DNSRecordError`` with GnuTLS's reason.
    init(der input: [UInt8]) throws(DNSRecordError) {
        func fail(_ what: String, _ code: Int32) -> DNSRecordError {
            DNSRecordError("\(what): \(String(cString: gnutls_strerror(code)))")
        }
        guard input.count <= Int(UInt32.max) else { throw DNSRecordError("a certificate over 4 GiB") }
        var certificate: OpaquePointer?
        var code = gnutls_x509_crt_init(&certificate)
        guard code == GNUTLS_E_SUCCESS, let certificate else { throw fail("gnutls_x509_crt_init", code) }
        code = input.withUnsafeBytes { bytes in
            var datum = gnutls_datum_t(
                data: UnsafeMutablePointer(mutating: bytes.bindMemory(to: UInt8.self).baseAddress),
                size: UInt32(bytes.count))
            return gnutls_x509_crt_import(certificate, &datum, GNUTLS_X509_FMT_DER)
        }
        guard code == GNUTLS_E_SUCCESS else {
            gnutls_x509_crt_deinit(certificate)
            throw fail("not a DER X.509 certificate", code)
        }
        do throws(DNSRecordError) {
            self.der = try Self.export("exporting its DER") { gnutls_x509_crt_export2(certificate, GNUTLS_X509_FMT_DER, &$0) }
            var key: OpaquePointer?
            code = gnutls_pubkey_init(&key)
            guard code == GNUTLS_E_SUCCESS, let key else { throw fail("gnutls_pubkey_init", code) }
            defer { gnutls_pubkey_deinit(key) }
            code = gnutls_pubkey_import_x509(key, certificate, 0)
            guard code == GNUTLS_E_SUCCESS else { throw fail("reading its public key", code) }
            self.spki = try Self.export("exporting its public key") { gnutls_pubkey_export2(key, GNUTLS_X509_FMT_DER, &$0) }
        } catch {
            gnutls_x509_crt_deinit(certificate)
            throw error
        }
        self.raw = certificate
        var subject = gnutls_datum_t()
        var name = ""
        if gnutls_x509_crt_get_dn3(certificate, &subject, 0) == GNUTLS_E_SUCCESS, let data = subject.data {
            name = String(decoding: UnsafeBufferPointer(start: data, count: Int(subject.size)), as: UTF8.self)
            cgnutls_free(data)
        }
        self.digests = CertificateDigests(
            subject: name,
            sha256: DNSWire.hex(GnuTLSDigest.sha256(self.der)),
            sha512: DNSWire.hex(GnuTLSDigest.sha512(self.der)),
            spkiSHA256: DNSWire.hex(GnuTLSDigest.sha256(self.spki)),
            spkiSHA512: DNSWire.hex(GnuTLSDigest.sha512(self.spki))
        )
    }

    deinit {
        gnutls_x509_crt_deinit(self.raw)
    }

    /// Copies out a datum GnuTLS allocated, and frees it.
    private static func export(_ what: String, _ body: (inout gnutls_datum_t) -> Int32) throws(DNSRecordError) -> [UInt8] {
        var datum = gnutls_datum_t()
        let code = body(&datum)
        guard code == GNUTLS_E_SUCCESS, let data = datum.data else {
            throw DNSRecordError("\(what): \(String(cString: gnutls_strerror(code)))")
        }
        defer { cgnutls_free(data) }
        return Array(UnsafeBufferPointer(start: data, count: Int(datum.size)))
    }

    /// Whether `record` (selector and matching type) matches this certificate.
    func matches(_ record: TLSARecord) -> Bool {
        let selected = record.selector == 0 ? self.der : self.spki
        switch record.matchingType {
        case 0: return selected == record.data
        case 1: return GnuTLSDigest.sha256(selected) == record.data
        case 2: return GnuTLSDigest.sha512(selected) == record.data
        default: return false
        }
    }

    /// What this certificate offers for `record`'s selector and matching type:
    /// "SPKI SHA-256 639b4c7b54684e47…".
    func value(for record: TLSARecord) -> String {
        let what = record.selector == 0 ? "certificate" : "SPKI"
        func short(_ hex: String) -> String { String(hex.prefix(16)) + "…" }
        switch (record.selector, record.matchingType) {
        case (0, 1): return "\(what) SHA-256 \(short(self.digests.sha256))"
        case (0, 2): return "\(what) SHA-512 \(short(self.digests.sha512))"
        case (1, 1): return "\(what) SHA-256 \(short(self.digests.spkiSHA256))"
        case (1, 2): return "\(what) SHA-512 \(short(self.digests.spkiSHA512))"
        default:
            let bytes = record.selector == 0 ? self.der : self.spki
            return "a \(what) DER of \(bytes.count) bytes that differs (\(short(DNSWire.hex(bytes))))"
        }
    }

    /// Whether the certificate is valid for `name` (`gnutls_x509_crt_check_hostname`).
    func hasName(_ name: String) -> Bool {
        gnutls_x509_crt_check_hostname(self.raw, name) != 0
    }

    /// Why the certificate is not valid at `now`, or `nil`.
    func dateProblem(at now: Date) -> String? {
        let seconds = Int(now.timeIntervalSince1970)
        let activation = Int(gnutls_x509_crt_get_activation_time(self.raw))
        let expiration = Int(gnutls_x509_crt_get_expiration_time(self.raw))
        if seconds < activation { return "is not valid before \(Self.text(activation))" }
        if seconds > expiration { return "expired on \(Self.text(expiration))" }
        return nil
    }

    /// "2021-01-01T00:00:00Z".
    private static func text(_ seconds: Int) -> String {
        Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(.iso8601)
    }

    /// Verifies `path` (leaf first, ending with `anchor`) with `anchor` as the only trust anchor,
    /// dates aside (they are checked against the caller's time); `nil` when it verifies.
    static func verify(path: [ParsedCertificate], anchor: ParsedCertificate) -> String? {
        let list: [OpaquePointer?] = path.map(\.raw)
        let anchors: [OpaquePointer?] = [anchor.raw]
        let flags = GNUTLS_VERIFY_DISABLE_TIME_CHECKS.rawValue | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS.rawValue
        var status: UInt32 = 0
        let code = gnutls_x509_crt_list_verify(list, UInt32(list.count), anchors, 1, nil, 0, flags, &status)
        guard code == GNUTLS_E_SUCCESS else { return String(cString: gnutls_strerror(code)) }
        guard status != 0 else { return nil }
        var output = gnutls_datum_t()
        if gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &output, 0) == GNUTLS_E_SUCCESS,
            let data = output.data
        {
            defer { cgnutls_free(data) }
            return String(decoding: UnsafeBufferPointer(start: data, count: Int(output.size)), as: UTF8.self)
        }
        return "verification status 0x\(String(status, radix: 16))"
    }
}
