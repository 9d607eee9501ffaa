// SPDX-License-Identifier: Apache-2.0
import GnuTLSNIO
import NIOCore
import ParleyTestSupport
import Patterns
import Testing

@testable import NetworkStream

/// Drives a ``ProcessStateMachine`` by hand: records what each action asked for, and keeps the
/// machine's timers on a virtual clock that only ``advance(by:)`` moves. No socket, no sleeping.
struct MachineDriver {
    typealias Machine = ProcessStateMachine

    var machine: Machine
    /// The virtual time.
    private(set) var now: Duration = .zero
    /// The timers running, with the time each fires.
    private(set) var timers: [Machine.Timer: Duration] = [:]
    /// Every action performed, as a short word, in order (for checking Emacs's order).
    private(set) var trace: [String] = []
    private(set) var events: [ProcessEvent] = []
    private(set) var sentinelCalls: [String] = []
    private(set) var filterCalls: [[UInt8]] = []
    private(set) var results: [Machine.WaitID: Result<Machine.WaitResult, NetworkError>] = [:]
    private(set) var reading = true
    private(set) var tlsInsertions: [Machine.WaitID] = []
    private(set) var closes = 0
    private(set) var nameReleases = 0

    init(role: Machine.Role = .client, receiveLimit: Int = 1 << 20, stopped: Bool = false, attach: Bool = true) {
        machine = Machine(
            name: "conn",
            role: role,
            raw: .connecting,
            nameClaimed: true,
            receiveLimit: receiveLimit,
            stopped: stopped
        )
        if attach {
            apply(machine.attached(local: "127.0.0.1:1", remote: "127.0.0.1:2", sentinelEvent: nil))
        }
    }

    /// Records the actions, as the shell would perform them.
    mutating func apply(_ actions: [Machine.Action]) {
        for action in actions {
            switch action {
            case .emit(let event):
                events.append(event)
                trace.append("emit:\(Self.word(event))")
            case .sentinel(let text):
                sentinelCalls.append(text)
                trace.append("sentinel:\(text)")
            case .filter(let chunk):
                filterCalls.append(chunk)
                trace.append("filter")
            case .track(let id):
                trace.append("track:\(id.value)")
            case .complete(let id, let result):
                #expect(results[id] == nil, "wait \(id.value) completed twice")
                results[id] = result
                trace.append("complete:\(id.value)")
            case .schedule(let timer, let delay):
                timers[timer] = now + delay
            case .cancel(let timer):
                timers[timer] = nil
            case .pauseReading:
                reading = false
                trace.append("pause")
            case .resumeReading:
                reading = true
                trace.append("resume")
            case .insertTLS(_, let id, _):
                tlsInsertions.append(id)
                trace.append("insertTLS")
            case .close:
                closes += 1
                trace.append("close")
            case .releaseName:
                nameReleases += 1
                trace.append("releaseName")
            case .terminateChild:
                trace.append("terminateChild")
            }
        }
    }

    /// Moves the virtual clock on, firing each timer that falls due, earliest first.
    mutating func advance(by span: Duration) {
        let end = now + span
        while let (timer, at) = timers.filter({ $0.value <= end }).min(by: { $0.value < $1.value }) {
            now = at
            timers[timer] = nil
            apply(machine.timerFired(timer))
        }
        now = end
    }

    mutating func read(_ text: String) {
        apply(machine.bytesRead(Array(text.utf8)))
    }

    mutating func expect(_ source: String, timeout: Duration = .seconds(1), idle: Duration? = nil) throws -> Machine.WaitID {
        let (id, actions) = machine.beginExpect(
            try BytePattern(source, options: [.multiline]),
            timeout: timeout,
            idleTimeout: idle,
            wait: .expect
        )
        apply(actions)
        return id
    }

    /// Starts waiting for a STARTTLS reply line; a reply matching `success` starts TLS in that turn.
    mutating func expectReply(goAheadOn success: String) throws -> Machine.WaitID {
        let (id, actions) = machine.beginExpect(
            try BytePattern("^[0-9]{3} [^\r\n]*\r\n", options: [.multiline]),
            timeout: .seconds(1),
            idleTimeout: nil,
            wait: .starttlsReply,
            goAhead: .init(success: try BytePattern(success), tls: try tlsRequest())
        )
        apply(actions)
        return id
    }

