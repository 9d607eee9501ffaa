// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServers
import ParleyTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Connects `count` sockets to a port in one burst, before reading anything, then waits (at most
/// 30 s) until each has received a greeting line; prints "greeted N of M".
private let burstClient = """
    import resource, selectors, socket, sys, time
    port, count = int(sys.argv[1]), int(sys.argv[2])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 256)), hard))
    selector = selectors.DefaultSelector()
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        sockets.append(s)
        selector.register(s, selectors.EVENT_READ)
    greeted = 0
    deadline = time.monotonic() + 30
    while greeted < count and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.1):
            data = key.fileobj.recv(512)
            selector.unregister(key.fileobj)
            if data.startswith(b"220 "):
                greeted += 1
    print(f"greeted {greeted} of {count}", flush=True)
    """

/// Many clients connecting at once (load mode starts thousands): every one must be accepted and
/// greeted. With a small listen backlog the kernel drops the last ACK of some handshakes; those
/// clients are connected on their side and wait for a greeting that never comes.
///
/// Both ends are processes of their own (`parley serve` and a Python client): 1,500 descriptors
/// in the test process itself would be there while other tests start programs, and Foundation's
/// `Process.run` reads past a buffer when it lists that many open descriptors (AddressSanitizer
/// reports it).
@Suite("Fake server under a burst of connects")
struct ConnectBurstTests {
    @Test(
        "1,500 connects in one burst (more than NIO's default backlog of 128): every client is greeted",
        .enabled(if: parleyExecutable() != nil && ExternalProcess.isAvailable("python3"), "needs the built parley and python3")
    )
    func burstIsGreeted() async throws {
        // The server inherits this soft limit on open files: raise it toward the hard one.
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < 4096 {
            limit.rlim_cur = min(4096, limit.rlim_max)
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let count = min(1500, Int(limit.rlim_cur) - 256)
        try #require(count > 400, "the open-file limit (\(limit.rlim_cur)) leaves too few sockets for a burst")

        let parley = try #require(parleyExecutable())
        let serve = try ExternalProcess([parley, "serve", "smtp", "--port", "0"])
        defer { serve.kill() }
        #expect(try await serve.waitForOutput("\n"), "\(serve.transcript)")
        let port = try #require(listeningPort(serve.stdout), "\(serve.transcript)")

        let client = try ExternalProcess(["python3", "-c", burstClient, "\(port)", "\(count)"])
        defer { client.kill() }
        let status = try await client.waitForExit(seconds: 60)
        #expect(status == 0, "\(client.transcript)")
        let report = String(decoding: client.stdout, as: UTF8.self)
        #expect(report == "greeted \(count) of \(count)\n", "\(count) clients connected at once; \(report)")
    }
}
