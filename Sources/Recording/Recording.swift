// SPDX-License-Identifier: Apache-2.0
public import Foundation

/// One dialog recorded by `parley record`: both directions with their timings, bytes exact,
/// across the STARTTLS boundary, with every credential replaced by a variable before anything
/// is kept. Written as `NAME.recording.json`; the client scenario and the server script are
/// generated from it (``ScenarioWriter``).
public struct Recording: Codable, Sendable, Equatable {
    /// The file format's version.
    public var format = 1
    /// The preset the proxy followed (`smtp`, `submission`, `imap`, `pop3`).
    public var preset: String
    /// The server the dialog went to.
    public var upstream: Upstream
    /// When the client connected (ISO 8601, UTC).
    public var recordedAt: String
    /// What happened, in order.
    public var events: [Event]
    /// The variables that stand for credentials in the client's lines.
    public var variables: [Variable]
    /// The TLS session with the server, once there was one.
    public var upstreamTLS: TLSRecord?
    /// The TLS session with the client (the proxy's certificate), once there was one.
    public var clientTLS: TLSRecord?
    /// Whether the recording stopped keeping bytes at its size limit (the dialog went on).
    public var truncated = false

    public init(preset: String, upstream: Upstream, recordedAt: String) {
        self.preset = preset
        self.upstream = upstream
        self.recordedAt = recordedAt
        self.events = []
        self.variables = []
    }

    enum CodingKeys: String, CodingKey {
        case format, preset, upstream, events, variables, truncated
        case recordedAt = "recorded_at"
        case upstreamTLS = "upstream_tls"
        case clientTLS = "client_tls"
    }

    /// The server: where it is and the name its certificate is checked for.
    public struct Upstream: Codable, Sendable, Equatable {
        public var host: String
        public var port: Int
        public var serverName: String
        /// TLS from the first byte (SMTPS, IMAPS, POP3S) rather than STARTTLS.
        public var implicitTLS: Bool

        public init(host: String, port: Int, serverName: String, implicitTLS: Bool) {
            self.host = host
            self.port = port
            self.serverName = serverName
            self.implicitTLS = implicitTLS
        }

        enum CodingKeys: String, CodingKey {
            case host, port
            case serverName = "server_name"
            case implicitTLS = "implicit_tls"
        }
    }

    /// A variable standing for a credential.
    public struct Variable: Codable, Sendable, Equatable {
        public var name: String
        /// A secret: masked in every report; never written anywhere.
        public var secret: Bool
        /// What it stands for ("the SASL PLAIN password").
        public var meaning: String

        public init(name: String, secret: Bool, meaning: String) {
            self.name = name
            self.secret = secret
            self.meaning = meaning
        }
    }

    /// The facts of one TLS session.
    public struct TLSRecord: Codable, Sendable, Equatable {
        public var version: String
        public var cipher: String
        public var group: String?
        public var alpn: String?
        public var verified: Bool
        public var problems: [String]
        public var peerSubject: String?
        public var peerIssuer: String?
        public var peerSAN: [String]
        /// The name sent (client side: the one the client sent as SNI).
        public var serverName: String?

        public init(
            version: String, cipher: String, group: String? = nil, alpn: String? = nil, verified: Bool,
            problems: [String] = [], peerSubject: String? = nil, peerIssuer: String? = nil, peerSAN: [String] = [],
            serverName: String? = nil
        ) {
            self.version = version
            self.cipher = cipher
            self.group = group
            self.alpn = alpn
            self.verified = verified
            self.problems = problems
            self.peerSubject = peerSubject
            self.peerIssuer = peerIssuer
            self.peerSAN = peerSAN
            self.serverName = serverName
        }

        enum CodingKeys: String, CodingKey {
            case version, cipher, group, alpn, verified, problems
            case peerSubject = "peer_subject"
            case peerIssuer = "peer_issuer"
            case peerSAN = "peer_san"
            case serverName = "server_name"
        }
    }

    /// Who an event came from.
    public enum Side: String, Codable, Sendable {
        case client, server
    }

