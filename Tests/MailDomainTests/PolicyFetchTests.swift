// SPDX-License-Identifier: Apache-2.0
import Glibc
import GnuTLSNIO
import MailDomain
import NIOCore
import NIOHTTP1
import NIOPosix
import ParleyTestSupport
import Testing

/// What the test HTTPS server does with a request.
enum PolicyServerBehaviour: Sendable {
    /// Answers with this status, these headers and this body.
    case respond(status: HTTPResponseStatus, headers: [(String, String)], body: [UInt8])
    /// Completes the TLS handshake, reads the request, and never answers.
    case silent
}

/// Answers every request the same way, then closes.
final class PolicyResponder: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let behaviour: PolicyServerBehaviour

    init(behaviour: PolicyServerBehaviour) { self.behaviour = behaviour }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data), case .respond(let status, let headers, let body) = behaviour else { return }
        var head = HTTPResponseHead(version: .http1_1, status: status)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        head.headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// An HTTPS server on 127.0.0.1, port 0, presenting a certificate of the test PKI.
struct PolicyServer {
    let channel: any Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    /// Starts a server presenting `certificate`.pem with `behaviour`.
    static func start(certificate: String = "server", _ behaviour: PolicyServerBehaviour) async throws -> PolicyServer {
        let context = try FixtureCertificates.serverContext(certificate)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(GnuTLSHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(PolicyResponder(behaviour: behaviour))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return PolicyServer(channel: channel)
    }

    /// A TCP server that accepts and never reads or writes a byte.
    static func mute() async throws -> PolicyServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.autoRead, value: false)
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return PolicyServer(channel: channel)
    }

    func stop() async {
        try? await channel.close()
    }
}

/// A good policy body.
let goodPolicy = Array("version: STSv1\r\nmode: enforce\r\nmx: mail.test\r\nmx: *.mail.test\r\nmax_age: 86400\r\n".utf8)

