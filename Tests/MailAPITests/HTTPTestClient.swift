// SPDX-License-Identifier: Apache-2.0
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

/// One HTTP/1.1 exchange with a server on 127.0.0.1, over a new connection, within a deadline.
struct HTTPTestClient {
    /// What came back.
    struct Answer: Sendable {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]

        var text: String { String(decoding: body, as: UTF8.self) }

        func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        /// The body as a JSON value.
        func json(sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
            try JSONDecoder().decode(JSONValue.self, from: Data(body))
        }
    }

    let port: Int

    /// Sends one request and collects the answer (the connection is closed after it).
    func send(
        _ method: HTTPMethod,
        _ target: String,
        body: [UInt8]? = nil,
        headers extra: [(String, String)] = [],
        timeout: TimeAmount = .seconds(10)
    ) async throws -> Answer {
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: target)
        head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in extra { head.headers.add(name: name, value: value) }
        if let body { head.headers.add(name: "Content-Length", value: "\(body.count)") }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        let deadline = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        defer { deadline.cancel() }
        try await channel.closeFuture.get()
        guard let answer = collector.answer.withLockedValue({ $0 }) else {
            throw TestFailure(message: "no complete answer to \(method) \(target)")
        }
        return answer
    }

    struct TestFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// Gathers the response parts, then closes.
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = HTTPClientResponsePart
        let answer = NIOLockedValueBoxLike<Answer?>(nil)
        let partial = NIOLockedValueBoxLike<Answer>(Answer(status: 0, headers: [], body: []))

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                partial.withLockedValue {
                    $0.status = Int(head.status.code)
                    $0.headers = head.headers.map { ($0.name, $0.value) }
                }
            case .body(var buffer):
                let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
                partial.withLockedValue { $0.body += bytes }
            case .end:
                let done = partial.withLockedValue { $0 }
                answer.withLockedValue { $0 = done }
                context.close(promise: nil)
            }
        }
    }
}

/// A value behind a lock (the test target does not import NIOConcurrencyHelpers).
final class NIOLockedValueBoxLike<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLockedValue<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Any JSON value, compared structurally (object key order does not matter).
enum JSONValue: Codable, Equatable, CustomStringConvertible {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .object(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }

    /// Parses JSON text.
    static func parse(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    subscript(index: Int) -> JSONValue? {
        if case .array(let array) = self, array.indices.contains(index) { return array[index] }
        return nil
    }

    var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    var array: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    var description: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
    }
}
