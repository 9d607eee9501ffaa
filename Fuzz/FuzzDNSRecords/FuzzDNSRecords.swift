// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the DNS record readers of MailDomain and the DANE check. The input is read
// as MX, TLSA, TXT and address RDATA and as a wire-format name at every offset of its first
// bytes; then as a certificate (DER) checked against a TLSA record made from the input.
import Foundation
import FuzzSupport
import MailDomain

/// The wire form of a name in presentation form as `DNSWire.name` writes it ("" is the root;
/// `\DDD` is one byte).
func wire(_ name: String) -> [UInt8] {
    guard !name.isEmpty else { return [0] }
    var out: [UInt8] = []
    for label in name.split(separator: ".", omittingEmptySubsequences: false) {
        var bytes: [UInt8] = []
        var text = Array(label.utf8)[...]
        while let byte = text.first {
            text = text.dropFirst()
            if byte == UInt8(ascii: "\\") {
                let digits = text.prefix(3).map { Int($0 - UInt8(ascii: "0")) }
                precondition(digits.count == 3, "a truncated escape in \(name)")
                bytes.append(UInt8(digits[0] * 100 + digits[1] * 10 + digits[2]))
                text = text.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        out.append(UInt8(bytes.count))
        out += bytes
    }
    return out + [0]
}

/// ASCII letters lowercased, as the reader lowercases them.
func lowercased(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
    bytes.map { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) ? $0 + 32 : $0 }
}

/// A fixed moment, so runs repeat.
let now = Date(timeIntervalSince1970: 1_790_000_000)

/// Runs one input through the readers and checks their invariants.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDNSRecords(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    // MX: what reads writes back to the same bytes (lowercased), within the name bounds.
    if let record = try? MXRecord(rdata: bytes) {
        precondition(record.preference == UInt16(bytes[0]) << 8 | UInt16(bytes[1]), "the preference is not the first two bytes")
        let encoded = wire(record.exchange)
        precondition(encoded.count <= DNSWire.maximumNameLength, "a name over 255 bytes was accepted")
        precondition(encoded == lowercased(bytes[2...]), "the exchange does not round-trip: \(record.exchange)")
        precondition(record.isNull == (encoded == [0]), "isNull disagrees with the name")
    }

    // Names at each of the first offsets: the offset moves only on success, and not past the end.
    for start in 0..<min(bytes.count, 8) {
        var offset = start
        if let name = try? DNSWire.name(bytes, at: &offset) {
            precondition(offset > start && offset <= bytes.count, "the offset moved wrongly")
            precondition(wire(name) == lowercased(bytes[start..<offset]), "a name does not round-trip: \(name)")
        } else {
            precondition(offset == start, "the offset moved on failure")
        }
    }

    // TLSA: read iff there are association data; presentation form; usability agrees with its reason.
    var tlsa: TLSARecord?
    do {
        let record = try TLSARecord(rdata: bytes)
        precondition(bytes.count > 3, "TLSA without association data was accepted")
        precondition(record.data == Array(bytes[3...]), "TLSA data is not the rest of the RDATA")
        precondition(
            record.description == "\(bytes[0]) \(bytes[1]) \(bytes[2]) " + DNSWire.hex(record.data),
            "an odd presentation form")
        precondition(record.usableForSMTP == (record.unusableReason == nil), "usableForSMTP disagrees with its reason")
        tlsa = record
    } catch {
        precondition(bytes.count <= 3, "TLSA RDATA of \(bytes.count) bytes refused: \(error)")
    }

    // TXT: the strings and their length bytes fill the RDATA; the value is their concatenation.
    if let strings = try? DNSWire.characterStrings(bytes) {
        precondition(strings.reduce(0) { $0 + 1 + $1.count } == bytes.count, "character-strings do not fill the RDATA")
        precondition((try? DNSWire.txt(bytes)) == strings.flatMap { $0 }, "txt is not the concatenation")
    } else {
        precondition((try? DNSWire.txt(bytes)) == nil, "txt read what characterStrings refused")
    }

    // Addresses: exactly 4 or 16 bytes.
    let address = try? DNSWire.address(bytes)
    precondition((address != nil) == (bytes.count == 4 || bytes.count == 16), "an address of \(bytes.count) bytes")

    // DANE: the input as the leaf (and as the whole chain's DER), against its own TLSA reading
    // and a DANE-EE record of its SHA-256: a verdict, never a crash.
    var records = [TLSARecord(usage: 3, selector: 0, matchingType: 0, data: bytes)]
    if let tlsa { records.append(tlsa) }
    let answer = DNSAnswer(name: "_25._tcp.mx.fuzz.test", type: "TLSA", code: .noError, records: records, dnssec: .secure)
    let outcome = DANE.check(answer, chain: [bytes, bytes], referenceNames: ["mx.fuzz.test"], now: now)
    precondition(outcome.certificates.count == 2, "not one digest set per certificate")
    if !bytes.isEmpty, outcome.state == .valid {
        precondition(!outcome.matches.isEmpty, "valid without a match")
    }
    return 0
}

/// Runs libFuzzer on ``fuzzDNSRecords(_:_:)``, or replays the files named on the command line.
@main
struct Entry {
    static func main() throws {
        try FuzzDriver.run(fuzzDNSRecords)
    }
}
