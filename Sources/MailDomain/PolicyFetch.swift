// SPDX-License-Identifier: Apache-2.0
internal import GnuTLSNIO
public import NIOCore
internal import NIOHTTP1
internal import NIOPosix

/// An MTA-STS policy fetch that failed: the URL, the address it was fetched from, and what went
/// wrong ("https://mta-sts.x.test/.well-known/mta-sts.txt (127.0.4.1:443): certificate not
/// trusted: signer not found, host name mismatch").
public struct PolicyFetchError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The broad class of the failure.
    public enum Kind: Sendable, Hashable {
        /// The trust roots could not be loaded, or an address is not an IP address.
        case configuration
        /// No address accepted a connection.
        case connection
        /// The deadline passed (while connecting, in the handshake or waiting for the response).
        case timeout
        /// The TLS handshake or the record layer failed (other than the certificate).
        case tls
        /// The server's certificate did not verify; ``PolicyFetchError/verificationProblems`` say why.
        case certificate
        /// The response was not HTTP/1.1 the decoder could read, or the connection ended early.
        case http
        /// A 3xx: RFC 8461 §3.3 forbids following it; ``PolicyFetchError/location`` is where it pointed.
        case redirect
        /// A status other than 200 (and not a redirect).
        case status
        /// The media type was not text/plain.
        case contentType
        /// The body was longer than ``PolicyFetch/maximumBodySize``.
        case bodyTooLarge
        /// The body is not a valid policy; ``PolicyFetchError/policyError`` says where.
        case policy
    }

    /// The broad class of the failure.
    public var kind: Kind
    /// The URL fetched.
    public var url: String
    /// The address ("127.0.4.1:443", "[::1]:443"), or, for a connection failure, every address
    /// tried; nil before any was tried.
    public var address: String?
    /// What went wrong, without the URL and address.
    public var message: String
    /// The HTTP status, once a response head came.
    public var status: Int?
    /// A redirect's Location header.
    public var location: String?
    /// Certificate problems ("signer not found", "host name mismatch", "expired", ...).
    public var verificationProblems: [String]
    /// The parse error of a policy that came but did not parse.
    public var policyError: PolicyError?

    /// Creates an error.
    public init(
        kind: Kind,
        url: String,
        address: String?,
        message: String,
        status: Int? = nil,
        location: String? = nil,
        verificationProblems: [String] = [],
        policyError: PolicyError? = nil
    ) {
        self.kind = kind
        self.url = url
        self.address = address
        self.message = message
        self.status = status
        self.location = location
        self.verificationProblems = verificationProblems
        self.policyError = policyError
    }

    /// "URL (ADDRESS): MESSAGE".
    public var description: String {
        if let address { return "\(url) (\(address)): \(message)" }
        return "\(url): \(message)"
    }
}

/// A policy fetched and parsed, with the facts of the exchange.
public struct FetchedPolicy: Sendable, Hashable {
    /// The URL fetched.
    public var url: String
    /// The address it came from ("127.0.4.1:443").
    public var address: String
    /// The HTTP status (200).
    public var status: Int
    /// The Content-Type header as sent.
    public var contentType: String?
    /// The body as sent.
    public var body: [UInt8]
    /// The TLS version ("TLS1.3").
    public var tlsVersion: String
    /// The cipher suite ("TLS_AES_256_GCM_SHA384").
    public var cipher: String
    /// The parsed policy.
    public var policy: MTASTSPolicy

    /// Creates the facts of a fetch.
    public init(
        url: String,
        address: String,
        status: Int,
        contentType: String?,
        body: [UInt8],
        tlsVersion: String,
        cipher: String,
        policy: MTASTSPolicy
    ) {
        self.url = url
        self.address = address
        self.status = status
        self.contentType = contentType
        self.body = body
        self.tlsVersion = tlsVersion
        self.cipher = cipher
        self.policy = policy
    }
}

/// Fetches an MTA-STS policy over verified HTTPS (RFC 8461 §3.3), with NIOHTTP1 over Parley's
/// TLS handler.
public enum PolicyFetch {
    /// The longest body accepted (64 KiB, the policy parser's bound too).
    public static let maximumBodySize = MTASTSPolicy.maximumSize

