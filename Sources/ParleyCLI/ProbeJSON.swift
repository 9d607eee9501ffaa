// SPDX-License-Identifier: Apache-2.0
import Foundation
import NetworkStream
import Reporting
import Runner

/// What `parley probe --json` prints: one object with sorted keys, on one line.
///
/// `process` (`name`, `status`, `type`; null when none resulted), `greeting` and `capabilities`
/// (received bytes, see ``WireBytes``; null when not read), `type` (`plain` or `tls`), `error`,
/// `discarded_bytes`, and `tls` (``TLSFactsJSON`` with `provider` and the leaf certificate as
/// `peer`; null without TLS).
struct ProbeJSON: Encodable {
    /// The process, as `process-status` and `process-type` name it.
    struct Process: Encodable {
        var name: String
        var status: String
        var type: String
    }

    @NullWhenAbsent var process: Process?
    @NullWhenAbsent var greeting: WireBytes?
    @NullWhenAbsent var capabilities: WireBytes?
    var type: String
    @NullWhenAbsent var error: String?
    var discardedBytes: Int
    @NullWhenAbsent var tls: TLSFactsJSON?

    enum CodingKeys: String, CodingKey {
        case process, greeting, capabilities, type, error
        case discardedBytes = "discarded_bytes"
        case tls
    }

    /// The JSON of an open-network-stream result.
    init(_ result: OpenStreamResult, snapshot: ProcessSnapshot?) {
        process = snapshot.map { Process(name: $0.name, status: $0.status.rawValue, type: $0.type.rawValue) }
        greeting = result.greeting.map(WireBytes.init)
        capabilities = result.capabilities.map(WireBytes.init)
        type = result.type.rawValue
        error = result.error
        discardedBytes = result.discardedBytes
        tls = result.tls.map { TLSFactsJSON(TLSFacts($0), provider: (result.tlsProvider ?? .builtin).rawValue, leafOnly: true) }
    }

    /// The object as one line of JSON (no newline).
    func rendered() -> String {
        WireBytes.json(self)
    }
}

/// Received bytes in the probe's JSON: a string with every byte kept (``JSONText``). Valid
/// UTF-8 is text; each byte of an invalid sequence is `\udcXX`, which no Swift `String` can hold,
/// so `JSONEncoder` writes a placeholder that ``json(_:)`` replaces with the bytes' literal.
struct WireBytes: Encodable {
    /// The bytes.
    var bytes: [UInt8]

    func encode(to encoder: any Encoder) throws {
        guard let slots = encoder.userInfo[Slots.key] as? Slots else {
            throw EncodingError.invalidValue(
                bytes,
                .init(codingPath: encoder.codingPath, debugDescription: "WireBytes are encoded by WireBytes.json(_:)")
            )
        }
        var container = encoder.singleValueContainer()
        try container.encode(slots.placeholder(for: bytes))
    }

    /// `value` as one line of JSON with Parley's rules (``JSONOutput``: sorted keys, dates in
    /// ISO 8601, `2026-11-25T10:00:00Z`), and its ``WireBytes`` as ``JSONText`` literals.
    static func json(_ value: some Encodable) -> String {
        while true {
            let slots = Slots()
            let encoder = JSONOutput.encoder(pretty: false)
            encoder.userInfo[Slots.key] = slots
            // Strings, numbers, dates and WireBytes (given their slots) always encode.
            guard let data = try? encoder.encode(value) else { return "{}" }
            var text = String(decoding: data, as: UTF8.self)
            let filled = slots.all
            // A placeholder is a fresh UUID; the check makes a collision with received text
            // (which would have to guess it) impossible, not just unlikely.
            guard filled.allSatisfy({ text.components(separatedBy: $0.literal).count == 2 }) else { continue }
            for slot in filled {
                text = text.replacingOccurrences(of: slot.literal, with: JSONText.string(slot.bytes))
            }
            return text
        }
    }

    /// The placeholders of one encoding.
    final class Slots: @unchecked Sendable {
        static let key = CodingUserInfoKey(rawValue: "parley.wire-bytes")!

        private let lock = NSLock()
        private let nonce = UUID().uuidString
        private var filled: [(literal: String, bytes: [UInt8])] = []

        /// A placeholder for `bytes`, unique in this encoding.
        func placeholder(for bytes: [UInt8]) -> String {
            lock.lock()
            defer { lock.unlock() }
            let text = "wire-bytes-\(nonce)-\(filled.count)"
            filled.append((literal: "\"\(text)\"", bytes: bytes))
            return text
        }

        /// Every placeholder handed out, as its JSON literal, with its bytes.
        var all: [(literal: String, bytes: [UInt8])] {
            lock.lock()
            defer { lock.unlock() }
            return filled
        }
    }
}

/// JSON string literals for received bytes: valid UTF-8 is kept as text (with JSON's escapes),
/// and each byte of an invalid sequence becomes `\udcXX` (the "surrogateescape" convention: a
/// lone low surrogate that no valid text produces), so no byte is dropped and the bytes can be
/// recovered exactly.
///
/// This is the one JSON string writer by hand left in Parley, and it is for received bytes only:
/// `JSONEncoder` writes Swift `String`s, which cannot hold a lone surrogate, so it cannot write
/// `\udcXX` (``WireBytes`` puts these literals where the encoder left placeholders). Everything
/// else in every JSON document is written by `JSONEncoder` (``JSONOutput``).
enum JSONText {
    /// `bytes` as a JSON string literal, quotes included.
    static func string(_ bytes: [UInt8]) -> String {
        var out = "\""
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            let length = sequenceLength(bytes, at: index)
            guard length > 0 else {
                out += "\\udc" + hex(lead)
                index += 1
                continue
            }
            if length == 1 {
                switch lead {
                case 0x22: out += "\\\""
                case 0x5C: out += "\\\\"
                case 0x0A: out += "\\n"
                case 0x0D: out += "\\r"
                case 0x09: out += "\\t"
                case 0..<0x20, 0x7F: out += "\\u00" + hex(lead)
                default: out.unicodeScalars.append(Unicode.Scalar(lead))
                }
            } else {
                out += String(decoding: bytes[index..<index + length], as: UTF8.self)
            }
            index += length
        }
        return out + "\""
    }

    /// The length of the valid UTF-8 sequence at `index`, or 0 when it is invalid.
    static func sequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let lead = bytes[index]
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            high = 0x9F
        case 0xF0:
            length = 4
            low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            high = 0x8F
        default: return 0
        }
        guard index + length <= bytes.count else { return 0 }
        for offset in 1..<length {
            let byte = bytes[index + offset]
            let (lo, hi) = offset == 1 ? (low, high) : (UInt8(0x80), UInt8(0xBF))
            guard byte >= lo && byte <= hi else { return 0 }
        }
        return length
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}
