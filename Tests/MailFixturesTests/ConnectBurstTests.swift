// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailFixtures
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Many clients connecting at once (load mode starts thousands): every one must be accepted and
/// greeted. With a small listen backlog the kernel drops the last ACK of some handshakes; those
/// clients are connected on their side and wait for a greeting that never comes.
@Suite("Fake server under a burst of connects")
struct ConnectBurstTests {
    @Test("1,500 connects in one burst (more than NIO's default backlog of 128): every client is greeted")
    func burstIsGreeted() async throws {
        try await withFakeMailServer(FakeMailServer.Configuration(protocol: .smtp)) { server in
            // 1,500 sockets here (and as many on the server's side): raise the soft limit on
            // open files toward the hard one, and use fewer if it stays low.
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            if limit.rlim_cur < 4096 {
                limit.rlim_cur = min(4096, limit.rlim_max)
                setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
                getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            }
            let count = min(1500, (Int(limit.rlim_cur) - 256) / 2)
            try #require(count > 400, "the open-file limit (\(limit.rlim_cur)) leaves too few sockets for a burst")
            var descriptors: [Int32] = []
            defer { descriptors.forEach { _ = close($0) } }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(server.port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            // Connect every socket before reading any greeting: the server sees the whole burst.
            for _ in 0..<count {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                try #require(fd >= 0, "socket(): \(String(cString: strerror(errno)))")
                descriptors.append(fd)
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                let rc = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                try #require(rc == 0 || errno == EINPROGRESS, "connect(): \(String(cString: strerror(errno)))")
            }
            // Wait (at most 30 s) until each socket has read a greeting line.
            var greeted = Set<Int32>()
            var buffer = [UInt8](repeating: 0, count: 512)
            let deadline = ContinuousClock.now + .seconds(30)
            while greeted.count < count, ContinuousClock.now < deadline {
                var fds = descriptors.filter { !greeted.contains($0) }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
                _ = poll(&fds, nfds_t(fds.count), 100)
                for entry in fds where entry.revents != 0 {
                    let n = read(entry.fd, &buffer, buffer.count)
                    if n > 0, buffer[0..<n].starts(with: Array("220 ".utf8)) { greeted.insert(entry.fd) }
                }
            }
            #expect(greeted.count == count, "\(count - greeted.count) of \(count) clients were never greeted")
        }
    }
}
