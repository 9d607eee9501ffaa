internal import Foundation
// SPDX-License-Identifier: Apache-2.0
public import GnuTLSNIO
public import NIOCore
internal import NIOPosix

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

extension NetworkProcess {
    /// The port or path a process connects to or listens on (Emacs's `:service`).
    public enum Service: Sendable, Hashable, CustomStringConvertible {
        /// A port number.
        case port(Int)
        /// A numeric string or a service name such as "smtp" (looked up in the services database).
        case named(String)
        /// Any free port (Emacs's `t`, servers only): the chosen port is written into the contact.
        case any

        /// The service as Emacs prints it with `%s`.
        public var description: String {
            switch self {
            case .port(let port): "\(port)"
            case .named(let name): name
            case .any: "t"
            }
        }

        /// The port number, looking a service name up for the given protocol.
        ///
        /// - Parameter proto: "tcp" or "udp".
        /// - Returns: the port.
        /// - Throws: `NetworkError.invalidArgument` for an unknown name.
        func port(protocol proto: String) throws(NetworkError) -> Int {
            switch self {
            case .port(let port): return port
            case .any: return 0
            case .named(let name):
                if let port = Int(name) { return port }
                guard let entry = getservbyname(name, proto) else {
                    throw NetworkError(
                        .invalidArgument,
                        wait: .connect,
                        message: "\(name) Servname not supported for ai_socktype"
                    )
                }
                return Int(UInt16(bigEndian: UInt16(truncatingIfNeeded: entry.pointee.s_port)))
            }
        }
    }

    /// The address family (Emacs's `:family`).
    public enum Family: Sendable, Hashable {
        /// Whatever the resolver gives.
        case unspecified
        case ipv4
        case ipv6
        /// A Unix socket: the service is the path.
        case local(path: String)
    }

    /// Everything `make-network-process` takes.
    public struct Spec: Sendable {
        /// The name asked for; made unique in the table.
        public var name: String
        /// The host; nil means 127.0.0.1 (or ::1 for IPv6), for clients and servers.
        public var host: String?
        /// The port or service name.
        public var service: Service
        /// The address family.
        public var family: Family = .unspecified
        /// A datagram (UDP) socket instead of a stream.
        public var datagram = false
        /// A server: listens (stream) or binds (datagram).
        public var server = false
        /// A stream server's listen backlog.
        public var backlog = 5
        /// Start connecting and return at once (status `connect`).
        public var nowait = false
        /// Create the process stopped.
        public var stop = false
        /// The filter (nil: the receive buffer).
        public var filter: Filter?
        /// The sentinel.
        public var sentinel: Sentinel?
        /// A server's log function.
        public var log: Log?
        /// The initial plist.
        public var plist: [String: String] = [:]
        /// A datagram process's initial reply address (Emacs's `:remote` for a datagram server).
        public var remote: SocketAddress?
        /// TLS right after the connect (Emacs's `:tls-parameters`): the context, the name to
        /// verify and send as SNI, and the handshake deadline.
        public var tls: (context: GnuTLSContext, serverHostname: String?, timeout: Duration)?
        /// The connect deadline.
        public var timeout: Duration = .seconds(10)
        /// The receive buffer's bound.
        public var receiveLimit = 16 * 1024 * 1024
        /// The event loops.
        public var group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
        /// Receives every event of the process (and, for a server, of each accepted connection).
        public var observer: @Sendable (ProcessEvent) -> Void = { _ in }
        /// A server's observer for each accepted connection, by the connection's process name,
        /// instead of ``observer`` (so each client's events can go to its own place).
        public var acceptedObserver: (@Sendable (String) -> @Sendable (ProcessEvent) -> Void)?

        /// Creates a spec with the defaults above.
        ///
        /// - Parameters:
        ///   - name: the name asked for.
        ///   - host: the host, or nil for loopback.
        ///   - service: the port or service.
        public init(name: String, host: String? = nil, service: Service) {
            self.name = name
            self.host = host
            self.service = service
        }
    }

