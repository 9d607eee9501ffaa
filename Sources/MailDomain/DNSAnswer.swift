// SPDX-License-Identifier: Apache-2.0

/// What DNSSEC validation said of an answer.
public enum DNSSECStatus: String, Sendable, Hashable {
    /// Validated from the trust anchor down.
    case secure
    /// Provably unsigned (or answered from local data).
    case insecure
    /// Validation failed: the answer must not be used.
    case bogus
    /// No trust anchor is configured, so nothing was validated.
    case unvalidated

    /// Orders the states from weakest (bogus) to strongest (secure).
    var strength: Int {
        switch self {
        case .bogus: 0
        case .unvalidated: 1
        case .insecure: 2
        case .secure: 3
        }
    }

    /// The weaker of two states.
    static func weaker(_ a: DNSSECStatus, _ b: DNSSECStatus) -> DNSSECStatus {
        a.strength <= b.strength ? a : b
    }
}

/// A DNS response code (RFC 1035 §4.1.1).
public enum ResponseCode: Sendable, Hashable, CustomStringConvertible {
    case noError
    case nxDomain
    case serverFailure
    case other(Int)

    /// The code for a numeric RCODE.
    public init(_ rcode: Int) {
        switch rcode {
        case 0: self = .noError
        case 2: self = .serverFailure
        case 3: self = .nxDomain
        default: self = .other(rcode)
        }
    }

    /// "NOERROR", "NXDOMAIN", "SERVFAIL", "RCODE 5".
    public var description: String {
        switch self {
        case .noError: "NOERROR"
        case .nxDomain: "NXDOMAIN"
        case .serverFailure: "SERVFAIL"
        case .other(5): "REFUSED"
        case .other(let code): "RCODE \(code)"
        }
    }

    /// How bad a code is when two answers are merged: SERVFAIL, then other codes, then
    /// NXDOMAIN, then NOERROR.
    var severity: Int {
        switch self {
        case .serverFailure: 3
        case .other: 2
        case .nxDomain: 1
        case .noError: 0
        }
    }
}

/// One question's answer: its records, response code and DNSSEC state.
public struct DNSAnswer<Record: Sendable & Hashable>: Sendable, Hashable {
    /// The name as asked, lowercased, without the trailing dot.
    public var name: String
    /// "MX", "A", "AAAA", "A+AAAA", "TLSA", "TXT".
    public var type: String
    /// The response code.
    public var code: ResponseCode
    /// The records (empty for NXDOMAIN and for NOERROR with no data).
    public var records: [Record]
    /// DNSSEC validation's verdict.
    public var dnssec: DNSSECStatus
    /// libunbound's reason when ``dnssec`` is bogus.
    public var whyBogus: String?

    /// An answer with these fields.
    public init(
        name: String,
        type: String,
        code: ResponseCode,
        records: [Record],
        dnssec: DNSSECStatus,
        whyBogus: String? = nil
    ) {
        self.name = name
        self.type = type
        self.code = code
        self.records = records
        self.dnssec = dnssec
        self.whyBogus = whyBogus
    }

    /// "MX good.parley.test: NOERROR, 2 records, secure".
    public var summary: String {
        var text =
            "\(self.type) \(self.name): \(self.code), \(self.records.count) record\(self.records.count == 1 ? "" : "s"), \(self.dnssec.rawValue)"
        if let whyBogus { text += " (\(whyBogus))" }
        return text
    }
}

/// A look-up that did not produce an answer: a bad name, the deadline, libunbound itself.
public struct DomainLookupError: Error, Sendable, Hashable, CustomStringConvertible {
    /// "DNS look-up of MX good.parley.test timed out after 10 s", "libunbound: ...",
    /// "cannot read trust anchor /x: ...".
    public var description: String

    /// An error with this description.
    public init(_ description: String) {
        self.description = description
    }
}
