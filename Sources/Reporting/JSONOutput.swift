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