    /// The URL of the policy on `policyHost` ("https://mta-sts.example.com/.well-known/mta-sts.txt");
    /// the port is written only when it is not 443.
    public static func url(policyHost: String, port: Int = 443) -> String {
        let host = policyHost.contains(":") ? "[\(policyHost)]" : policyHost
        return "https://\(host)\(port == 443 ? "" : ":\(port)")/.well-known/mta-sts.txt"
    }

    /// GET https://POLICYHOST/.well-known/mta-sts.txt, where policyHost is normally "mta-sts." +
    /// domain (RFC 8461 §3.3), from the first of `addresses` that accepts a connection (the next is
    /// tried only when connecting fails), SNI and the certificate's host name `policyHost`, the
    /// certificate verified against `caFile` (nil: the system trust store). Redirects are not
    /// followed (a 3xx is an error naming the Location); the status must be 200 and the media type
    /// text/plain; the body is bounded by ``maximumBodySize`` and the whole fetch by `timeout`.
    ///
    /// - Parameters:
    ///   - policyHost: the host name in the URL, the SNI and the certificate check.
    ///   - addresses: IPv4 or IPv6 addresses of `policyHost`, in the order to try.
    ///   - port: the TCP port (443).
    ///   - caFile: a PEM file of trusted CA certificates, or nil for the system store.
    ///   - timeout: the longest the whole fetch may take (connects, handshake, response).
    ///   - eventLoopGroup: where the connection runs.
    /// - Returns: the policy and the facts of the exchange.
    /// - Throws: ``PolicyFetchError`` naming the URL, the address and what went wrong.
    public static func fetch(
        policyHost: String,
        addresses: [String],
        port: Int = 443,
        caFile: String?,
        timeout: Duration,
        eventLoopGroup: any EventLoopGroup
    ) async throws(PolicyFetchError) -> FetchedPolicy {
        let url = url(policyHost: policyHost, port: port)
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: timeout)
        func failure(_ kind: PolicyFetchError.Kind, _ address: String?, _ message: String) -> PolicyFetchError {
            PolicyFetchError(kind: kind, url: url, address: address, message: message)
        }

        guard !addresses.isEmpty else { throw failure(.configuration, nil, "no addresses to connect to") }
        guard (1...65535).contains(port) else { throw failure(.configuration, nil, "port \(port) is not 1 to 65535") }
        var targets: [(address: SocketAddress, shown: String)] = []
        for address in addresses {
            guard let socketAddress = try? SocketAddress(ipAddress: address, port: port) else {
                throw failure(.configuration, nil, "address '\(address)' is not an IPv4 or IPv6 address")
            }
            targets.append((socketAddress, address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"))
        }

        let context: GnuTLSContext
        do {
            context = try GnuTLSContext(configuration: .client(trustRoots: caFile.map { .file($0) } ?? .system))
        } catch {
            throw failure(.configuration, nil, "\(error)")
        }

        var refused: [String] = []
        for target in targets {
            let remaining = end - clock.now
            guard remaining > .zero else { break }
            let loop = eventLoopGroup.next()
            let promise = loop.makePromise(of: Exchange.self)
            let channel: any Channel
            do {
                channel = try await ClientBootstrap(group: loop)
                    .connectTimeout(timeAmount(remaining))
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let sync = channel.pipeline.syncOperations
                            try sync.addHandler(GnuTLSHandler(context: context, serverHostname: policyHost))
                            try sync.addHTTPClientHandlers()
                            try sync.addHandler(PolicyResponseHandler(promise: promise, maximumBodySize: maximumBodySize))
                        }
                    }
                    .connect(to: target.address)
                    .get()
            } catch {
                promise.fail(ExchangeFailure(kind: .connection, message: "\(error)"))
                refused.append("\(target.shown) (\(connectProblem(error)))")
                continue
            }

            // The deadline: the handler fails with what it was waiting for, then closes.
            let deadline = loop.scheduleTask(in: timeAmount(end - clock.now)) {
                channel.pipeline.fireUserInboundEventTriggered(PolicyFetchDeadline(timeout: timeout))
                loop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
            }
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/.well-known/mta-sts.txt")
            head.headers.add(name: "Host", value: port == 443 ? policyHost : "\(policyHost):\(port)")
            head.headers.add(name: "User-Agent", value: "parley")
            head.headers.add(name: "Accept", value: "text/plain")
            head.headers.add(name: "Connection", value: "close")
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)

