// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NetworkStream
import Testing

/// Records sentinel events and filter chunks, with the process names, in call order.
final class Recorder: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(kind: String, name: String, text: [UInt8])] = []

    private func add(_ kind: String, _ name: String, _ text: [UInt8]) {
        lock.lock()
        entries.append((kind, name, text))
        lock.unlock()
    }

    /// A sentinel that records.
    var sentinel: NetworkProcess.Sentinel { { process, event in self.add("sentinel", process.name, Array(event.utf8)) } }
    /// A filter that records.
    var filter: NetworkProcess.Filter { { process, bytes in self.add("filter", process.name, bytes) } }
    /// A log function that records.
    var log: NetworkProcess.Log { { _, client, text in self.add("log", client?.name ?? "-", Array(text.utf8)) } }

    /// "kind name: text" lines, in order.
    var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return entries.map { "\($0.kind) \($0.name): \(String(decoding: $0.text, as: UTF8.self))" }
    }

    /// The sentinel events, in order.
    var events: [String] {
        lock.lock()
        defer { lock.unlock() }
        return entries.filter { $0.kind == "sentinel" }.map { String(decoding: $0.text, as: UTF8.self) }
    }

    /// The filter chunks, in order.
    var chunks: [[UInt8]] {
        lock.lock()
        defer { lock.unlock() }
        return entries.filter { $0.kind == "filter" }.map(\.text)
    }
}

/// A port that refuses connections for the rest of the test run: bound but never listening
/// (see `refusingPort`), so no server of a parallel test can take it. The socket is kept open on
/// purpose; the test process's exit closes it.
func closedPort() async throws -> Int {
    try refusingPort().port
}

/// A loopback line server for open-network-stream tests: sends a greeting, answers each line
/// through `reply`, and records per connection what it received and whether it closed.
final class LinePeer: @unchecked Sendable {
    /// What to do for a line.
    enum Action: Sendable {
        case send(String)
        /// Sends the go-ahead text, then starts TLS as a server in the same turn.
        case startTLS(goAhead: String, context: GnuTLSContext)
        /// Sends the go-ahead, then bytes that are not TLS, then closes: the handshake fails.
        case failTLS(goAhead: String)
        case close
    }

    struct Connection {
        var received: [UInt8] = []
        var closed = false
    }

    let channel: any Channel
    private let state: NIOLockedValueBox<[Connection]>
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel, state: NIOLockedValueBox<[Connection]>) {
        self.channel = channel
        self.state = state
    }

    /// Starts a peer.
    ///
    /// - Parameters:
    ///   - greeting: sent on connect (nil: silent).
    ///   - closeAfterGreeting: close right after the greeting.
    ///   - reply: connection index and line (with its ending) -> actions.
    static func start(
        greeting: String?,
        closeAfterGreeting: Bool = false,
        reply: @escaping @Sendable (Int, String) -> [Action] = { _, _ in [] }
    ) async throws -> LinePeer {
        let state = NIOLockedValueBox<[Connection]>([])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                let index = state.withLockedValue {
                    $0.append(Connection())
                    return $0.count - 1
                }
                return child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(
                        LinePeerHandler(
                            index: index,
                            state: state,
                            greeting: greeting,
                            closeAfterGreeting: closeAfterGreeting,
                            reply: reply
                        )
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return LinePeer(channel: channel, state: state)
    }

    /// The number of connections accepted so far.
    var connectionCount: Int { state.withLockedValue { $0.count } }

    /// What connection `index` received (plaintext only), as text.
    func received(_ index: Int) -> String {
        state.withLockedValue { index < $0.count ? String(decoding: $0[index].received, as: UTF8.self) : "" }
    }

    /// Whether connection `index` has closed.
    func closed(_ index: Int) -> Bool {
        state.withLockedValue { index < $0.count && $0[index].closed }
    }

    func stop() async {
        try? await channel.close()
    }
}

private final class LinePeerHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    let index: Int
    let state: NIOLockedValueBox<[LinePeer.Connection]>
    let greeting: String?
    let closeAfterGreeting: Bool
    let reply: @Sendable (Int, String) -> [LinePeer.Action]
    var line: [UInt8] = []

    init(
        index: Int,
        state: NIOLockedValueBox<[LinePeer.Connection]>,
        greeting: String?,
        closeAfterGreeting: Bool,
        reply: @escaping @Sendable (Int, String) -> [LinePeer.Action]
    ) {
        self.index = index
        self.state = state
        self.greeting = greeting
        self.closeAfterGreeting = closeAfterGreeting
        self.reply = reply
    }

    func channelActive(context: ChannelHandlerContext) {
        if let greeting { context.send(greeting) }
        if closeAfterGreeting { context.close(promise: nil) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = Array(unwrapInboundIn(data).readableBytesView)
        state.withLockedValue { $0[index].received += bytes }
        for byte in bytes {
            line.append(byte)
            guard byte == 10 else { continue }
            let text = String(decoding: line, as: UTF8.self)
            line = []
            for action in reply(index, text) {
                switch action {
                case .send(let text):
                    context.send(text)
                case .startTLS(let goAhead, let tls):
                    context.send(goAhead)
                    try! context.pipeline.syncOperations.addHandler(GnuTLSHandler(context: tls), position: .first)
                case .failTLS(let goAhead):
                    context.send(goAhead)
                    context.send("this is not a TLS record\r\n")
                    context.close(promise: nil)
                case .close:
                    context.close(promise: nil)
                }
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.withLockedValue { $0[index].closed = true }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Text of bytes (nil stays nil, so `text(result.capabilities)?.contains(...) == false` fails
/// when there were no capabilities at all).
func text(_ bytes: [UInt8]?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

/// A stopped server whose accept queue is already full (backlog 0, one queued connection), so a
/// new connect stays in progress (the kernel drops its SYN) until the server continues: this
/// makes "status connect right after creation" observable without a race.
///
/// - Parameters:
///   - greeting: sent to each accepted connection.
///   - tls: a server TLS context to start on each accepted connection before the greeting.
/// - Returns: the server process, its port, and the queued filler connection.
func saturatedServer(greeting: String? = nil) async throws -> (server: NetworkProcess, port: Int, filler: any Channel) {
    var spec = NetworkProcess.Spec(name: "saturated", service: .any)
    spec.server = true
    spec.stop = true
    spec.backlog = 0
    spec.sentinel = { process, event in
        if event.hasPrefix("open from"), let greeting { process.queueSend(Array(greeting.utf8)) }
    }
    let server = try await NetworkProcess.make(spec, in: ProcessTable())
    let port = Int(await server.snapshot().contact.service ?? "0")!
    let filler = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port).get()
    return (server, port, filler)
}
