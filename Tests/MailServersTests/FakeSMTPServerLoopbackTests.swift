// SPDX-License-Identifier: Apache-2.0
import GnuTLSNIO
import MailServers
import NIOCore
import NIOPosix
import ParleyTestSupport
import Testing

@Suite("FakeSMTPServer over loopback TCP")
struct FakeSMTPServerLoopbackTests {
    @Test("greeting, EHLO, STARTTLS with a verified handshake, EHLO without STARTTLS, QUIT")
    func startTLSDialog() async throws {
        let configuration = FakeSMTPServer.Configuration(tls: try FixtureCertificates.serverContext())
        let clientTLS = try FixtureCertificates.clientContext()
        try await withFakeSMTPServer(configuration) { server in
            #expect(server.host == "127.0.0.1")
            #expect(server.port > 0)
            let client = try await SMTPTestClient.connect(
                port: server.port,
                group: MultiThreadedEventLoopGroup.singleton
            )

            #expect(try await client.next("greeting") == .reply(bytes("220 mail.test ESMTP Parley fake server\r\n")))

            try await client.send(bytes("EHLO client.test\r\n"))
            guard case .reply(let ehlo) = try await client.next("EHLO reply") else {
                Issue.record("no EHLO reply")
                return
            }
            #expect(ehlo.starts(with: bytes("250-mail.test greets client.test\r\n")))
            #expect(ehlo.contains(bytes("250-STARTTLS\r\n")))

            try await client.send(bytes("STARTTLS\r\n"))
            #expect(try await client.next("STARTTLS reply") == .reply(bytes("220 2.0.0 Ready to start TLS\r\n")))
            try await client.startTLS(context: clientTLS, serverHostname: "localhost")
            guard case .tlsEstablished(let info) = try await client.next("TLS handshake") else {
                Issue.record("no TLS handshake")
                return
            }
            #expect(info.verified)
            #expect(info.verificationProblems.isEmpty)
            #expect(info.serverName == "localhost")

            try await client.send(bytes("EHLO client.test\r\n"))
            #expect(
                try await client.next("EHLO reply over TLS")
                    == .reply(
                        bytes(
                            "250-mail.test greets client.test\r\n250-PIPELINING\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8\r\n"
                        )
                    )
            )
            try await client.send(bytes("STARTTLS\r\n"))
            #expect(
                try await client.next("second STARTTLS") == .reply(bytes("554 5.5.1 Error: TLS already active\r\n"))
            )

            try await client.send(bytes("QUIT\r\n"))
            #expect(try await client.next("QUIT reply") == .reply(bytes("221 2.0.0 Bye\r\n")))
            #expect(try await client.next("close") == .closed)
        }
    }

    @Test("without a TLS context EHLO does not offer STARTTLS and STARTTLS is refused")
    func plainServer() async throws {
        try await withFakeSMTPServer(.init(hostname: "plain.test")) { server in
            let client = try await SMTPTestClient.connect(
                port: server.port,
                group: MultiThreadedEventLoopGroup.singleton
            )
            #expect(try await client.next("greeting") == .reply(bytes("220 plain.test ESMTP Parley fake server\r\n")))
            try await client.send(bytes("EHLO c\r\nSTARTTLS\r\nQUIT\r\n"))
            #expect(
                try await client.next("EHLO")
                    == .reply(
                        bytes(
                            "250-plain.test greets c\r\n250-PIPELINING\r\n250-SIZE 33554432\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8\r\n"
                        )
                    )
            )
            #expect(try await client.next("STARTTLS") == .reply(bytes("454 4.7.0 TLS not available\r\n")))
            #expect(try await client.next("QUIT") == .reply(bytes("221 2.0.0 Bye\r\n")))
            #expect(try await client.next("close") == .closed)
        }
    }

    @Test("stopping the server closes open connections")
    func stopClosesConnections() async throws {
        let server = try await FakeSMTPServer.start(.init())
        let client = try await SMTPTestClient.connect(port: server.port, group: MultiThreadedEventLoopGroup.singleton)
        #expect(try await client.next("greeting") == .reply(bytes("220 mail.test ESMTP Parley fake server\r\n")))
        try await server.stop()
        #expect(try await client.next("close") == .closed)
        try await server.stop()
    }

    @Test("the fixture certificate directory is absolute and holds the CA")
    func certificateDirectory() throws {
        #expect(FixtureCertificates.directory.hasPrefix("/"))
        #expect(FixtureCertificates.directory.hasSuffix("/fixtures/certs"))
        _ = try GnuTLSContext(configuration: .client(trustRoots: .file(FixtureCertificates.path("ca.pem"))))
    }
}
