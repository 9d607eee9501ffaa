import Hummingbird
// SPDX-License-Identifier: Apache-2.0
public import Logging
public import MailServers
public import NIOCore
import ServiceLifecycle

/// The local mail server's HTTP API: the part of Mailpit's API v1 that tests use (list, read,
/// search and delete messages), over the same ``MailStore`` the SMTP, IMAP and POP3 servers
/// share, so that Mailpit's clients and test helpers work against `parley serve all`.
///
/// ```swift
/// let api = try await MailAPIServer.start(store: store, configuration: .init(port: 8025), logger: logger)
/// print(api.port)
/// …
/// await api.stop()
/// ```
public enum MailAPIServer {
    /// Where and how the API listens.
    public struct Configuration: Sendable {
        /// The address to bind (`127.0.0.1` by default).
        public var host: String
        /// The port; 0 lets the system choose (``RunningMailAPI/port`` tells which).
        public var port: Int
        /// What `GET /api/v1/info` calls the version.
        public var version: String
        /// The largest request body read (larger ones are answered with 413).
        public var maximumBodySize: Int
        /// The most messages one page lists (`limit=0`, "all" to Mailpit, is this many).
        public var maximumLimit: Int

        /// Creates a configuration.
        public init(
            host: String = "127.0.0.1",
            port: Int = 8025,
            version: String = "parley",
            maximumBodySize: Int = 1 << 20,
            maximumLimit: Int = 1000
        ) {
            self.host = host
            self.port = port
            self.version = version
            self.maximumBodySize = maximumBodySize
            self.maximumLimit = maximumLimit
        }
    }

    /// Failures of ``start(store:configuration:eventLoopGroup:logger:)``.
    public enum Failure: Error, CustomStringConvertible {
        /// The server stopped before it listened (the reason is the underlying error, such as an
        /// address in use).
        case didNotStart(String)

        public var description: String {
            switch self {
            case .didNotStart(let reason): "the HTTP API did not start: \(reason)"
            }
        }
    }

    /// Starts the API and returns once it listens.
    ///
    /// - Parameters:
    ///   - store: the mail store the mail servers share.
    ///   - configuration: where to listen and the bounds.
    ///   - eventLoopGroup: the event loops to run on (the mail servers' group, say); nil uses
    ///     SwiftNIO's shared singleton group.
    ///   - logger: where the server logs.
    /// - Returns: the running server: its port, and ``RunningMailAPI/stop()``.
    /// - Throws: ``Failure/didNotStart(_:)`` when it cannot listen.
    public static func start(
        store: MailStore,
        configuration: Configuration = .init(),
        eventLoopGroup: (any EventLoopGroup)? = nil,
        logger: Logger
    ) async throws -> RunningMailAPI {
        let router = Router(context: BasicRequestContext.self)
        MailpitRoutes(store: MailpitStore(store: store), configuration: configuration, started: .now).add(to: router)
        let listening = Locked<CheckedContinuation<Int, any Error>?>(nil)
        let application = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                listening.withLock { $0.take() }?.resume(returning: port)
            },
            eventLoopGroupProvider: eventLoopGroup.map { .shared($0) } ?? .singleton,
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [application], gracefulShutdownSignals: [], logger: logger))
        // The continuation is in place before the server starts, so its first call finds it.
        let runner = Locked<Task<Void, Never>?>(nil)
        let port = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
            listening.withLock { $0 = continuation }
            let task = Task {
                do {
                    try await group.run()
                    listening.withLock { $0.take() }?.resume(throwing: Failure.didNotStart("the server ended"))
                } catch {
                    listening.withLock { $0.take() }?.resume(throwing: Failure.didNotStart("\(error)"))
                }
            }
            runner.withLock { $0 = task }
        }
        return RunningMailAPI(port: port, group: group, task: runner.withLock { $0 }!)
    }
}

/// A running HTTP API.
public final class RunningMailAPI: Sendable {
    /// The port it listens on.
    public let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, Never>

    init(port: Int, group: ServiceGroup, task: Task<Void, Never>) {
        self.port = port
        self.group = group
        self.task = task
    }

    /// Stops listening, lets requests in progress finish, and returns when the server has
    /// stopped. Calling it again does nothing.
    public func stop() async {
        await group.triggerGracefulShutdown()
        await task.value
    }
}
