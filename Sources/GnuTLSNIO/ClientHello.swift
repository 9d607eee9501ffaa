// SPDX-License-Identifier: Apache-2.0

/// What a client offered in its ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2): the
/// versions, the cipher suites, the SNI name and the ALPN protocols. A scripted server records
/// it, so that a case can check what the client under test was willing to use, not only what
/// the handshake settled on. Read from the handshake message's body (without its 4-byte header),
/// as GnuTLS's handshake hook gives it; every length is checked against what is left.
public struct ClientHello: Sendable, Equatable {
    /// `legacy_version` (0x0303 for TLS 1.2 and 1.3 clients).
    public var legacyVersion: UInt16
    /// The `supported_versions` extension's list, GREASE values left out; empty without it.
    public var supportedVersions: [UInt16]
    /// The cipher suites, in the client's order, GREASE values left out.
    public var cipherSuites: [UInt16]
    /// The `server_name` extension's host name, if any.
    public var serverName: String?
    /// The `application_layer_protocol_negotiation` extension's protocols, in order.
    public var alpn: [String]
    /// The extension types, in order, GREASE values left out.
    public var extensions: [UInt16]

    /// The versions offered: the `supported_versions` list when present (TLS 1.3 clients), else
    /// every version from TLS 1.0 up to `legacy_version` (what a TLS 1.2 ClientHello means).
    public var offeredVersions: [String] {
        if !supportedVersions.isEmpty { return supportedVersions.map(Self.versionName) }
        guard legacyVersion >= 0x0301 else { return [Self.versionName(legacyVersion)] }
        return (0x0301...min(legacyVersion, 0x0303)).reversed().map { Self.versionName(UInt16($0)) }
    }

    /// `TLS1.3`, `TLS1.2`, `TLS1.1`, `TLS1.0`, `SSL3.0`, or `0xHHHH`.
    public static func versionName(_ version: UInt16) -> String {
        switch version {
        case 0x0304: "TLS1.3"
        case 0x0303: "TLS1.2"
        case 0x0302: "TLS1.1"
        case 0x0301: "TLS1.0"
        case 0x0300: "SSL3.0"
        default:
            "0x" + String(repeating: "0", count: 4 - String(version, radix: 16).count) + String(version, radix: 16, uppercase: true)
        }
    }

    /// GREASE values (RFC 8701): 0x0A0A, 0x1A1A, ... 0xFAFA.
    static func isGREASE(_ value: UInt16) -> Bool {
        value & 0x0F0F == 0x0A0A && value >> 8 == value & 0xFF
    }

    /// Parses a ClientHello body; nil when it is malformed (a length past the end, a list of odd
    /// size, a name that is not UTF-8).
    public static func parse(_ body: [UInt8]) -> ClientHello? {
        var reader = Reader(body)
        guard let legacyVersion = reader.uint16(), reader.skip(32),  // random
            let sessionID = reader.vector(lengthBytes: 1), sessionID.count <= 32,
            let suites = reader.vector(lengthBytes: 2), suites.count % 2 == 0,
            let compression = reader.vector(lengthBytes: 1), !compression.isEmpty
        else { return nil }
        var hello = ClientHello(
            legacyVersion: legacyVersion, supportedVersions: [], cipherSuites: pairs(suites).filter { !isGREASE($0) },
            serverName: nil, alpn: [], extensions: [])
        // A TLS 1.0 client may send no extensions at all.
        if reader.isAtEnd { return hello }
        guard let extensions = reader.vector(lengthBytes: 2), reader.isAtEnd else { return nil }
        var list = Reader(extensions)
        while !list.isAtEnd {
            guard let type = list.uint16(), let data = list.vector(lengthBytes: 2) else { return nil }
            if !isGREASE(type) { hello.extensions.append(type) }
            var field = Reader(data)
            switch type {
            case 0:  // server_name: a list of (type, name); type 0 is a host name
                guard let names = field.vector(lengthBytes: 2), field.isAtEnd else { return nil }
                var entries = Reader(names)
                while !entries.isAtEnd {
                    guard let kind = entries.uint8(), let name = entries.vector(lengthBytes: 2) else { return nil }
                    if kind == 0, hello.serverName == nil {
                        guard let text = String(validating: name, as: UTF8.self) else { return nil }
                        hello.serverName = text
                    }
                }
            case 16:  // application_layer_protocol_negotiation
                guard let protocols = field.vector(lengthBytes: 2), field.isAtEnd else { return nil }
                var entries = Reader(protocols)
                while !entries.isAtEnd {
                    guard let name = entries.vector(lengthBytes: 1), !name.isEmpty else { return nil }
                    hello.alpn.append(String(decoding: name, as: UTF8.self))
                }
            case 43:  // supported_versions
                guard let versions = field.vector(lengthBytes: 1), field.isAtEnd, versions.count % 2 == 0 else { return nil }
                hello.supportedVersions = pairs(versions).filter { !isGREASE($0) }
            default:
                break
            }
        }
        return hello
    }

    /// Big-endian 16-bit values of an even-sized byte list.
    private static func pairs(_ bytes: [UInt8]) -> [UInt16] {
        stride(from: 0, to: bytes.count - 1, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
    }

    /// Reads a byte list from the front, never past its end.
    private struct Reader {
        private let bytes: [UInt8]
        private var offset = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var isAtEnd: Bool { offset == bytes.count }

        mutating func uint8() -> UInt8? {
            guard offset < bytes.count else { return nil }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func uint16() -> UInt16? {
            guard bytes.count - offset >= 2 else { return nil }
            defer { offset += 2 }
            return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        }

        mutating func skip(_ count: Int) -> Bool {
            guard bytes.count - offset >= count else { return false }
            offset += count
            return true
        }

        /// A list preceded by its length in `lengthBytes` bytes.
        mutating func vector(lengthBytes: Int) -> [UInt8]? {
            var length = 0
            for _ in 0..<lengthBytes {
                guard let byte = uint8() else { return nil }
                length = length << 8 | Int(byte)
            }
            guard bytes.count - offset >= length else { return nil }
            defer { offset += length }
            return Array(bytes[offset..<offset + length])
        }
    }
}