    /// Emacs's `make-network-process`: a client (blocking or `nowait`), a server, or a datagram
    /// socket, over TCP/UDP on IPv4 or IPv6, or a Unix socket.
    ///
    /// - Parameters:
    ///   - spec: what to make.
    ///   - table: the table that makes the name unique.
    /// - Returns: the process. A blocking client is `open` (its sentinel is not called); a
    ///   `nowait` client is `connect`; a stream server is `listen`; a datagram socket is `open`.
    /// - Throws: `NetworkError`: `.invalidArgument` (for example "`:server' is incompatible with
    ///   `:nowait'"), `.connectFailed` ("make client process failed: Connection refused …"),
    ///   `.timeout` naming the connect wait.
    public static func make(_ spec: Spec, in table: ProcessTable = .shared) async throws(NetworkError) -> NetworkProcess {
        if spec.server && spec.nowait {
            throw NetworkError(.invalidArgument, message: "`:server' is incompatible with `:nowait'")
        }
        let host: String
        switch (spec.host, spec.family) {
        case (let given?, _): host = given
        case (nil, .ipv6): host = "::1"
        default: host = "127.0.0.1"
        }
        let role: Role = spec.datagram ? .datagram : (spec.server ? .server : .client)
        let eventLoop = spec.group.next()
        let name = table.claim(spec.name)
        let process = NetworkProcess(
            name: name,
            peer: peerText(host: host, spec: spec),
            eventLoop: eventLoop,
            role: role,
            raw: .connecting,
            table: table,
            receiveLimit: spec.receiveLimit,
            stopped: spec.stop,
            observer: spec.observer
        )
        process.filter = spec.filter
        process.sentinel = spec.sentinel
        process.log = spec.log
        process.acceptedObserver = spec.acceptedObserver
        process.plist = spec.plist
        process.contact.host = host
        process.contact.server = spec.server
        if case .local(let path) = spec.family {
            process.contact.service = path
        } else {
            process.contact.service = spec.service.description
        }
        do {
            switch role {
            case .server:
                try await process.listen(spec, host: host)
            case .datagram:
                try await process.openDatagram(spec, host: host)
            default:
                let target: Target
                if case .local(let path) = spec.family {
                    target = .unix(path)
                } else {
                    target = .hostPort(host, try spec.service.port(protocol: "tcp"))
                }
                if spec.nowait {
                    process.connectNonBlocking(to: target, timeout: spec.timeout, tls: spec.tls)
                } else {
                    try await process.connectBlocking(to: target, timeout: spec.timeout)
                    if let tls = spec.tls {
                        _ = try await process.startTLS(
                            context: tls.context,
                            serverHostname: tls.serverHostname,
                            timeout: tls.timeout
                        )
                    }
                }
            }
        } catch {
            await process.deleteSilently()
            throw error
        }
        return process
    }

    /// `host:port` or the socket path, for messages.
    private static func peerText(host: String, spec: Spec) -> String {
        if case .local(let path) = spec.family { return path }
        return host.contains(":") ? "[\(host)]:\(spec.service)" : "\(host):\(spec.service)"
    }

    // MARK: - Servers

