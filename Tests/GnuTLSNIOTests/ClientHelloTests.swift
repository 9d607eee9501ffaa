// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import ParleyTestSupport
import Testing

@Suite("ClientHello: what a client offered, read from the handshake message")
struct ClientHelloTests {
    /// A ClientHello body: legacy version, random, session id, suites, compression, extensions.
    static func hello(
        legacy: [UInt8] = [0x03, 0x03], suites: [UInt8] = [0x13, 0x01, 0x0A, 0x0A, 0xC0, 0x2B], extensions: [[UInt8]]? = nil
    ) -> [UInt8] {
        var body = legacy + [UInt8](repeating: 7, count: 32) + [0]
        body += [UInt8(suites.count >> 8), UInt8(suites.count & 0xFF)] + suites + [1, 0]
        if let extensions {
            let all = extensions.flatMap { $0 }
            body += [UInt8(all.count >> 8), UInt8(all.count & 0xFF)] + all
        }
        return body
    }

    static func ext(_ type: UInt16, _ data: [UInt8]) -> [UInt8] {
        [UInt8(type >> 8), UInt8(type & 0xFF), UInt8(data.count >> 8), UInt8(data.count & 0xFF)] + data
    }

    static let sni = ext(0, [0, 14, 0, 0, 11] + Array("mail.test.x".utf8))
    static let alpn = ext(16, [0, 10, 4] + Array("smtp".utf8) + [4] + Array("imap".utf8))
    static let versions = ext(43, [6, 0x7A, 0x7A, 0x03, 0x04, 0x03, 0x03])
    static let grease = ext(0x2A2A, [])

    @Test("a TLS 1.3 ClientHello: versions from supported_versions, SNI, ALPN, GREASE left out")
    func tls13() throws {
        let parsed = try #require(ClientHello.parse(Self.hello(extensions: [Self.grease, Self.sni, Self.alpn, Self.versions])))
        #expect(parsed.offeredVersions == ["TLS1.3", "TLS1.2"])
        #expect(parsed.serverName == "mail.test.x")
        #expect(parsed.alpn == ["smtp", "imap"])
        #expect(parsed.cipherSuites == [0x1301, 0xC02B])
        #expect(parsed.extensions == [0, 16, 43])
    }

    @Test("without supported_versions the legacy version means every version up to it; no extensions at all is allowed")
    func legacy() throws {
        let tls12 = try #require(ClientHello.parse(Self.hello(extensions: [Self.sni])))
        #expect(tls12.offeredVersions == ["TLS1.2", "TLS1.1", "TLS1.0"])
        let tls10 = try #require(ClientHello.parse(Self.hello(legacy: [0x03, 0x01])))
        #expect(tls10.offeredVersions == ["TLS1.0"])
        #expect(tls10.extensions.isEmpty && tls10.serverName == nil)
        #expect(ClientHello.versionName(0x7F1C) == "0x7F1C")
    }

    @Test("every truncation and every length that runs past the end is rejected, never read past")
    func malformed() {
        let good = Self.hello(extensions: [Self.sni, Self.alpn, Self.versions])
        for cut in 0..<good.count {
            // Cut short, the body is malformed except where the extensions block was cut whole.
            let prefix = Array(good.prefix(cut))
            if let parsed = ClientHello.parse(prefix) {
                #expect(parsed.extensions.isEmpty, "cut at \(cut)")
            }
        }
        #expect(ClientHello.parse(Self.hello(suites: [0x13])) == nil, "an odd suite list")
        #expect(ClientHello.parse(Self.hello(extensions: [Self.ext(43, [3, 3, 4, 3])])) == nil, "an odd version list")
        #expect(ClientHello.parse(Self.hello(extensions: [Self.ext(16, [0, 2, 0, 0])])) == nil, "an empty ALPN name")
        #expect(ClientHello.parse(Self.hello(extensions: [Self.ext(0, [0, 4, 0, 0, 2, 0xFF])])) == nil, "a name past its list")
        #expect(ClientHello.parse(Self.hello(extensions: [Self.ext(0, [0, 5, 0, 0, 2, 0xC3, 0x28])])) == nil, "a name that is not UTF-8")
    }

    @Test("real ClientHellos (the fuzz corpus, captured from openssl, gnutls-cli, curl and Python) read as their clients sent them")
    func realClients() throws {
        func read(_ name: String) throws -> ClientHello {
            let data = try Data(contentsOf: URL(fileURLWithPath: SourceTree.path("Fuzz/corpus/FuzzClientHello/\(name)")))
            return try #require(ClientHello.parse(Array(data)), "\(name)")
        }
        let openssl = try read("openssl")
        #expect(openssl.serverName == "mail.test" && openssl.alpn == ["smtp", "imap"])
        #expect(openssl.offeredVersions.first == "TLS1.3")
        let gnutls = try read("gnutls-cli")
        #expect(gnutls.serverName == "mail.test" && gnutls.alpn == ["imap"])
        #expect(try read("python").serverName == "mail.test")
        #expect(try read("curl").serverName == "localhost")
        #expect(try read("old-tls").offeredVersions == ["TLS1.0"])
    }
}