            let result: Result<Exchange, any Error>
            do {
                result = .success(try await promise.futureResult.get())
            } catch {
                result = .failure(error)
            }
            deadline.cancel()
            channel.close(promise: nil)

            switch result {
            case .success(let exchange):
                let policy: MTASTSPolicy
                do {
                    policy = try MTASTSPolicy.parse(exchange.body)
                } catch {
                    throw PolicyFetchError(
                        kind: .policy,
                        url: url,
                        address: target.shown,
                        message: error.description,
                        status: exchange.status,
                        policyError: error
                    )
                }
                return FetchedPolicy(
                    url: url,
                    address: target.shown,
                    status: exchange.status,
                    contentType: exchange.contentType,
                    body: exchange.body,
                    tlsVersion: exchange.session.protocolVersion,
                    cipher: exchange.session.cipherSuite,
                    policy: policy
                )
            case .failure(let error as ExchangeFailure):
                throw PolicyFetchError(
                    kind: error.kind,
                    url: url,
                    address: target.shown,
                    message: error.message,
                    status: error.status,
                    location: error.location,
                    verificationProblems: error.verificationProblems
                )
            case .failure(let error):
                throw failure(.http, target.shown, "\(error)")
            }
        }
        let tried = refused.isEmpty ? nil : refused.joined(separator: ", ")
        if clock.now >= end {
            throw failure(.timeout, tried, "no connection within \(seconds(timeout))")
        }
        throw failure(.connection, tried, "could not connect")
    }

    /// A connect error in a few words ("connection refused", "timed out").
    private static func connectProblem(_ error: any Error) -> String {
        if let error = error as? IOError {
            switch error.errnoCode {
            case 111: return "connection refused"
            case 113: return "no route to host"
            case 101: return "network unreachable"
            default: return "\(error)"
            }
        }
        if let error = error as? ChannelError, case .connectTimeout = error { return "timed out" }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return connectProblem(first.error)
        }
        return "\(error)"
    }

    /// `duration` as NIO's `TimeAmount` (at least 1 ns).
    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !nanoseconds.overflow else { return .nanoseconds(Int64.max) }
        return .nanoseconds(max(1, nanoseconds.partialValue + attoseconds / 1_000_000_000))
    }

    /// "2 s", "0.5 s".
    static func seconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = attoseconds / 1_000_000_000_000_000
        if milliseconds == 0 { return "\(seconds) s" }
        var fraction = String(milliseconds)
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(seconds).\(fraction) s"
    }
}

/// What one exchange gave: the response and the TLS session it came over.
struct Exchange: Sendable {
    var status: Int
    var contentType: String?
    var body: [UInt8]
    var session: TLSSessionInfo
}

/// Why one exchange failed, before the URL and address are added.
struct ExchangeFailure: Error, Sendable {
    var kind: PolicyFetchError.Kind
    var message: String
    var status: Int?
    var location: String?
    var verificationProblems: [String] = []
}

/// Fired into the pipeline when the fetch's deadline passes.
struct PolicyFetchDeadline: Sendable {
    var timeout: Duration
}