/// Runs `body` with a server, stopping it afterwards.
func withPolicyServer(
    certificate: String = "server",
    _ behaviour: PolicyServerBehaviour,
    _ body: (PolicyServer) async throws -> Void
) async throws {
    let server = try await PolicyServer.start(certificate: certificate, behaviour)
    do {
        try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

/// Fetches from the server with the test CA; the error, if any.
func fetch(
    _ server: PolicyServer,
    host: String = "localhost",
    port: Int? = nil,
    addresses: [String] = ["127.0.0.1"],
    caFile: String? = FixtureCertificates.path("ca.pem"),
    timeout: Duration = .seconds(20)
) async -> Result<FetchedPolicy, PolicyFetchError> {
    do {
        return .success(
            try await PolicyFetch.fetch(
                policyHost: host,
                addresses: addresses,
                port: port ?? server.port,
                caFile: caFile,
                timeout: timeout,
                eventLoopGroup: MultiThreadedEventLoopGroup.singleton
            )
        )
    } catch {
        return .failure(error)
    }
}

extension Result {
    var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

@Suite("MTA-STS policy fetch over HTTPS") struct PolicyFetchTests {
    @Test func aGoodPolicyIsFetchedAndParsed() async throws {
        try await withPolicyServer(.respond(status: .ok, headers: [("Content-Type", "text/plain; charset=utf-8")], body: goodPolicy)) {
            server in
            let fetched = try await fetch(server, host: "mail.test").get()
            #expect(fetched.url == "https://mail.test:\(server.port)/.well-known/mta-sts.txt")
            #expect(fetched.address == "127.0.0.1:\(server.port)")
            #expect(fetched.status == 200)
            #expect(fetched.contentType == "text/plain; charset=utf-8")
            #expect(fetched.body == goodPolicy)
            #expect(fetched.tlsVersion.hasPrefix("TLS1."))
            #expect(!fetched.cipher.isEmpty)
            #expect(fetched.policy == MTASTSPolicy(mode: .enforce, mx: ["mail.test", "*.mail.test"], maxAge: 86400))
        }
    }

    @Test func theURLWritesThePortOnlyWhenItIsNot443() {
        #expect(PolicyFetch.url(policyHost: "mta-sts.example.com") == "https://mta-sts.example.com/.well-known/mta-sts.txt")
        #expect(
            PolicyFetch.url(policyHost: "mta-sts.example.com", port: 8443) == "https://mta-sts.example.com:8443/.well-known/mta-sts.txt")
    }

    @Test func aStatusOtherThan200() async throws {
        try await withPolicyServer(.respond(status: .notFound, headers: [("Content-Type", "text/plain")], body: Array("no".utf8))) {
            server in
            let error = try #require(await fetch(server).error)
            #expect(error.kind == .status)
            #expect(error.status == 404)
            #expect(
                error.description
                    == "https://localhost:\(server.port)/.well-known/mta-sts.txt (127.0.0.1:\(server.port)): status 404 (expected 200)")
        }
    }

    @Test func aRedirectIsNotFollowed() async throws {
        let headers = [("Location", "https://elsewhere.test/.well-known/mta-sts.txt"), ("Content-Length", "0")]
        try await withPolicyServer(.respond(status: .movedPermanently, headers: headers, body: [])) { server in
            let error = try #require(await fetch(server).error)
            #expect(error.kind == .redirect)
            #expect(error.status == 301)
            #expect(error.location == "https://elsewhere.test/.well-known/mta-sts.txt")
            #expect(error.description.contains("redirect 301 to https://elsewhere.test/.well-known/mta-sts.txt not followed"))
        }
    }

    @Test func theWrongContentType() async throws {
        try await withPolicyServer(.respond(status: .ok, headers: [("Content-Type", "text/html")], body: goodPolicy)) { server in
            let error = try #require(await fetch(server).error)
            #expect(error.kind == .contentType)
            #expect(error.message == "Content-Type 'text/html' is not text/plain")
        }
        try await withPolicyServer(.respond(status: .ok, headers: [], body: goodPolicy)) { server in
            let error = try #require(await fetch(server).error)
            #expect(error.message == "no Content-Type (expected text/plain)")
        }
    }

    @Test func anOversizedBody() async throws {
        let big = Array(repeating: UInt8(ascii: "x"), count: 70_000)
        // With a Content-Length: refused at the head.
        try await withPolicyServer(
            .respond(status: .ok, headers: [("Content-Type", "text/plain"), ("Content-Length", "70000")], body: big)
        ) { server in
            let error = try #require(await fetch(server).error)
            #expect(error.kind == .bodyTooLarge)
            #expect(error.message == "body too large: Content-Length 70000, the limit is 65536 bytes")
        }
        // Chunked, no length: refused as the bytes come.
        try await withPolicyServer(.respond(status: .ok, headers: [("Content-Type", "text/plain")], body: big)) { server in
            let error = try #require(await fetch(server).error)
            #expect(error.kind == .bodyTooLarge)
            #expect(error.message == "body too large: more than 65536 bytes came, the limit is 65536 bytes")
        }
    }

    @Test func aBodyThatIsNotAPolicy() async throws {
        let body = Array("version: STSv1\nmode: enforcing\n".utf8)
        try await withPolicyServer(.respond(status: .ok, headers: [("Content-Type", "text/plain")], body: body)) { server in
            let error = try #require(await fetch(server).error)
            #expect(error.kind == .policy)
            #expect(error.policyError?.line == 2)
            #expect(
                error.description.hasSuffix("(127.0.0.1:\(server.port)): policy line 2: mode 'enforcing' is not enforce, testing or none"))
        }
    }

    @Test func theWrongHostCertificate() async throws {
        try await withPolicyServer(
            certificate: "wrong-host", .respond(status: .ok, headers: [("Content-Type", "text/plain")], body: goodPolicy)
        ) {
            server in
            let error = try #require(await fetch(server).error)
            #expect(error.kind == .certificate)
            #expect(error.verificationProblems.contains("host name mismatch"))
            #expect(error.url == "https://localhost:\(server.port)/.well-known/mta-sts.txt")
            #expect(
                error.description.hasPrefix(
                    "https://localhost:\(server.port)/.well-known/mta-sts.txt (127.0.0.1:\(server.port)): certificate not trusted: "))
            #expect(error.description.contains("host name mismatch"))
        }
    }

    @Test func aSelfSignedCertificate() async throws {
        try await withPolicyServer(
            certificate: "self-signed", .respond(status: .ok, headers: [("Content-Type", "text/plain")], body: goodPolicy)
        ) {
            server in
            let error = try #require(await fetch(server).error)
            #expect(error.kind == .certificate)
            #expect(error.verificationProblems.contains("signer not found"), "\(error)")
            #expect(error.description.contains("certificate not trusted: "))
        }
    }

    @Test func theSystemStoreDoesNotTrustTheTestCA() async throws {
        try await withPolicyServer(.respond(status: .ok, headers: [("Content-Type", "text/plain")], body: goodPolicy)) { server in
            let error = try #require(await fetch(server, caFile: nil).error)
            #expect(error.kind == .certificate)
            #expect(error.verificationProblems.contains("signer not found"), "\(error)")
        }
    }

    @Test func aServerThatNeverAnswersTheHandshake() async throws {
        let server = try await PolicyServer.mute()
        defer { Task { await server.stop() } }
        let clock = ContinuousClock()
        let start = clock.now
        // Long enough for the connect to finish on a loaded machine: the wait that runs out is
        // the handshake's.
        let error = try #require(await fetch(server, timeout: .seconds(3)).error)
        #expect(clock.now - start < .seconds(60))
        #expect(error.kind == .timeout)
        #expect(error.message == "deadline of 3 s passed waiting for the TLS handshake")
        #expect(error.address == "127.0.0.1:\(server.port)")
    }

    @Test func aServerThatNeverAnswersTheRequest() async throws {
        try await withPolicyServer(.silent) { server in
            let error = try #require(await fetch(server, timeout: .seconds(3)).error)
            #expect(error.kind == .timeout)
            #expect(error.message == "deadline of 3 s passed waiting for the response")
        }
    }

    @Test func aRefusingFirstAddressThenAGoodOne() async throws {
        try await withPolicyServer(.respond(status: .ok, headers: [("Content-Type", "text/plain")], body: goodPolicy)) { server in
            // The server listens on 127.0.0.1 only: 127.0.0.2 (loopback too) refuses the port.
            let fetched = try await fetch(server, addresses: ["127.0.0.2", "127.0.0.1"]).get()
            #expect(fetched.address == "127.0.0.1:\(server.port)")
            #expect(fetched.policy.mode == .enforce)
        }
    }

    @Test func everyAddressRefuses() async throws {
        let server = try await PolicyServer.start(.silent)
        await server.stop()
        // A port held by a socket that is bound but not listening refuses connections, and no
        // other test's server can take it meanwhile (a port just closed could be reused).
        let reserved = try ReservedPort()
        defer { reserved.close() }
        let result = await fetch(server, port: reserved.port, addresses: ["127.0.0.1", "127.0.0.2"])
        let error = try #require(result.error)
        #expect(error.kind == .connection)
        #expect(error.message == "could not connect")
        #expect(error.address?.contains("connection refused") == true, "\(error)")
    }

    @Test func badArguments() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton
        await #expect(throws: PolicyFetchError.self) {
            try await PolicyFetch.fetch(policyHost: "x.test", addresses: [], caFile: nil, timeout: .seconds(1), eventLoopGroup: loop)
        }
        do {
            _ = try await PolicyFetch.fetch(
                policyHost: "x.test", addresses: ["mta-sts.x.test"], caFile: nil, timeout: .seconds(1), eventLoopGroup: loop)
            Issue.record("a host name as an address was taken")
        } catch {
            #expect(error.kind == .configuration)
            #expect(error.description == "https://x.test/.well-known/mta-sts.txt: address 'mta-sts.x.test' is not an IPv4 or IPv6 address")
        }
        do {
            _ = try await PolicyFetch.fetch(
                policyHost: "x.test", addresses: ["127.0.0.1"], caFile: "/nonexistent/ca.pem", timeout: .seconds(1), eventLoopGroup: loop)
            Issue.record("a missing CA file was taken")
        } catch {
            #expect(error.kind == .configuration)
            #expect(error.description.contains("/nonexistent/ca.pem"))
        }
    }
}

/// A TCP port on 127.0.0.1 bound by a socket that never listens: connecting to it is refused.
struct ReservedPort {
    let descriptor: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound =
            fd >= 0
            && withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                    bind(fd, generic, length) == 0 && getsockname(fd, generic, &length) == 0
                }
            }
        guard bound else { throw PolicyFetchError(kind: .configuration, url: "", address: nil, message: "cannot reserve a port") }
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(descriptor) }
}
