// SPDX-License-Identifier: Apache-2.0
internal import NIOCore

/// RDATA that cannot be read: what was wrong and where.
public struct DNSRecordError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One sentence for a person.
    public var description: String

    /// An error with this description.
    public init(_ description: String) {
        self.description = description
    }
}

/// An MX record (RFC 1035 §3.3.9; RFC 7505 for the null MX).
public struct MXRecord: Sendable, Hashable {
    /// Lower values are preferred.
    public var preference: UInt16
    /// The host, lowercased, without the trailing dot; "" for the root (a null MX).
    public var exchange: String
    /// Whether this is a null MX (RFC 7505): the exchange is the root.
    public var isNull: Bool { self.exchange.isEmpty }

    /// A record with these fields.
    public init(preference: UInt16, exchange: String) {
        self.preference = preference
        self.exchange = exchange
    }

    /// Reads MX RDATA: a 16-bit preference and an uncompressed wire-format name, nothing after it.
    ///
    /// - Throws: ``DNSRecordError`` when the RDATA is short, the name is malformed, or bytes follow it.
    public init(rdata: [UInt8]) throws(DNSRecordError) {
        guard rdata.count >= 3 else {
            throw DNSRecordError("MX RDATA of \(rdata.count) bytes: a preference and a name need at least 3")
        }
        let preference = UInt16(rdata[0]) << 8 | UInt16(rdata[1])
        var offset = 2
        let name = try DNSWire.name(rdata, at: &offset)
        guard offset == rdata.count else {
            throw DNSRecordError("MX RDATA has \(rdata.count - offset) bytes after the exchange name")
        }
        self.init(preference: preference, exchange: name)
    }
}

/// A TLSA record (RFC 6698 §2): certificate usage, selector, matching type, association data.
public struct TLSARecord: Sendable, Hashable, CustomStringConvertible {
    /// 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    public var usage: UInt8
    /// 0 the full certificate, 1 its SubjectPublicKeyInfo.
    public var selector: UInt8
    /// 0 exact, 1 SHA-256, 2 SHA-512.
    public var matchingType: UInt8
    /// The certificate association data.
    public var data: [UInt8]

    /// A record with these fields.
    public init(usage: UInt8, selector: UInt8, matchingType: UInt8, data: [UInt8]) {
        self.usage = usage
        self.selector = selector
        self.matchingType = matchingType
        self.data = data
    }

    /// Reads TLSA RDATA: three one-byte fields and at least one byte of association data.
    ///
    /// - Throws: ``DNSRecordError`` when the RDATA is too short.
    public init(rdata: [UInt8]) throws(DNSRecordError) {
        guard rdata.count >= 3 else {
            throw DNSRecordError(
                "TLSA RDATA of \(rdata.count) bytes: usage, selector and matching type need 3")
        }
        guard rdata.count > 3 else {
            throw DNSRecordError(
                "TLSA RDATA \(rdata[0]) \(rdata[1]) \(rdata[2]) has no certificate association data")
        }
        self.init(usage: rdata[0], selector: rdata[1], matchingType: rdata[2], data: Array(rdata[3...]))
    }

    /// The presentation form: "3 1 1 <lowercase hex>".
    public var description: String {
        "\(self.usage) \(self.selector) \(self.matchingType) \(DNSWire.hex(self.data))"
    }

    /// The presentation form with the data cut to its first 8 bytes: "3 1 1 639b4c7b54684e47…".
    public var shortDescription: String {
        let hex = DNSWire.hex(Array(self.data.prefix(8)))
        return "\(self.usage) \(self.selector) \(self.matchingType) \(hex)\(self.data.count > 8 ? "…" : "")"
    }

    /// Whether an SMTP client may use this record (RFC 7672 §3.1.3): usage DANE-TA(2) or
    /// DANE-EE(3), selector 0 or 1, matching type 0 (non-empty), 1 (32 bytes) or 2 (64 bytes).
    public var usableForSMTP: Bool { self.unusableReason == nil }

    /// Why ``usableForSMTP`` is false, or `nil` when it is true.
    public var unusableReason: String? {
        switch self.usage {
        case 2, 3: break
        case 0: return "usage 0 (PKIX-TA) is not used for SMTP (RFC 7672 §3.1.3)"
        case 1: return "usage 1 (PKIX-EE) is not used for SMTP (RFC 7672 §3.1.3)"
        default: return "usage \(self.usage) is not defined"
        }
        guard self.selector <= 1 else { return "selector \(self.selector) is not defined" }
        switch self.matchingType {
        case 0: return self.data.isEmpty ? "no association data" : nil
        case 1: return self.data.count == 32 ? nil : "a SHA-256 digest of \(self.data.count) bytes, not 32"
        case 2: return self.data.count == 64 ? nil : "a SHA-512 digest of \(self.data.count) bytes, not 64"
        default: return "matching type \(self.matchingType) is not defined"
        }
    }
}