    /// Binds and listens; accepted connections become processes named `<name> <HOST:PORT>`.
    private func listen(_ spec: Spec, host: String) async throws(NetworkError) {
        let server = self
        let bootstrap = ServerBootstrap(group: eventLoop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: Int32(spec.backlog))
            .serverChannelOption(.autoRead, value: !spec.stop)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    try server.accept(child)
                }
            }
        let channel: any Channel
        do {
            if case .local(let path) = spec.family {
                channel = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
            } else {
                channel = try await bootstrap.bind(host: host, port: try spec.service.port(protocol: "tcp")).get()
            }
        } catch let error as NetworkError {
            throw error
        } catch {
            throw NetworkError(.connectFailed, message: "Cannot bind server socket: \(strerrorOf(error))")
        }
        try? await eventLoop.submit {
            self.attach(channel, bridge: HandlerBridge(), sentinelEvent: nil)
            if case .local = spec.family {
            } else if let port = channel.localAddress?.port {
                self.contact.service = "\(port)"
            }
        }.get()
    }

    /// Makes the process for one accepted connection, on the event loop (Emacs's
    /// `server_accept_connection`): name, a copy of the plist, the filter and sentinel; then the
    /// log function gets "accept from HOST\n" and the sentinel "open from HOST\n".
    private func accept(_ child: any Channel) throws {
        let remote = child.remoteAddress
        let id: String
        let from: String
        switch remote {
        case .some(.v4):
            let ip = remote?.ipAddress ?? "?"
            id = "\(ip):\(remote?.port ?? 0)"
            from = ip
        case .some(.v6):
            // Emacs prints each group without byte-order conversion; Parley prints it correctly.
            let groups = ipv6Groups(remote!)
            id = "[\(groups)]:\(remote?.port ?? 0)"
            from = groups
        default:
            id = "\(table?.nextAcceptNumber() ?? 0)"
            from = "-"
        }
        let table = self.table ?? .shared
        let name = table.claim("\(self.name) <\(id)>")
        let accepted = NetworkProcess(
            name: name,
            peer: remote.map(describeAddress) ?? id,
            eventLoop: child.eventLoop,
            role: .accepted,
            raw: .connecting,
            table: table,
            receiveLimit: matcherLimit,
            observer: acceptedObserver?(name) ?? observer
        )
        accepted.filter = filter
        accepted.sentinel = sentinel
        accepted.plist = plist
        accepted.contact.server = false
        accepted.contact.host = remote?.ipAddress ?? "-"
        accepted.contact.service = remote?.port.map { "\($0)" }
        let bridge = HandlerBridge()
        // Attached once the channel is active, so that the log function and the sentinel may
        // already send; reads wait in the bridge until then.
        let handler = ProcessChannelHandler(bridge: bridge) {
            self.log?(self, accepted, "accept from \(from)\n")
            accepted.attach(child, bridge: bridge, sentinelEvent: "open from \(from)\n")
        }
        try child.pipeline.syncOperations.addHandler(handler)
    }

    // MARK: - Datagrams

    /// Binds a datagram socket: a client to any local port (its reply address is the host and
    /// service), a server to the host and service (its reply address is all zeros, or `remote`).
    private func openDatagram(_ spec: Spec, host: String) async throws(NetworkError) {
        let bridge = HandlerBridge()
        let bootstrap = DatagramBootstrap(group: eventLoop)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.autoRead, value: !spec.stop)
            // Whole datagrams are read (then cut to chunkSize, as Emacs does).
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65536))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DatagramProcessHandler(bridge: bridge))
                }
            }
        let port = try spec.service.port(protocol: "udp")
        let channel: any Channel
        let reply: SocketAddress?
        do {
            if spec.server {
                channel = try await bootstrap.bind(host: host, port: port).get()
                reply =
                    spec.remote
                    ?? channel.localAddress.map { local in
                        local.protocol == .inet6
                            ? try! SocketAddress(ipAddress: "::", port: 0)
                            : try! SocketAddress(ipAddress: "0.0.0.0", port: 0)
                    }
            } else {
                let target = try SocketAddress.makeAddressResolvingHost(host, port: port)
                let any = target.protocol == .inet6 ? "::" : "0.0.0.0"
                channel = try await bootstrap.bind(host: any, port: 0).get()
                reply = target
            }
        } catch {
            throw NetworkError(.connectFailed, message: "make datagram process failed: \(strerrorOf(error))")
        }
        try? await eventLoop.submit {
            self.setDatagramAddress(reply)
            self.attach(channel, bridge: bridge, sentinelEvent: nil)
            if spec.server, let port = channel.localAddress?.port { self.contact.service = "\(port)" }
        }.get()
    }
}

/// The eight groups of an IPv6 address, lowercase hex, no `::` shortening (as Emacs prints
/// them, but in network byte order).
func ipv6Groups(_ address: SocketAddress) -> String {
    guard let text = address.ipAddress else { return "?" }
    let halves = text.components(separatedBy: "::")
    let head = halves[0].split(separator: ":").map(String.init)
    let tail = halves.count > 1 ? halves[1].split(separator: ":").map(String.init) : []
    let zeros = Array(repeating: "0", count: max(0, 8 - head.count - tail.count))
    return (head + (halves.count > 1 ? zeros : []) + tail)
        .map { String(Int($0, radix: 16) ?? 0, radix: 16) }
        .joined(separator: ":")
}
