// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the MTA-STS and TLS-RPT parsers. The input as bytes is an `_mta-sts` TXT
// record, a policy file and an `_smtp._tls` TXT record; cut at NUL bytes it is a set of TXT
// records to choose from; its lines are host names checked against a parsed policy's patterns.
import FuzzSupport
import MailDomain

/// Lower case ASCII only.
func asciiLowercased(_ text: String) -> String {
    String(decoding: text.utf8.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
}

/// Runs one input through the parsers and checks their invariants.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMTASTS(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))

    // The MTA-STS record: a valid id, and the record written out again parses to the same.
    if let record = try? MTASTSRecord.parse(bytes) {
        precondition((1...32).contains(record.id.utf8.count), "an id of \(record.id.utf8.count) bytes")
        precondition(
            record.id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) },
            "an id with more than letters and digits: \(record.id)"
        )
        let text = "v=STSv1; id=\(record.id)" + record.extensions.map { "; \($0.key)=\($0.value)" }.joined()
        precondition((try? MTASTSRecord.parse(Array(text.utf8))) == record, "the record does not survive a round trip")
    }
    let records = bytes.split(separator: 0, omittingEmptySubsequences: false).map { Array($0) }
    _ = try? MTASTSRecord.select(records)
    _ = try? TLSRPTRecord.select(records)

    // The policy: fields in their bounds, and written out again it parses to the same.
    if let policy = try? MTASTSPolicy.parse(bytes) {
        precondition(policy.version == "STSv1")
        precondition((0...MTASTSPolicy.maximumMaxAge).contains(policy.maxAge), "max_age \(policy.maxAge)")
        precondition(policy.mode == .none || !policy.mx.isEmpty, "mode \(policy.mode) without mx")
        var text = "version: STSv1\nmode: \(policy.mode.rawValue)\nmax_age: \(policy.maxAge)\n"
        for pattern in policy.mx {
            precondition(asciiLowercased(pattern) == pattern, "an mx pattern not lower-cased: \(pattern)")
            text += "mx: \(pattern)\n"
            // Every exact pattern covers itself; every wildcard covers one more label.
            let host = pattern.hasPrefix("*.") ? "a" + pattern.dropFirst(1) : pattern
            precondition(policy.covers(host), "\(pattern) does not cover \(host)")
            precondition(policy.covers(host.uppercased()), "\(pattern) does not cover \(host.uppercased())")
            if pattern.hasPrefix("*.") {
                precondition(policy.pattern(covering: String(pattern.dropFirst(2))) != pattern, "\(pattern) covers its parent")
            }
        }
        for (name, value) in policy.extensions { text += "\(name): \(value)\n" }
        precondition((try? MTASTSPolicy.parse(Array(text.utf8))) == policy, "the policy does not survive a round trip")

        for line in bytes.split(separator: 0x0A) {
            let host = String(decoding: line, as: UTF8.self)
            let pattern = policy.pattern(covering: host)
            precondition(policy.covers(host) == (pattern != nil))
            if let pattern { precondition(policy.mx.contains(pattern), "a pattern not in the policy") }
        }
    }

    // The TLS-RPT record: report URIs of the two schemes, and a round trip.
    if let record = try? TLSRPTRecord.parse(bytes) {
        precondition(!record.rua.isEmpty, "no rua")
        for uri in record.rua {
            let lower = asciiLowercased(uri)
            precondition(lower.hasPrefix("mailto:") || lower.hasPrefix("https://"), "a rua of another scheme: \(uri)")
        }
        let text = "v=TLSRPTv1;rua=" + record.rua.joined(separator: ",") + record.extensions.map { ";\($0.key)=\($0.value)" }.joined()
        precondition((try? TLSRPTRecord.parse(Array(text.utf8))) == record, "the TLS-RPT record does not survive a round trip")
    }
    return 0
}

/// Runs libFuzzer on ``fuzzMTASTS(_:_:)``, or replays the files named on the command line.
@main
struct Entry {
    static func main() throws {
        try FuzzDriver.run(fuzzMTASTS)
    }
}
