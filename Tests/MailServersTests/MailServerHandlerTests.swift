// SPDX-License-Identifier: Apache-2.0
import GnuTLSNIO
import Logging
import NIOCore
import NIOEmbedded
import ParleyTestSupport
import Testing

@testable import MailServers

@Suite("MailServerHandler on an EmbeddedChannel")
struct MailServerHandlerTests {
    /// A connected channel running the SMTP handler, with the greeting already read.
    func connectedChannel(
        _ configuration: FakeMailServer.Configuration = .init(),
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> EmbeddedChannel {
        let settings = try FakeMailServer.settings(for: configuration)
        let handler = SMTPServerHandler(settings: settings, logger: Logger(label: "test"))
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2525)).wait()
        let greeting = try readAll(channel)
        #expect(greeting == bytes("220 mail.test ESMTP Parley fake server\r\n"), sourceLocation: sourceLocation)
        return channel
    }

    /// Everything the handler has written so far, concatenated.
    func readAll(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var all: [UInt8] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            all += buffer.readBytes(length: buffer.readableBytes) ?? []
        }
        return all
    }

    @Test("the transcript in the log hides credentials: AUTH PLAIN's initial response and AUTH LOGIN's answers")
    func logHidesCredentials() throws {
        let messages = Locked<[String]>([])
        let logger = Logger(label: "test") { _ in RecordingLogHandler(messages: messages) }
        let handler = SMTPServerHandler(settings: try FakeMailServer.settings(for: .init()), logger: logger)
        let channel = EmbeddedChannel(handler: handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2525)).wait()
        // "\0alice\0wrong" (refused), then "alice" and "secret" for LOGIN.
        try channel.writeInbound(ByteBuffer(bytes: bytes("EHLO c\r\nAUTH PLAIN AGFsaWNlAHdyb25n\r\nRSET\r\n")))
        try channel.writeInbound(ByteBuffer(bytes: bytes("AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n")))
        let replies = String(decoding: try readAll(channel), as: UTF8.self)
        #expect(replies.contains("535 5.7.8 Authentication credentials invalid\r\n"))
        #expect(replies.hasSuffix("235 2.7.0 Authentication successful\r\n"))
        let log = messages.withLock { $0 }
        #expect(log.contains("C: AUTH PLAIN ****"))
        #expect(log.contains("C: AUTH LOGIN"))
        #expect(log.contains("C: RSET"))
        #expect(log.filter { $0 == "C: ****" }.count == 2, "\(log)")
        for secret in ["AGFsaWNlAHdyb25n", "YWxpY2U=", "c2VjcmV0"] {
            #expect(!log.contains { $0.contains(secret) }, "\(secret) in the log: \(log)")
        }
        _ = try channel.finish()
    }

    @Test("commands pipelined in one read are all answered, in order")
    func pipelining() throws {
        let channel = try connectedChannel()
        try channel.writeInbound(ByteBuffer(bytes: bytes("NOOP\r\nHELO a\r\nRSET\r\n")))
        #expect(try readAll(channel) == bytes("250 2.0.0 OK\r\n250 mail.test\r\n250 2.0.0 OK\r\n"))
        _ = try channel.finish()
    }

    @Test("a command split across reads is framed into one line; a bare LF also ends a line")
    func framing() throws {
        let channel = try connectedChannel()
        for piece in ["NO", "OP\r", "\nHELO b\n"] {
            try channel.writeInbound(ByteBuffer(bytes: bytes(piece)))
        }
        #expect(try readAll(channel) == bytes("250 2.0.0 OK\r\n250 mail.test\r\n"))
        _ = try channel.finish()
    }

    @Test("an over-long line is refused once and discarded up to its end")
    func overlongLine() throws {
        let channel = try connectedChannel(.init(maxLineLength: 20))
        // No line end yet, but already too long to fit.
        try channel.writeInbound(ByteBuffer(bytes: bytes("NOOP " + String(repeating: "x", count: 30))))
        #expect(try readAll(channel) == bytes("500 5.5.0 Line too long\r\n"))
        try channel.writeInbound(ByteBuffer(bytes: bytes(String(repeating: "y", count: 50))))
        try channel.writeInbound(ByteBuffer(bytes: bytes("yyy\r\nNOOP\r\n")))
        #expect(try readAll(channel) == bytes("250 2.0.0 OK\r\n"))
        // A complete line that is too long (21 bytes with CRLF) in one read.
        try channel.writeInbound(ByteBuffer(bytes: bytes("HELO 0123456789abcd\r\nNOOP\r\n")))
        #expect(try readAll(channel) == bytes("500 5.5.0 Line too long\r\n250 2.0.0 OK\r\n"))
        _ = try channel.finish()
    }

    @Test("plaintext pipelined after STARTTLS is discarded and TLS goes to the front of the pipeline")
    func startTLSDiscardsPipelinedPlaintext() throws {
        let channel = try connectedChannel(.init(tls: try FixtureCertificates.serverContext()))
        let handler = try channel.pipeline.syncOperations.handler(type: SMTPServerHandler.self)
        try channel.writeInbound(ByteBuffer(bytes: bytes("STARTTLS\r\nMAIL FROM:<evil@example>\r\nNOOP\r\n")))
        // The 220 leaves in plaintext; nothing answers the injected commands.
        #expect(try readAll(channel) == bytes("220 2.0.0 Ready to start TLS\r\n"))
        #expect(handler.session.isTLSActive)
        #expect(handler.session.state == .ready)
        _ = try channel.pipeline.syncOperations.handler(type: GnuTLSHandler.self)
        _ = try? channel.finish()
    }

    @Test("STARTTLS is refused when not offered, even with a TLS context")
    func startTLSNotOffered() throws {
        let channel = try connectedChannel(.init(tls: try FixtureCertificates.serverContext(), offerStartTLS: false))
        try channel.writeInbound(ByteBuffer(bytes: bytes("STARTTLS\r\nNOOP\r\n")))
        #expect(try readAll(channel) == bytes("454 4.7.0 TLS not available\r\n250 2.0.0 OK\r\n"))
        #expect(throws: (any Error).self) {
            try channel.pipeline.syncOperations.handler(type: GnuTLSHandler.self)
        }
        _ = try channel.finish()
    }

    @Test("QUIT answers and closes the channel; later pipelined lines are ignored")
    func quitCloses() throws {
        let channel = try connectedChannel()
        try channel.writeInbound(ByteBuffer(bytes: bytes("QUIT\r\nNOOP\r\n")))
        #expect(try readAll(channel) == bytes("221 2.0.0 Bye\r\n"))
        #expect(!channel.isActive)
    }

    @Test("an IMAP literal split across reads reaches the session whole")
    func imapLiteral() throws {
        let configuration = FakeMailServer.Configuration(protocol: .imap, offerStartTLS: false)
        let settings = try FakeMailServer.settings(for: configuration)
        let channel = EmbeddedChannel(
            handler: MailServerHandler<IMAPServerSession>(settings: settings, logger: Logger(label: "test"))
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 143)).wait()
        #expect(try readAll(channel).starts(with: bytes("* OK [CAPABILITY")))
        try channel.writeInbound(ByteBuffer(bytes: bytes("a1 LOGIN alice {6}\r\n")))
        #expect(try readAll(channel) == bytes("+ Ready for literal data\r\n"))
        try channel.writeInbound(ByteBuffer(bytes: bytes("sec")))
        try channel.writeInbound(ByteBuffer(bytes: bytes("ret\r\na2 NOOP\r\n")))
        #expect(
            try readAll(channel)
                == bytes(
                    "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN SASL-IR IDLE UIDPLUS MOVE UNSELECT ENABLE ID NAMESPACE CHILDREN SPECIAL-USE] logged in\r\na2 OK NOOP completed\r\n"
                )
        )
        _ = try channel.finish()
    }
}