    /// One thing that happened.
    public struct Event: Codable, Sendable, Equatable {
        /// Seconds since the client connected.
        public var at: Double
        public var kind: Kind
        /// Who sent the bytes, discarded them, or closed.
        public var from: Side?
        /// Under TLS.
        public var tls: Bool
        /// The bytes (`data`, `discarded`), credentials as variables.
        public var pieces: [Piece]?

        public init(at: Double, kind: Kind, from: Side? = nil, tls: Bool, pieces: [Piece]? = nil) {
            self.at = at
            self.kind = kind
            self.from = from
            self.tls = tls
            self.pieces = pieces
        }

        /// The bytes of a data event with variables left out (for comparisons and tests).
        public var literalBytes: [UInt8] {
            (pieces ?? []).flatMap { piece -> [UInt8] in
                if case .bytes(let bytes) = piece { return bytes }
                return []
            }
        }
    }

    /// What an event is.
    public enum Kind: String, Codable, Sendable {
        /// Bytes relayed: one client line, or what one read brought from the server.
        case data
        /// The server said go ahead to STARTTLS: both sides start TLS.
        case starttls
        /// Both TLS handshakes finished.
        case handshake
        /// Plaintext that arrived after the go-ahead (the response-injection defence), dropped.
        case discarded
        /// The side in `from` closed the connection.
        case closed
    }

    /// Part of a recorded line: bytes, or a credential as a variable.
    public enum Piece: Sendable, Equatable {
        case bytes([UInt8])
        /// `${NAME}`.
        case variable(String)
        /// The base64 encoding of a template (`"\0${MAIL_USER}\0${MAIL_PASSWORD}"` for SASL PLAIN).
        case base64(String)
    }
}

extension Recording.Piece: Codable {
    enum CodingKeys: String, CodingKey {
        case text, hex, variable, base64
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let text = try container.decodeIfPresent(String.self, forKey: .text) {
            self = .bytes(Array(text.utf8))
        } else if let hex = try container.decodeIfPresent(String.self, forKey: .hex) {
            guard let bytes = Self.bytes(hex: hex) else {
                throw DecodingError.dataCorruptedError(forKey: .hex, in: container, debugDescription: "not hexadecimal pairs")
            }
            self = .bytes(bytes)
        } else if let name = try container.decodeIfPresent(String.self, forKey: .variable) {
            self = .variable(name)
        } else if let template = try container.decodeIfPresent(String.self, forKey: .base64) {
            self = .base64(template)
        } else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "a piece is {text}, {hex}, {variable} or {base64}")
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .bytes(let bytes):
            // Text when it is UTF-8 that survives the round trip; hexadecimal otherwise.
            if let text = String(validating: bytes, as: UTF8.self), Array(text.utf8) == bytes {
                try container.encode(text, forKey: .text)
            } else {
                try container.encode(Self.hex(bytes), forKey: .hex)
            }
        case .variable(let name): try container.encode(name, forKey: .variable)
        case .base64(let template): try container.encode(template, forKey: .base64)
        }
    }

    /// Lowercase hexadecimal pairs, as `{hex}` pieces and `send: {hex}` parts take them.
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: byte - 48
        case 97...102: byte - 87
        case 65...70: byte - 55
        default: nil
        }
    }
}

extension Recording {
    /// Reads a recording file's bytes; the error names what is wrong.
    public static func decode(_ data: Data) throws(RecordingError) -> Recording {
        let recording: Recording
        do {
            recording = try JSONDecoder().decode(Recording.self, from: data)
        } catch let error as DecodingError {
            throw RecordingError(Self.describe(error))
        } catch {
            throw RecordingError("\(error)")
        }
        guard recording.format == 1 else { throw RecordingError("format \(recording.format) is not one this parley reads (1)") }
        return recording
    }

    /// The file's text: pretty, keys sorted, one event per few lines.
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Encoding plain values cannot fail.
        return (try? encoder.encode(self)) ?? Data()
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let names = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return names.isEmpty ? "the top level" : names
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "at \(path(context)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "at \(path(context)): the key '\(key.stringValue)' is missing"
        @unknown default:
            return "\(error)"
        }
    }
}

/// A recording that cannot be read or used.
public struct RecordingError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