/// Readers of DNS wire-format pieces, over bytes, with typed errors (RFC 1035 §3.1, §3.3).
public enum DNSWire {
    /// The longest name in wire form, length bytes and the final zero included (RFC 1035 §2.3.4).
    public static let maximumNameLength = 255
    /// The longest label.
    public static let maximumLabelLength = 63

    /// Reads an uncompressed wire-format name starting at `offset` and moves `offset` past it.
    ///
    /// Letters are lowercased; bytes other than letters, digits, '-', '_' and '*' are written as
    /// `\DDD` (RFC 4343 presentation form). The root is "".
    ///
    /// - Throws: ``DNSRecordError`` for a truncated name, a compression pointer or reserved label
    ///   type, a label over 63 bytes, or a name over 255 bytes.
    public static func name(_ bytes: [UInt8], at offset: inout Int) throws(DNSRecordError) -> String {
        let start = offset
        var labels: [String] = []
        var position = offset
        while true {
            guard position < bytes.count else {
                throw DNSRecordError("name at byte \(start) ends before its final zero-length label")
            }
            let length = Int(bytes[position])
            if length == 0 {
                position += 1
                break
            }
            switch length & 0xC0 {
            case 0xC0:
                throw DNSRecordError("name at byte \(start) has a compression pointer, not allowed in RDATA here")
            case 0x40, 0x80:
                throw DNSRecordError(
                    "name at byte \(start) has a label of reserved type 0x\(DNSWire.hex([UInt8(length & 0xC0)]))")
            default:
                break
            }
            guard length <= Self.maximumLabelLength else {
                throw DNSRecordError("name at byte \(start) has a label of \(length) bytes, over 63")
            }
            guard position + 1 + length <= bytes.count else {
                throw DNSRecordError(
                    "name at byte \(start) has a label of \(length) bytes but only \(bytes.count - position - 1) remain")
            }
            guard position + 1 + length + 1 - start <= Self.maximumNameLength else {
                throw DNSRecordError("name at byte \(start) is longer than 255 bytes")
            }
            labels.append(Self.label(bytes[(position + 1)..<(position + 1 + length)]))
            position += 1 + length
        }
        offset = position
        return labels.joined(separator: ".")
    }

    /// One label in presentation form, lowercased.
    private static func label(_ bytes: ArraySlice<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                out.append(byte + 32)
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"),
                UInt8(ascii: "_"), UInt8(ascii: "*"):
                out.append(byte)
            default:
                let digits = [byte / 100, byte / 10 % 10, byte % 10].map { UInt8(ascii: "0") + $0 }
                out.append(UInt8(ascii: "\\"))
                out.append(contentsOf: digits)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads TXT RDATA (RFC 1035 §3.3.14): one or more character-strings, each a length byte
    /// and that many bytes, filling the RDATA exactly.
    ///
    /// - Throws: ``DNSRecordError`` for empty RDATA or a string that runs past the end.
    public static func characterStrings(_ rdata: [UInt8]) throws(DNSRecordError) -> [[UInt8]] {
        guard !rdata.isEmpty else { throw DNSRecordError("TXT RDATA is empty: it needs at least one character-string") }
        var strings: [[UInt8]] = []
        var position = 0
        while position < rdata.count {
            let length = Int(rdata[position])
            guard position + 1 + length <= rdata.count else {
                throw DNSRecordError(
                    "TXT character-string at byte \(position) claims \(length) bytes but only \(rdata.count - position - 1) remain"
                )
            }
            strings.append(Array(rdata[(position + 1)..<(position + 1 + length)]))
            position += 1 + length
        }
        return strings
    }

    /// TXT RDATA as one value: its character-strings concatenated (as RFC 7208 §3.3, RFC 8461
    /// §3.1 and RFC 8460 §3 read them).
    public static func txt(_ rdata: [UInt8]) throws(DNSRecordError) -> [UInt8] {
        try Self.characterStrings(rdata).reduce(into: []) { $0 += $1 }
    }

    /// A RDATA (4 bytes) or AAAA RDATA (16 bytes) in text form ("127.0.2.1", "::1").
    ///
    /// - Throws: ``DNSRecordError`` when the length is neither.
    public static func address(_ rdata: [UInt8]) throws(DNSRecordError) -> String {
        guard rdata.count == 4 || rdata.count == 16 else {
            throw DNSRecordError("address RDATA of \(rdata.count) bytes: A has 4, AAAA 16")
        }
        if rdata.count == 4 {
            return rdata.map(String.init).joined(separator: ".")
        }
        var packed = ByteBufferAllocator().buffer(capacity: 16)
        packed.writeBytes(rdata)
        guard let address = try? SocketAddress(packedIPAddress: packed, port: 0), let text = address.ipAddress else {
            throw DNSRecordError("AAAA RDATA cannot be written as an address")
        }
        return text
    }

    /// Lowercase hex without separators.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
