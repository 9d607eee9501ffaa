// SPDX-License-Identifier: Apache-2.0
public import Foundation

/// How Parley writes JSON: every document (the `--json` report, `parley probe --json`,
/// `parley version --json`) goes through `JSONEncoder` configured here, so they share one set of
/// rules: keys sorted, slashes not escaped, dates as ``timestamp(_:)``.
public enum JSONOutput {
    /// An encoder with Parley's rules.
    ///
    /// - Parameter pretty: indent (the report, for people reading a file) or write one line (the
    ///   probe and `parley version`, for shell pipelines).
    public static func encoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(timestamp(date))
        }
        return encoder
    }

    /// A decoder that reads what ``encoder(pretty:)`` writes (dates included).
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 date: \(text)")
            }
            return date
        }
        return decoder
    }

    /// `value` as JSON text with Parley's rules (no newline at the end).
    ///
    /// - Throws: `EncodingError` when a value refuses to encode (a non-finite number).
    public static func string(_ value: some Encodable, pretty: Bool) throws -> String {
        String(decoding: try encoder(pretty: pretty).encode(value), as: UTF8.self)
    }

    /// A point in time as every report writes it: ISO 8601 in UTC to the second
    /// (`2026-11-25T10:00:00Z`), the JSON documents' dates and JUnit's `timestamp` alike.
    public static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }
}

/// An optional that JSON writes as `null` when it is absent, where synthesized `Codable` would
/// leave the key out: every field of Parley's documents is always there. Reading accepts `null`
/// and a missing key alike.
@propertyWrapper
public struct NullWhenAbsent<Value> {
    /// The value, or nil for `null`.
    public var wrappedValue: Value?

    /// Wraps `wrappedValue`.
    public init(wrappedValue: Value?) {
        self.wrappedValue = wrappedValue
    }
}

extension NullWhenAbsent: Sendable where Value: Sendable {}
extension NullWhenAbsent: Equatable where Value: Equatable {}

extension NullWhenAbsent: Encodable where Value: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

extension NullWhenAbsent: Decodable where Value: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? nil : try container.decode(Value.self)
    }
}

extension KeyedDecodingContainer {
    /// A ``NullWhenAbsent`` whose key is missing reads as absent.
    public func decode<Value: Decodable>(_ type: NullWhenAbsent<Value>.Type, forKey key: Key) throws -> NullWhenAbsent<Value> {
        try decodeIfPresent(type, forKey: key) ?? NullWhenAbsent(wrappedValue: nil)
    }
}
