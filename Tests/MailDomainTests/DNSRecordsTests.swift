// SPDX-License-Identifier: Apache-2.0
import MailDomain
import Testing

/// The RDATA readers, on good and malformed bytes.
@Suite struct DNSRecordsTests {
    /// "mx1.example" in wire form.
    static let mx1Example: [UInt8] = [3] + Array("mx1".utf8) + [7] + Array("example".utf8) + [0]

    @Test func mxRecords() throws {
        let record = try MXRecord(rdata: [0, 10] + Self.mx1Example)
        #expect(record == MXRecord(preference: 10, exchange: "mx1.example"))
        #expect(!record.isNull)
        let upper = try MXRecord(rdata: [0x01, 0x00, 2] + Array("MX".utf8) + [0])
        #expect(upper == MXRecord(preference: 256, exchange: "mx"), "lowercased")
        let null = try MXRecord(rdata: [0, 0, 0])
        #expect(null.isNull)
        #expect(null.exchange == "")
        let escaped = try MXRecord(rdata: [0, 1, 3, UInt8(ascii: "a"), UInt8(ascii: "."), 0xff, 0])
        #expect(escaped.exchange == "a\\046\\255", "bytes outside host names in \\DDD form")
    }

    @Test(arguments: [
        ([UInt8](), "MX RDATA of 0 bytes"),
        ([0, 10], "MX RDATA of 2 bytes"),
        ([0, 10, 3, 0x61, 0x62], "has a label of 3 bytes but only 2 remain"),
        ([0, 10, 1, 0x61], "ends before its final zero-length label"),
        ([0, 10, 0xC0, 0x0C], "compression pointer"),
        ([0, 10, 0x41, 0x00], "reserved type 0x40"),
        ([0, 10, 0, 1], "1 bytes after the exchange name"),
    ])
    func malformedMXRecords(rdata: [UInt8], message: String) {
        do {
            _ = try MXRecord(rdata: rdata)
            Issue.record("accepted \(rdata)")
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    @Test func namesAreBounded() throws {
        // A label of 64 bytes: 0x40 is a reserved label type, so no length byte over 63 is a length.
        var offset = 0
        #expect(throws: DNSRecordError.self) { try DNSWire.name([64] + Array(repeating: 0x61, count: 64) + [0], at: &offset) }
        offset = 0
        let label: [UInt8] = [63] + Array(repeating: 0x61, count: 63)
        let longest: [UInt8] = label + label + label + [61] + Array(repeating: 0x61, count: 61) + [0]
        #expect(longest.count == 255)
        let name = try DNSWire.name(longest, at: &offset)
        #expect(offset == 255)
        #expect(name.utf8.count == 253)
        offset = 0
        let tooLong: [UInt8] = label + label + label + label + [0]
        do throws(DNSRecordError) {
            _ = try DNSWire.name(tooLong, at: &offset)
            Issue.record("a 257-byte name was accepted")
        } catch {
            #expect(error.description.contains("longer than 255 bytes"))
        }
        #expect(offset == 0, "the offset moves only on success")
    }

    @Test func tlsaRecords() throws {
        let digest = [UInt8](repeating: 0xab, count: 32)
        let record = try TLSARecord(rdata: [3, 1, 1] + digest)
        #expect(record == TLSARecord(usage: 3, selector: 1, matchingType: 1, data: digest))
        #expect(record.description == "3 1 1 " + String(repeating: "ab", count: 32))
        #expect(record.shortDescription == "3 1 1 abababababababab…")
        #expect(record.usableForSMTP)
        #expect(throws: DNSRecordError("TLSA RDATA of 2 bytes: usage, selector and matching type need 3")) {
            try TLSARecord(rdata: [3, 1])
        }
        #expect(throws: DNSRecordError("TLSA RDATA 3 1 1 has no certificate association data")) {
            try TLSARecord(rdata: [3, 1, 1])
        }
    }

    @Test func tlsaUsabilityForSMTP() {
        func record(_ usage: UInt8, _ selector: UInt8, _ matching: UInt8, _ count: Int) -> TLSARecord {
            TLSARecord(usage: usage, selector: selector, matchingType: matching, data: Array(repeating: 1, count: count))
        }
        #expect(record(2, 0, 1, 32).usableForSMTP)
        #expect(record(3, 0, 2, 64).usableForSMTP)
        #expect(record(3, 1, 0, 91).usableForSMTP)
        #expect(!record(0, 0, 1, 32).usableForSMTP)
        #expect(record(1, 1, 1, 32).unusableReason == "usage 1 (PKIX-EE) is not used for SMTP (RFC 7672 §3.1.3)")
        #expect(!record(4, 1, 1, 32).usableForSMTP)
        #expect(record(3, 2, 1, 32).unusableReason == "selector 2 is not defined")
        #expect(record(3, 1, 3, 32).unusableReason == "matching type 3 is not defined")
        #expect(record(3, 1, 1, 31).unusableReason == "a SHA-256 digest of 31 bytes, not 32")
        #expect(record(3, 1, 2, 32).unusableReason == "a SHA-512 digest of 32 bytes, not 64")
    }

    @Test func txtRecords() throws {
        #expect(try DNSWire.characterStrings([3, 0x61, 0x62, 0x63, 0, 1, 0x64]) == [[0x61, 0x62, 0x63], [], [0x64]])
        #expect(try DNSWire.txt([3, 0x61, 0x62, 0x63, 0, 1, 0x64]) == [0x61, 0x62, 0x63, 0x64])
        #expect(try DNSWire.txt([0]) == [])
        #expect(throws: DNSRecordError("TXT RDATA is empty: it needs at least one character-string")) {
            try DNSWire.txt([])
        }
        #expect(throws: DNSRecordError("TXT character-string at byte 2 claims 5 bytes but only 1 remain")) {
            try DNSWire.txt([1, 0x61, 5, 0x62])
        }
    }

    @Test func addresses() throws {
        #expect(try DNSWire.address([127, 0, 2, 1]) == "127.0.2.1")
        #expect(try DNSWire.address(Array(repeating: 0, count: 15) + [1]) == "::1")
        #expect(try DNSWire.address([0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [5]) == "2001:db8::5")
        #expect(throws: DNSRecordError("address RDATA of 5 bytes: A has 4, AAAA 16")) { try DNSWire.address([1, 2, 3, 4, 5]) }
        #expect(throws: DNSRecordError.self) { try DNSWire.address([]) }
    }
}
