// SPDX-License-Identifier: Apache-2.0

import GnuTLSNIO
import ParleyTestSupport
import Testing

@Suite("GnuTLSContext")
struct GnuTLSContextTests {
    @Test("a bad priority string is a configuration error naming where parsing stopped")
    func badPriority() throws {
        var configuration = TLSConfiguration.client(trustRoots: .file(FixtureCertificates.path("ca.pem")))
        configuration.priority = "NORMAL:+NO-SUCH-THING"
        let error = try #require(throws: GnuTLSError.self) { try GnuTLSContext(configuration: configuration) }
        #expect(error.kind == .configuration)
        #expect(error.code != 0)
        #expect(error.message.contains("offset 7"))
        #expect(error.message.contains("NO-SUCH-THING"))
    }

    @Test("a missing trust file is a configuration error")
    func missingTrustFile() throws {
        let configuration = TLSConfiguration.client(trustRoots: .file(FixtureCertificates.path("no-such.pem")))
        let error = try #require(throws: GnuTLSError.self) { try GnuTLSContext(configuration: configuration) }
        #expect(error.kind == .configuration)
        #expect(error.message.contains("no-such.pem"))
    }

    @Test("a key that does not match the certificate is a configuration error")
    func mismatchedKey() throws {
        let configuration = TLSConfiguration.server(
            certificateChainFile: FixtureCertificates.path("server.pem"),
            privateKeyFile: FixtureCertificates.path("client-key.pem")
        )
        let error = try #require(throws: GnuTLSError.self) { try GnuTLSContext(configuration: configuration) }
        #expect(error.kind == .configuration)
    }

    @Test("a server without a certificate is a configuration error")
    func serverWithoutCertificate() throws {
        let configuration = TLSConfiguration(role: .server)
        let error = try #require(throws: GnuTLSError.self) { try GnuTLSContext(configuration: configuration) }
        #expect(error.kind == .configuration)
    }

    @Test("the defaults: system trust, verification on, NORMAL priority")
    func defaults() throws {
        let client = TLSConfiguration.client()
        #expect(client.role == .client)
        #expect(client.trustRoots == .system)
        #expect(client.verifyPeer)
        #expect(client.priority == "NORMAL")
        #expect(client.alpn.isEmpty)
        let server = TLSConfiguration.server(certificateChainFile: "a.pem", privateKeyFile: "b.pem")
        #expect(server.role == .server)
        #expect(server.clientCertificateMode == .none)
        let context = try GnuTLSContext(configuration: client)
        #expect(context.configuration.role == .client)
    }
}