/// Collects one HTTP response after the TLS handshake, checking it as it comes: a 3xx or a
/// status other than 200 fails at the head, so does a media type other than text/plain or a
/// Content-Length over the bound; body bytes beyond the bound fail at once.
final class PolicyResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    /// What the exchange is waiting for, for the deadline's message.
    private enum Stage {
        case handshake, head, body, done
    }

    private let promise: EventLoopPromise<Exchange>
    private let maximumBodySize: Int
    private var stage = Stage.handshake
    private var session: TLSSessionInfo?
    private var status = 0
    private var contentType: String?
    private var body: [UInt8] = []

    init(promise: EventLoopPromise<Exchange>, maximumBodySize: Int) {
        self.promise = promise
        self.maximumBodySize = maximumBodySize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard stage != .done else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            contentType = head.headers.first(name: "Content-Type")
            if (300..<400).contains(status) {
                let location = head.headers.first(name: "Location")
                fail(
                    ExchangeFailure(
                        kind: .redirect,
                        message: "redirect \(status) to \(location ?? "(no Location)") not followed (RFC 8461 §3.3)",
                        status: status,
                        location: location
                    ),
                    context: context
                )
                return
            }
            guard status == 200 else {
                fail(ExchangeFailure(kind: .status, message: "status \(status) (expected 200)", status: status), context: context)
                return
            }
            guard let contentType else {
                fail(
                    ExchangeFailure(kind: .contentType, message: "no Content-Type (expected text/plain)", status: status),
                    context: context
                )
                return
            }
            guard Self.mediaType(contentType) == "text/plain" else {
                fail(
                    ExchangeFailure(
                        kind: .contentType,
                        message: "Content-Type '\(contentType)' is not text/plain",
                        status: status
                    ),
                    context: context
                )
                return
            }
            if let length = head.headers.first(name: "Content-Length").flatMap({ Int($0) }), length > maximumBodySize {
                fail(tooLarge("Content-Length \(length)"), context: context)
                return
            }
            stage = .body
        case .body(let buffer):
            guard body.count + buffer.readableBytes <= maximumBodySize else {
                fail(tooLarge("more than \(maximumBodySize) bytes came"), context: context)
                return
            }
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let session else {
                fail(ExchangeFailure(kind: .tls, message: "a response without a TLS session"), context: context)
                return
            }
            stage = .done
            promise.succeed(Exchange(status: status, contentType: contentType, body: body, session: session))
            context.close(promise: nil)
        }
    }

    private func tooLarge(_ what: String) -> ExchangeFailure {
        ExchangeFailure(
            kind: .bodyTooLarge,
            message: "body too large: \(what), the limit is \(maximumBodySize) bytes",
            status: status
        )
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let info) = event as? GnuTLSEvent {
            session = info
            if stage == .handshake { stage = .head }
        } else if let deadline = event as? PolicyFetchDeadline {
            let waiting: String
            switch stage {
            case .handshake: waiting = "the TLS handshake"
            case .head: waiting = "the response"
            case .body: waiting = "the end of the body (\(body.count) bytes so far)"
            case .done: return
            }
            fail(
                ExchangeFailure(
                    kind: .timeout,
                    message: "deadline of \(PolicyFetch.seconds(deadline.timeout)) passed waiting for \(waiting)"
                ),
                context: context
            )
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard stage != .done else { return }
        if let error = error as? GnuTLSError {
            if error.kind == .verificationFailed {
                let problems = error.verificationProblems
                fail(
                    ExchangeFailure(
                        kind: .certificate,
                        message: "certificate not trusted: "
                            + (problems.isEmpty ? error.message : problems.joined(separator: ", ")),
                        verificationProblems: problems
                    ),
                    context: context
                )
            } else {
                fail(ExchangeFailure(kind: .tls, message: "\(error)"), context: context)
            }
        } else if error is HTTPParserError {
            fail(ExchangeFailure(kind: .http, message: "not an HTTP/1.1 response the parser reads: \(error)"), context: context)
        } else {
            fail(ExchangeFailure(kind: .http, message: "\(error)"), context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if stage != .done {
            let what: String
            switch stage {
            case .handshake: what = "during the TLS handshake"
            case .head: what = "before the response"
            default: what = "before the end of the body (\(body.count) bytes)"
            }
            fail(ExchangeFailure(kind: stage == .handshake ? .tls : .http, message: "connection closed \(what)"), context: context)
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if stage != .done {
            stage = .done
            promise.fail(ExchangeFailure(kind: .http, message: "the connection went away"))
        }
    }

    private func fail(_ failure: ExchangeFailure, context: ChannelHandlerContext) {
        guard stage != .done else { return }
        stage = .done
        promise.fail(failure)
        context.close(promise: nil)
    }

    /// The media type of a Content-Type value: before any ";", trimmed, lower-cased.
    static func mediaType(_ value: String) -> String {
        let bytes = Array(value.utf8)
        let type = bytes.prefix { $0 != PolicyBytes.semicolon }
        return PolicyBytes.string(PolicyBytes.lowercased(PolicyBytes.trimmed(type)))
    }
}

@available(*, unavailable)
extension PolicyResponseHandler: Sendable {}