    /// The bytes an expect matched.
    func matched(_ id: Machine.WaitID) -> String? {
        guard case .success(.matched(let match, _))? = results[id] else { return nil }
        return String(decoding: match.matched, as: UTF8.self)
    }

    /// The error a wait failed with.
    func error(_ id: Machine.WaitID) -> NetworkError? {
        guard case .failure(let error)? = results[id] else { return nil }
        return error
    }

    static func word(_ event: ProcessEvent) -> String {
        switch event {
        case .connected: "connected"
        case .sent: "sent"
        case .received: "received"
        case .handshakeStarted: "handshakeStarted"
        case .tlsEstablished: "tlsEstablished"
        case .discarded: "discarded"
        case .closed(let byPeer): byPeer ? "closedByPeer" : "closed"
        }
    }
}

/// A TLS request for the machine (the context is never used: no handshake runs).
func tlsRequest(timeout: Duration = .seconds(2)) throws -> ProcessStateMachine.TLSRequest {
    let context = try FixtureCertificates.clientContext()
    return .init(context: context, serverHostname: "localhost", timeout: timeout)
}

private let session = TLSSessionInfo(protocolVersion: "TLS1.3", cipherSuite: "TLS_AES_256_GCM_SHA384")

@Suite("The process state machine, without sockets")
struct ProcessStateMachineTests {
    // MARK: Sentinels in Emacs's order

