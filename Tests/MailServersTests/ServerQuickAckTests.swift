// SPDX-License-Identifier: Apache-2.0
import GnuTLSNIO
import Logging
import NIOCore
import NIOEmbedded
import ParleyTestSupport
import Testing

@testable import MailServers

/// The 40 ms stall of STARTTLS clients with Nagle's algorithm on (Python's smtplib, swaks): the
/// client's TLS Finished is answered by nothing, so unless the server acknowledges it at once the
/// client's next command waits for the delayed ACK. The server sets TCP_QUICKACK after each flush;
/// these tests check that the flushes of the TLS handshake itself pass through that handler
/// (ci/bench measures the effect: smtplib's session time against `parley serve`).
@Suite("Mail servers acknowledge the client's TLS Finished at once")
struct QuickAckTests {
    /// A server pipeline as FakeMailServer builds it, on an EmbeddedChannel, counting the flushes
    /// that pass the quick-ack handler; and a GnuTLS client channel.
    func pair(implicitTLS: Bool) throws -> (server: EmbeddedChannel, client: EmbeddedChannel, flushes: Locked<Int>) {
        let flushes = Locked(0)
        var configuration = FakeMailServer.Configuration(protocol: .smtp)
        configuration.tls = try FixtureCertificates.serverContext()
        configuration.implicitTLS = implicitTLS
        let settings = try FakeMailServer.settings(for: configuration)
        let server = EmbeddedChannel()
        try FakeMailServer.configurePipeline(
            server,
            configuration: configuration,
            settings: settings,
            logger: Logger(label: "test"),
            onQuickAckFlush: { flushes.withLock { $0 += 1 } }
        )
        let client = EmbeddedChannel()
        return (server, client, flushes)
    }

    /// Moves bytes both ways until nothing moves; returns how many flushes passed the handler
    /// while the server answered the client's ClientHello.
    func pump(_ server: EmbeddedChannel, _ client: EmbeddedChannel) throws {
        for _ in 0..<100 {
            var moved = false
            while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                try server.writeInbound(bytes)
                moved = true
            }
            while let bytes = try server.readOutbound(as: ByteBuffer.self) {
                try client.writeInbound(bytes)
                moved = true
            }
            if !moved { return }
        }
    }

    @Test("after STARTTLS the TLS handler sits behind the quick-ack handler: its handshake flight sets TCP_QUICKACK")
    func startTLSHandshakeFlushesPassQuickAck() throws {
        guard QuickAckHandler.isAvailable else { return }
        let (server, client, flushes) = try pair(implicitTLS: false)
        defer {
            _ = try? server.finish(acceptAlreadyClosed: true)
            _ = try? client.finish(acceptAlreadyClosed: true)
        }
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 25)
        try server.connect(to: address).wait()
        try client.connect(to: address).wait()
        try server.writeInbound(ByteBuffer(bytes: bytes("EHLO c\r\nSTARTTLS\r\n")))
        while try server.readOutbound(as: ByteBuffer.self) != nil {}
        let beforeHandshake = flushes.withLock { $0 }
        try client.pipeline.syncOperations.addHandler(
            GnuTLSHandler(context: try FixtureCertificates.clientContext(), serverHostname: "mail.test")
        )
        try pump(server, client)
        // The server flushed its handshake flight (ServerHello … Finished) through the handler.
        #expect(flushes.withLock { $0 } > beforeHandshake)
        // And the session works: EHLO under TLS is answered.
        client.writeAndFlush(ByteBuffer(bytes: bytes("EHLO c\r\n")), promise: nil)
        try pump(server, client)
        var plaintext: [UInt8] = []
        while var buffer = try client.readInbound(as: ByteBuffer.self) {
            plaintext += buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        #expect(String(decoding: plaintext, as: UTF8.self).hasPrefix("250-mail.test greets c\r\n"))
    }

    @Test("with implicit TLS the handshake's flushes pass the quick-ack handler too")
    func implicitTLSHandshakeFlushesPassQuickAck() throws {
        guard QuickAckHandler.isAvailable else { return }
        let (server, client, flushes) = try pair(implicitTLS: true)
        defer {
            _ = try? server.finish(acceptAlreadyClosed: true)
            _ = try? client.finish(acceptAlreadyClosed: true)
        }
        try client.pipeline.syncOperations.addHandler(
            GnuTLSHandler(context: try FixtureCertificates.clientContext(), serverHostname: "mail.test")
        )
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 465)
        try server.connect(to: address).wait()
        let atConnect = flushes.withLock { $0 }
        try client.connect(to: address).wait()
        try pump(server, client)
        #expect(flushes.withLock { $0 } > atConnect)
    }
}