/// Keeps every log message, for tests that read what a handler logged.
struct RecordingLogHandler: LogHandler {
    let messages: Locked<[String]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        messages.withLock { $0.append("\(event.message)") }
    }
}

@Suite("MailServerHandler stops handling commands while its replies wait to be read")
struct WritabilityTests {
    @Test("not writable: pipelined commands wait, unanswered; writable again: every one is answered, in order")
    func pausesWhileNotWritable() throws {
        let settings = try FakeMailServer.settings(for: .init(protocol: .pop3, offerStartTLS: false))
        let channel = EmbeddedChannel(handler: MailServerHandler<POP3ServerSession>(settings: settings, logger: Logger(label: "test")))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 110)).wait()
        func readAll() throws -> String {
            var all: [UInt8] = []
            while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
                all += buffer.readBytes(length: buffer.readableBytes) ?? []
            }
            return String(decoding: all, as: UTF8.self)
        }
        #expect(try readAll().hasPrefix("+OK mail.test POP3"))
        try channel.writeInbound(ByteBuffer(bytes: bytes("USER alice\r\nPASS secret\r\n")))
        #expect(try readAll() == "+OK send PASS\r\n+OK logged in, 1 messages\r\n")
        channel.isWritable = false
        try channel.writeInbound(ByteBuffer(bytes: bytes(String(repeating: "RETR 1\r\n", count: 100) + "NOOP\r\n")))
        #expect(try readAll() == "", "nothing is handled while the client does not read")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        let replies = try readAll()
        #expect(
            replies.split(separator: "+OK ").filter { $0.hasPrefix("\(FakeMailServer.Configuration.sampleMailbox[0].count) octets") }.count
                == 100)
        #expect(replies.hasSuffix(".\r\n+OK\r\n"))
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}