    @Test("a peer close: status closed (exit 256), name released, sentinel, then the close event and the wait's failure")
    func peerCloseOrder() throws {
        var driver = MachineDriver()
        #expect(driver.machine.reportedStatus == .open)
        let wait = try driver.expect("never")
        driver.apply(driver.machine.channelClosed())
        #expect(
            driver.trace.suffix(4) == [
                "releaseName", "sentinel:connection broken by remote peer\n", "emit:closedByPeer", "complete:\(wait.value)",
            ])
        #expect(driver.machine.reportedStatus == .closed)
        #expect(driver.machine.exitStatus == .code(256))
        #expect(driver.error(wait)?.kind == .closedByPeer)
        #expect(driver.error(wait)?.wait == .expect)
    }

    @Test("delete: name released, sentinel \"deleted\", then waits fail, then our close; the close that follows calls no sentinel")
    func deleteOrder() throws {
        var driver = MachineDriver(role: .shell)
        let wait = try driver.expect("never")
        driver.apply(driver.machine.delete())
        #expect(driver.trace.suffix(5) == ["releaseName", "sentinel:deleted\n", "terminateChild", "complete:\(wait.value)", "close"])
        #expect(driver.error(wait)?.kind == .notOpen)
        #expect(driver.machine.exitStatus == .code(0))
        driver.apply(driver.machine.channelClosed())
        driver.apply(driver.machine.delete())
        #expect(driver.sentinelCalls == ["deleted\n"])
        #expect(driver.nameReleases == 1)
        #expect(driver.machine.reportedStatus == .closed)
    }

    @Test("non-blocking connects: \"open\" before any data; a failure is \"failed with code N\"; a TLS failure calls no sentinel")
    func nonBlockingConnect() throws {
        var opened = MachineDriver(attach: false)
        #expect(opened.machine.reportedStatus == .connect)
        opened.apply(opened.machine.attached(local: "a", remote: "b", sentinelEvent: "open\n"))
        #expect(opened.trace == ["emit:connected", "sentinel:open\n"])

        var refused = MachineDriver(attach: false)
        refused.apply(refused.machine.connectFailed(.code(111), callSentinel: true))
        #expect(refused.sentinelCalls == ["failed with code 111\n"])
        #expect(refused.machine.reportedStatus == .failed)

        var tls = MachineDriver(attach: false)
        tls.apply(tls.machine.attached(local: "a", remote: "b", sentinelEvent: nil, keepConnecting: true))
        let handshake = tls.machine.beginTLS(try tlsRequest(), duringConnect: true)
        tls.apply(handshake.1)
        #expect(tls.tlsInsertions == [handshake.0])
        tls.apply(tls.machine.connectHandshakeFailed())
        #expect(tls.machine.reportedStatus == .failed)
        #expect(tls.machine.exitStatus == .message("TLS negotiation failed"))
        #expect(tls.sentinelCalls.isEmpty)
        #expect(tls.closes == 1)
    }

    @Test("implicit TLS during a non-blocking connect: \"open\" comes when the handshake completes")
    func openAfterHandshake() throws {
        var driver = MachineDriver(attach: false)
        driver.apply(driver.machine.attached(local: "a", remote: "b", sentinelEvent: nil, keepConnecting: true))
        let (id, actions) = driver.machine.beginTLS(try tlsRequest(), duringConnect: true)
        driver.apply(actions)
        #expect(driver.machine.reportedStatus == .connect)
        driver.apply(driver.machine.handshakeCompleted(session))
        #expect(driver.trace.suffix(3) == ["emit:tlsEstablished", "sentinel:open\n", "complete:\(id.value)"])
        #expect(driver.machine.reportedStatus == .open)
        #expect(driver.machine.tlsActive)
    }

    // MARK: Stop and continue

    @Test("stop: reads and the peer's close wait until continue, then arrive in order; the status is stop meanwhile")
    func stopAndContinue() throws {
        var driver = MachineDriver()
        driver.apply(driver.machine.stop())
        #expect(!driver.reading)
        #expect(driver.machine.reportedStatus == .stop)
        driver.read("one")
        driver.read("two")
        driver.apply(driver.machine.channelClosed())
        #expect(driver.events.count == 1)  // only "connected"
        #expect(driver.sentinelCalls.isEmpty)
        let wait = try driver.expect("onetwo")
        #expect(driver.results[wait] == nil)
        driver.apply(driver.machine.continue())
        #expect(driver.matched(wait) == "onetwo")
        #expect(
            driver.trace.suffix(6) == [
                "emit:received", "emit:received", "complete:\(wait.value)", "releaseName",
                "sentinel:connection broken by remote peer\n", "emit:closedByPeer",
            ]
        )
        #expect(driver.sentinelCalls == ["connection broken by remote peer\n"])
        #expect(driver.machine.reportedStatus == .closed)
    }

    @Test("a process created stopped pauses reading when its channel is attached; continue resumes it")
    func createdStopped() {
        var driver = MachineDriver(stopped: true)
        #expect(driver.trace == ["emit:connected", "pause"])
        #expect(driver.machine.readingMayResume().isEmpty)
        driver.apply(driver.machine.continue())
        #expect(driver.reading)
        #expect(driver.machine.reportedStatus == .open)
    }

    // MARK: Hold-back

    @Test("hold-back: a full receive buffer with no wait pauses reading; the next wait resumes it")
    func holdBack() throws {
        var driver = MachineDriver(receiveLimit: 16)
        driver.read(String(repeating: "x", count: 16))
        #expect(!driver.reading)
        #expect(driver.machine.bufferedCount == 16)
        let wait = try driver.expect("x{4}")
        #expect(driver.matched(wait) == "xxxx")
        #expect(driver.reading)
    }

    @Test("hold-back: throwing pending bytes away resumes reading too")
    func holdBackDiscard() {
        var driver = MachineDriver(receiveLimit: 8)
        driver.read("12345678")
        #expect(!driver.reading)
        let (count, actions) = driver.machine.discardPending()
        driver.apply(actions)
        #expect(count == 8)
        #expect(driver.reading)
    }

    @Test("a partial match that fills the buffer fails with bufferLimit")
    func bufferLimit() throws {
        var driver = MachineDriver(receiveLimit: 8)
        let wait = try driver.expect("a+b")
        driver.read("aaaaaaaaaaaa")
        #expect(driver.error(wait)?.kind == .bufferLimit)
    }

    // MARK: The STARTTLS go-ahead

    @Test("after a go-ahead, plaintext in the same read is discarded and reported, and the handshake starts in that turn")
    func discardAfterGoAhead() throws {
        var driver = MachineDriver()
        let id = try driver.expectReply(goAheadOn: "^220")
        driver.read("220 go ahead\r\n250 INJECTED\r\n")
        guard case .success(.matched(let match, let handshake?))? = driver.results[id] else {
            Issue.record("no go-ahead: \(driver.trace) \(String(describing: driver.results[id]))")
            return
        }
        #expect(String(decoding: match.matched, as: UTF8.self) == "220 go ahead\r\n")
        #expect(
            driver.trace.suffix(6) == [
                "emit:received", "track:\(handshake.value)", "emit:discarded", "emit:handshakeStarted", "insertTLS", "complete:\(id.value)",
            ]
        )
        guard case .discarded(let bytes) = driver.events.first(where: { if case .discarded = $0 { true } else { false } }) else {
            Issue.record("nothing discarded")
            return
        }
        #expect(bytes == Array("250 INJECTED\r\n".utf8))
        #expect(driver.machine.discardedBytes == 14)
        #expect(driver.machine.bufferedCount == 0)
        driver.apply(driver.machine.handshakeCompleted(session))
        guard case .success(.session(let info))? = driver.results[handshake] else {
            Issue.record("handshake not completed")
            return
        }
        #expect(info == session)
        driver.read("250 inside TLS\r\n")
        guard case .received(_, let tls) = driver.events.last else {
            Issue.record("no read")
            return
        }
        #expect(tls)
    }

    @Test("a refusal (the reply does not match the go-ahead) leaves the connection plain and discards nothing")
    func refusedGoAhead() throws {
        var driver = MachineDriver()
        let id = try driver.expectReply(goAheadOn: "^220")
        driver.read("454 not now\r\nmore")
        guard case .success(.matched(_, let handshake))? = driver.results[id] else {
            Issue.record("no reply")
            return
        }
        #expect(handshake == nil)
        #expect(driver.tlsInsertions.isEmpty)
        #expect(driver.machine.discardedBytes == 0)
        #expect(driver.machine.bufferedCount == 4)
    }

    @Test("TLS cannot start twice, nor on a closed process")
    func tlsPreconditions() throws {
        var driver = MachineDriver()
        let first = driver.machine.beginTLS(try tlsRequest())
        driver.apply(first.1)
        driver.apply(driver.machine.handshakeCompleted(session))
        let second = driver.machine.beginTLS(try tlsRequest())
        driver.apply(second.1)
        #expect(driver.error(second.0)?.message == "cannot start TLS: TLS is already active")
        var closed = MachineDriver()
        closed.apply(closed.machine.delete())
        let third = closed.machine.beginTLS(try tlsRequest())
        closed.apply(third.1)
        #expect(closed.error(third.0)?.message == "cannot start TLS: the process is closed")
    }

    @Test("a TLS error during the handshake fails the handshake; a later error fails the next wait")
    func tlsErrors() throws {
        var driver = MachineDriver()
        let (id, actions) = driver.machine.beginTLS(try tlsRequest())
        driver.apply(actions)
        driver.apply(driver.machine.errorCaught(NetworkError(.tls, message: "TLS: bad record")))
        #expect(driver.error(id)?.wait == .handshake)
        #expect(driver.error(id)?.kind == .tls)
        driver.apply(driver.machine.errorCaught(NetworkError(.tls, message: "TLS: later")))
        let wait = try driver.expect("x")
        #expect(driver.error(wait)?.message == "TLS: later")
        #expect(driver.error(wait)?.wait == .expect)
    }

    @Test("a server's implicit TLS keeps the bytes received (the ClientHello) for the handler; without it they are discarded")
    func keepReceivedForImplicitTLS() throws {
        var driver = MachineDriver()
        driver.read("\u{16}\u{03}\u{01}hello")
        var request = try tlsRequest()
        request.keepReceived = true
        let (_, actions) = driver.machine.beginTLS(request)
        let replayed = actions.compactMap { action -> [UInt8]? in
            if case .insertTLS(_, _, let replay) = action { return replay }
            return nil
        }
        #expect(replayed == [Array("\u{16}\u{03}\u{01}hello".utf8)])
        #expect(driver.machine.discardedBytes == 0)
        #expect(driver.machine.bufferedCount == 0)

        var plain = MachineDriver()
        plain.read("RSET\r\n")
        let (_, discarding) = plain.machine.beginTLS(try tlsRequest())
        #expect(discarding.contains { if case .insertTLS(_, _, let replay) = $0 { replay.isEmpty } else { false } })
        #expect(plain.machine.discardedBytes == 6)
    }

    @Test("the peer closing during the handshake fails it")
    func closeDuringHandshake() throws {
        var driver = MachineDriver()
        let (id, actions) = driver.machine.beginTLS(try tlsRequest())
        driver.apply(actions)
        driver.apply(driver.machine.channelClosed())
        #expect(driver.error(id)?.kind == .closedByPeer)
        #expect(driver.error(id)?.wait == .handshake)
    }

    // MARK: Deadlines

    @Test("an expect's deadline fails it with the wait, the deadline and the bytes not matched")
    func expectDeadline() throws {
        var driver = MachineDriver()
        let wait = try driver.expect("^250 ", timeout: .seconds(2))
        driver.read("220 hello\r\n")
        driver.advance(by: .milliseconds(1999))
        #expect(driver.results[wait] == nil)
        driver.advance(by: .milliseconds(1))
        let error = try #require(driver.error(wait))
        #expect(error.kind == .timeout)
        #expect(error.deadline == .seconds(2))
        #expect(error.message == "timed out after 2s waiting for the expected pattern")
        #expect(error.tail == Array("220 hello\r\n".utf8))
        #expect(driver.timers.isEmpty)
    }

    @Test("an idle deadline starts again with each arrival, inside the overall deadline")
    func idleDeadline() throws {
        var driver = MachineDriver()
        let wait = try driver.expect("END", timeout: .seconds(10), idle: .milliseconds(500))
        for _ in 0..<5 {
            driver.advance(by: .milliseconds(400))
            driver.read("data ")
        }
        #expect(driver.results[wait] == nil)
        driver.advance(by: .milliseconds(499))
        #expect(driver.results[wait] == nil)
        driver.advance(by: .milliseconds(1))
        let error = try #require(driver.error(wait))
        #expect(error.deadline == .milliseconds(500))
        #expect(error.message.hasPrefix("nothing arrived for 0.5s (the idle timeout)"))
        #expect(driver.timers.isEmpty)
    }

    @Test("silence: holds when nothing arrives; fails when a byte arrives, or at once when bytes are already waiting")
    func silence() {
        var quiet = MachineDriver()
        let (held, actions) = quiet.machine.beginQuiet(.silence, period: .seconds(1))
        quiet.apply(actions)
        quiet.advance(by: .seconds(1))
        guard case .success(.quiet)? = quiet.results[held] else {
            Issue.record("silence did not hold")
            return
        }

        var noisy = MachineDriver()
        let (broken, more) = noisy.machine.beginQuiet(.silence, period: .seconds(1))
        noisy.apply(more)
        noisy.advance(by: .milliseconds(300))
        noisy.read("NOISE")
        #expect(noisy.error(broken)?.kind == .unexpectedData)
        #expect(noisy.error(broken)?.tail == Array("NOISE".utf8))
        #expect(noisy.timers.isEmpty)

        var early = MachineDriver()
        early.read("left over")
        let (at, once) = early.machine.beginQuiet(.silence, period: .seconds(1))
        early.apply(once)
        #expect(early.error(at)?.message == "9 bytes arrived after the last match, where nothing more should")
    }

    @Test("a peer close is not data: a silence wait holds when the peer closes")
    func silenceAndClose() {
        var driver = MachineDriver()
        let (id, actions) = driver.machine.beginQuiet(.silence, period: .seconds(1))
        driver.apply(actions)
        driver.apply(driver.machine.channelClosed())
        guard case .success(.quiet)? = driver.results[id] else {
            Issue.record("silence failed on a close")
            return
        }
    }

    @Test("a peer-close wait: succeeds on the close, at once when already closed, and times out otherwise")
    func peerCloseWait() {
        var driver = MachineDriver()
        let (first, actions) = driver.machine.beginQuiet(.peerClose, period: .seconds(1))
        driver.apply(actions)
        driver.advance(by: .seconds(1))
        #expect(driver.error(first)?.kind == .timeout)
        #expect(driver.error(first)?.wait == .peerClose)
        let (second, more) = driver.machine.beginQuiet(.peerClose, period: .seconds(1))
        driver.apply(more)
        driver.apply(driver.machine.channelClosed())
        guard case .success(.quiet)? = driver.results[second] else {
            Issue.record("no close")
            return
        }
        let (third, once) = driver.machine.beginQuiet(.peerClose, period: .seconds(1))
        driver.apply(once)
        guard case .success(.quiet)? = driver.results[third] else {
            Issue.record("not at once")
            return
        }
    }

    @Test("a handshake's deadline fails it and closes the connection; the close calls no sentinel")
    func handshakeDeadline() throws {
        var driver = MachineDriver()
        let (id, actions) = driver.machine.beginTLS(try tlsRequest(timeout: .seconds(3)))
        driver.apply(actions)
        driver.advance(by: .seconds(3))
        #expect(driver.error(id)?.kind == .timeout)
        #expect(driver.error(id)?.wait == .handshake)
        #expect(driver.closes == 1)
        driver.apply(driver.machine.channelClosed())
        #expect(driver.sentinelCalls.isEmpty)
    }

    @Test("a timer of a wait that already ended is ignored")
    func lateTimer() throws {
        var driver = MachineDriver()
        let wait = try driver.expect("ok")
        driver.read("ok")
        #expect(driver.matched(wait) == "ok")
        #expect(driver.machine.timerFired(.deadline(wait)).isEmpty)
        #expect(driver.machine.timerFired(.idle(wait)).isEmpty)
    }

    @Test("one wait at a time: a second is refused as busy")
    func busy() throws {
        var driver = MachineDriver()
        _ = try driver.expect("a")
        let second = try driver.expect("b")
        #expect(driver.error(second)?.kind == .busy)
        let (quiet, actions) = driver.machine.beginQuiet(.silence, period: .seconds(1))
        driver.apply(actions)
        #expect(driver.error(quiet)?.kind == .busy)
    }

    // MARK: Filters, sends, datagrams

    @Test("a filter gets chunks of at most 4096 bytes; a datagram is cut to 4096")
    func filterChunks() {
        var stream = MachineDriver()
        stream.machine.hasFilter = true
        stream.apply(stream.machine.bytesRead(Array(repeating: 1, count: 10_000)))
        #expect(stream.filterCalls.map(\.count) == [4096, 4096, 1808])
        #expect(stream.machine.bufferedCount == 0)

        var datagram = MachineDriver(role: .datagram)
        datagram.machine.hasFilter = true
        datagram.apply(datagram.machine.bytesRead(Array(repeating: 1, count: 6000)))
        #expect(datagram.filterCalls.map(\.count) == [4096])
    }

    @Test("sends: refused when not running, discarded after send-eof, and a datagram needs an address")
    func sends() throws {
        var connecting = MachineDriver(attach: false)
        guard case .failure(let notOpen) = connecting.machine.send([1]) else {
            Issue.record("sent while connecting")
            return
        }
        #expect(notOpen.message == "Process conn not running")

        var driver = MachineDriver()
        guard case .success(.write(.sent(let bytes, false), nil)) = driver.machine.send([1, 2]) else {
            Issue.record("no write")
            return
        }
        #expect(bytes == [1, 2])
        guard case .success(let shutDown) = driver.machine.sendEOF() else {
            Issue.record("no eof")
            return
        }
        #expect(shutDown)
        guard case .success(false) = driver.machine.sendEOF() else {
            Issue.record("a second send-eof shuts down again")
            return
        }
        guard case .success(.discard) = driver.machine.send([3]) else {
            Issue.record("sent after eof")
            return
        }

        var datagram = MachineDriver(role: .datagram)
        guard case .failure(let noAddress) = datagram.machine.send([1]) else {
            Issue.record("sent without an address")
            return
        }
        #expect(noAddress.message.contains("no datagram address"))
        let sender = try SocketAddress(ipAddress: "127.0.0.1", port: 9)
        datagram.apply(datagram.machine.bytesRead([7], from: sender))
        guard case .success(.write(_, let address?)) = datagram.machine.send([1]) else {
            Issue.record("no reply address")
            return
        }
        #expect(address == sender)
    }

    @Test("a server reports listen, and its channel's close ends it with exit 0 and no sentinel")
    func server() {
        var driver = MachineDriver(role: .server)
        #expect(driver.machine.reportedStatus == .listen)
        #expect(driver.events.isEmpty)  // a server has no connection of its own
        driver.apply(driver.machine.channelClosed())
        #expect(driver.machine.exitStatus == .code(0))
        #expect(driver.sentinelCalls.isEmpty)
        #expect(driver.nameReleases == 1)
    }
}

@Suite("SmallMap")
struct SmallMapTests {
    @Test("set, replace, read, remove; nil removes")
    func operations() {
        var map = SmallMap<Int, String>()
        #expect(map[1] == nil)
        map[1] = "a"
        map[2] = "b"
        map[1] = "c"
        #expect(map[1] == "c")
        #expect(map.count == 2)
        #expect(map.removeValue(forKey: 2) == "b")
        #expect(map.removeValue(forKey: 2) == nil)
        map[1] = nil
        #expect(map.count == 0)
    }
}
