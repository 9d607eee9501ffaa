// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import ParleyTestSupport
import Testing

@testable import NetworkStream

/// Records what a process reports, for tests on an `EmbeddedChannel` (one thread, no sockets).
private final class EmbeddedRecorder: Sendable {
    private let state = NIOLockedValueBox<(events: [ProcessEvent], sentinel: [String])>(([], []))
    var events: [ProcessEvent] { state.withLockedValue { $0.events } }
    var sentinelCalls: [String] { state.withLockedValue { $0.sentinel } }
    func record(_ event: ProcessEvent) { state.withLockedValue { $0.events.append(event) } }
    func sentinel(_ text: String) { state.withLockedValue { $0.sentinel.append(text) } }

    var received: [UInt8] {
        events.flatMap { event -> [UInt8] in
            if case .received(let bytes, _) = event { return bytes }
            return []
        }
    }
}

/// A process on an `EmbeddedChannel`, with the pipeline tail the engine uses.
private func embeddedProcess(receiveLimit: Int = 1 << 20) throws -> (NetworkProcess, EmbeddedChannel, HandlerBridge, EmbeddedRecorder) {
    let recorder = EmbeddedRecorder()
    let bridge = HandlerBridge()
    let channel = EmbeddedChannel(handler: ProcessChannelHandler(bridge: bridge))
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
    let process = NetworkProcess(
        name: "embedded",
        peer: "127.0.0.1:25",
        eventLoop: channel.embeddedEventLoop,
        role: .client,
        raw: .connecting,
        table: nil,
        receiveLimit: receiveLimit,
        observer: { recorder.record($0) }
    )
    process.sentinel = { _, text in recorder.sentinel(text) }
    return (process, channel, bridge, recorder)
}

private func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

/// Counts the reads the shell asks the channel for (`EmbeddedChannel` keeps no `autoRead` option
/// to look at; a resume of reading shows as a read request; pauses are the machine's tests').
private final class ReadCounter: ChannelOutboundHandler, @unchecked Sendable {
    typealias OutboundIn = Any
    private(set) var reads = 0

    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

@Suite("The engine's channel handler and shell on EmbeddedChannel")
struct ProcessChannelHandlerTests {
    @Test("reads that come before the process is attached wait in the bridge, with reading paused, and arrive in order")
    func bridgeQueues() throws {
        let (process, channel, bridge, recorder) = try embeddedProcess()
        let counter = ReadCounter()
        try channel.pipeline.syncOperations.addHandler(counter, position: .first)
        try channel.writeInbound(buffer("220 early\r\n"))
        try channel.writeInbound(buffer("250 second\r\n"))
        #expect(recorder.received.isEmpty)
        process.attach(channel, bridge: bridge, sentinelEvent: nil)
        #expect(recorder.received == Array("220 early\r\n250 second\r\n".utf8))
        #expect(counter.reads == 1)  // reading resumes once the queue is delivered
        #expect(process.reportedStatus == .open)
    }

    @Test("a send is one write of exactly the bytes, reported before it leaves")
    func sendWrites() throws {
        let (process, channel, bridge, recorder) = try embeddedProcess()
        process.attach(channel, bridge: bridge, sentinelEvent: nil)
        process.queueSend(Array("EHLO client.test\r\n".utf8))
        let written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(Array(written.readableBytesView) == Array("EHLO client.test\r\n".utf8))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        guard case .sent(let bytes, false)? = recorder.events.last else {
            Issue.record("no sent event: \(recorder.events)")
            return
        }
        #expect(bytes.count == 18)
    }

    @Test("the peer's close: status closed, the sentinel says so, sends then fail")
    func peerClose() throws {
        let (process, channel, bridge, recorder) = try embeddedProcess()
        process.attach(channel, bridge: bridge, sentinelEvent: nil)
        channel.pipeline.fireChannelInactive()
        #expect(recorder.sentinelCalls == ["connection broken by remote peer\n"])
        #expect(process.reportedStatus == .closed)
        process.queueSend([1])
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
    }

    @Test("stop and continue turn reading off and on; a full receive buffer with no wait pauses it too")
    func readingSwitches() async throws {
        let (process, channel, bridge, recorder) = try embeddedProcess(receiveLimit: 8)
        let counter = ReadCounter()
        try channel.pipeline.syncOperations.addHandler(counter, position: .first)
        process.attach(channel, bridge: bridge, sentinelEvent: nil)
        await process.stop()
        #expect(process.reportedStatus == .stop)
        try channel.writeInbound(buffer("held"))
        #expect(recorder.received.isEmpty)  // held while stopped
        await process.continue()
        #expect(recorder.received == Array("held".utf8))
        #expect(counter.reads == 1)
        try channel.writeInbound(buffer("0123456789"))  // 14 bytes buffered, limit 8: held back
        #expect(await process.discardPending() == 14)
        #expect(counter.reads == 2)  // the discard resumed reading
    }

    @Test("starting TLS discards unread plaintext, puts the TLS handler first and writes a ClientHello")
    func tlsInsertion() throws {
        let (process, channel, bridge, recorder) = try embeddedProcess()
        process.attach(channel, bridge: bridge, sentinelEvent: nil)
        try channel.writeInbound(buffer("250 INJECTED\r\n"))
        let context = try GnuTLSContext(configuration: .client(trustRoots: .file(FixtureCertificates.path("ca.pem"))))
        _ = process.upgradeOnLoop(context: context, serverHostname: "localhost", timeout: .seconds(5))
        _ = try channel.pipeline.syncOperations.handler(type: GnuTLSHandler.self)  // throws when it is not there
        let discarded = recorder.events.compactMap { event -> [UInt8]? in
            if case .discarded(let bytes) = event { return bytes }
            return nil
        }
        #expect(discarded == [Array("250 INJECTED\r\n".utf8)])
        let hello = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(hello.getInteger(at: hello.readerIndex, as: UInt8.self) == 0x16)  // a TLS handshake record
        _ = try? channel.finish()
    }
}
