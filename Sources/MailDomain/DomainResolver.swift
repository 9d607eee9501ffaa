// SPDX-License-Identifier: Apache-2.0
internal import CUnbound
internal import Foundation
internal import NIOConcurrencyHelpers

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Asks DNS questions through libunbound, with DNSSEC validation when a trust anchor is
/// configured, each look-up bounded by the configuration's timeout.
///
/// Every answer (and every failure) is kept for the resolver's life, keyed by name and type: a
/// run asks each question once, and concurrent askers of the same question share one look-up.
public final class DomainResolver: Sendable {
    /// What this resolver was made from.
    public let configuration: ResolverConfiguration
    /// The libunbound context and the thread that delivers its answers.
    private let context: UnboundContext
    /// Questions asked so far, answered or in flight.
    private let cache = NIOLockedValueBox<[Question: Task<Result<RawAnswer, DomainLookupError>, Never>]>([:])
    /// How many questions were handed to libunbound.
    private let lookups = NIOLockedValueBox(0)

    /// Makes a libunbound context for `configuration` and checks it (forwarder address, trust
    /// anchor, local data) before any question is asked.
    ///
    /// - Throws: ``DomainLookupError`` naming what libunbound refused.
    public init(_ configuration: ResolverConfiguration) throws(DomainLookupError) {
        self.configuration = configuration
        self.context = try UnboundContext(configuration)
    }

    deinit {
        self.context.stop()
    }

    /// How many questions were handed to libunbound so far (a question answered from the cache
    /// is not counted again).
    public var lookupCount: Int { self.lookups.withLockedValue { $0 } }

    /// The MX records of `domain`.
    ///
    /// - Throws: ``DomainLookupError`` for a malformed name, the deadline, or a malformed record.
    public func mx(_ domain: String) async throws(DomainLookupError) -> DNSAnswer<MXRecord> {
        let name = try DomainName.normalized(domain)
        return try await self.answer(name, type: .mx) { rdata throws(DNSRecordError) in try MXRecord(rdata: rdata) }
    }

    /// The A and AAAA records of `host` in text form ("127.0.2.1", "::1"), A first; the two
    /// look-ups run at once. The answer's DNSSEC state is the weaker of the two; its code is
    /// NOERROR when there are addresses, else the worse of the two codes.
    public func addresses(_ host: String) async throws(DomainLookupError) -> DNSAnswer<String> {
        let name = try DomainName.normalized(host)
        async let v4 = self.raw(name, type: .a)
        async let v6 = self.raw(name, type: .aaaa)
        let (a, aaaa) = await (v4, v6)
        let four = try self.typed(name, .a, a.get()) { rdata throws(DNSRecordError) in try DNSWire.address(rdata) }
        let six = try self.typed(name, .aaaa, aaaa.get()) { rdata throws(DNSRecordError) in try DNSWire.address(rdata) }
        let records = four.records + six.records
        let code = records.isEmpty ? (four.code.severity >= six.code.severity ? four.code : six.code) : .noError
        let why = [four.whyBogus, six.whyBogus].compactMap { $0 }
        return DNSAnswer(
            name: name,
            type: "A/AAAA",
            code: code,
            records: records,
            dnssec: DNSSECStatus.weaker(four.dnssec, six.dnssec),
            whyBogus: why.isEmpty ? nil : Array(Set(why)).sorted().joined(separator: "; ")
        )
    }

    /// The TLSA records at `_PORT._tcp.HOST` (RFC 7672 §2.2).
    public func tlsa(host: String, port: Int) async throws(DomainLookupError) -> DNSAnswer<TLSARecord> {
        guard (1...65535).contains(port) else {
            throw DomainLookupError("TLSA look-up for \(host): port \(port) is not from 1 to 65535")
        }
        let name = try DomainName.normalized("_\(port)._tcp." + host)
        return try await self.answer(name, type: .tlsa) { rdata throws(DNSRecordError) in try TLSARecord(rdata: rdata) }
    }

    /// The TXT records of `name`, each record's character-strings concatenated.
    public func txt(_ name: String) async throws(DomainLookupError) -> DNSAnswer<[UInt8]> {
        let name = try DomainName.normalized(name)
        return try await self.answer(name, type: .txt) { rdata throws(DNSRecordError) in try DNSWire.txt(rdata) }
    }

    // MARK: - Internals

    /// One question, asked and parsed.
    private func answer<Record: Sendable & Hashable>(
        _ name: String,
        type: RecordType,
        parse: (([UInt8]) throws(DNSRecordError) -> Record)
    ) async throws(DomainLookupError) -> DNSAnswer<Record> {
        try self.typed(name, type, await self.raw(name, type: type).get(), parse: parse)
    }

    /// A raw answer as a typed one.
    private func typed<Record: Sendable & Hashable>(
        _ name: String,
        _ type: RecordType,
        _ raw: RawAnswer,
        parse: (([UInt8]) throws(DNSRecordError) -> Record)
    ) throws(DomainLookupError) -> DNSAnswer<Record> {
        var records: [Record] = []
        for (index, rdata) in raw.records.enumerated() {
            do {
                records.append(try parse(rdata))
            } catch {
                throw DomainLookupError("malformed \(type.name) record \(index + 1) for \(name): \(error.description)")
            }
        }
        let dnssec: DNSSECStatus =
            raw.bogus ? .bogus : !self.context.validating ? .unvalidated : raw.secure ? .secure : .insecure
        return DNSAnswer(
            name: name,
            type: type.name,
            code: ResponseCode(raw.rcode),
            records: records,
            dnssec: dnssec,
            whyBogus: raw.bogus ? (raw.whyBogus ?? "no reason given") : nil
        )
    }

    /// The cached answer to a question, asking libunbound the first time.
    private func raw(_ name: String, type: RecordType) async -> Result<RawAnswer, DomainLookupError> {
        let question = Question(name: name, type: type)
        let context = self.context
        let timeout = self.configuration.timeout
        let task = self.cache.withLockedValue { cache in
            if let asked = cache[question] { return asked }
            let asking = Task { await context.resolve(question, timeout: timeout) }
            cache[question] = asking
            self.lookups.withLockedValue { $0 += 1 }
            return asking
        }
        return await task.value
    }
}

/// The record types asked for.
enum RecordType: Int32, Sendable, Hashable {
    case a = 1
    case mx = 15
    case txt = 16
    case aaaa = 28
    case tlsa = 52

    /// "A", "MX", ...
    var name: String {
        switch self {
        case .a: "A"
        case .mx: "MX"
        case .txt: "TXT"
        case .aaaa: "AAAA"
        case .tlsa: "TLSA"
        }
    }
}

/// A name and a type.
struct Question: Sendable, Hashable, CustomStringConvertible {
    var name: String
    var type: RecordType
    var description: String { "\(self.type.name) \(self.name)" }
}

/// libunbound's result, copied out of its C structure.
struct RawAnswer: Sendable, Hashable {
    var rcode: Int
    var records: [[UInt8]]
    var secure: Bool
    var bogus: Bool
    var whyBogus: String?
}

/// Checks and normalizes names asked about.
enum DomainName {
    /// `text` lowercased without a trailing dot, when it is a host name in ASCII (letters,
    /// digits, '-', '_'), labels of 1–63 bytes, at most 253 bytes in all.
    static func normalized(_ text: String) throws(DomainLookupError) -> String {
        var name = text.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        guard !name.isEmpty else { throw DomainLookupError("cannot look up an empty domain name") }
        guard name.utf8.count <= 253 else {
            throw DomainLookupError("domain name of \(name.utf8.count) bytes is longer than 253: \(name.prefix(40))…")
        }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty else { throw DomainLookupError("domain name \"\(text)\" has an empty label") }
            guard label.utf8.count <= 63 else {
                throw DomainLookupError("domain name \"\(text)\" has a label of \(label.utf8.count) bytes, over 63")
            }
            let allowed = label.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
            guard allowed else {
                throw DomainLookupError(
                    "domain name \"\(text)\" has characters other than letters, digits, '-' and '_' (write IDNs as xn-- A-labels)"
                )
            }
        }
        return name
    }
}

/// "10 s", "0.3 s".
func secondsText(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
    if milliseconds % 1000 == 0 { return "\(milliseconds / 1000) s" }
    return "\(Double(milliseconds) / 1000) s"
}

// MARK: - The libunbound context

/// A `ub_ctx` in threaded asynchronous mode, and the thread that waits on its descriptor and
/// delivers answers (`ub_process`). Deleted when the last look-up and the delivery thread let go.
final class UnboundContext: @unchecked Sendable {
    /// `struct ub_ctx *`; libunbound locks inside, so it is used from any thread.
    let raw: OpaquePointer
    /// Whether a trust anchor is configured (answers are validated).
    let validating: Bool
    /// Whether the delivery thread runs, and whether it should stop.
    private let state = NIOLockedValueBox((polling: false, stopped: false))

    /// A configured and finalized context.
    init(_ configuration: ResolverConfiguration) throws(DomainLookupError) {
        guard let context = ub_ctx_create() else { throw DomainLookupError("libunbound: cannot create a context") }
        do {
            try Self.configure(context, configuration)
        } catch {
            ub_ctx_delete(context)
            throw error
        }
        self.raw = context
        self.validating = configuration.effectiveTrustAnchorFile != nil
    }

    deinit {
        ub_ctx_delete(self.raw)
    }

    /// libunbound's sentence for an error code.
    static func text(_ code: Int32) -> String {
        String(cString: ub_strerror(code))
    }

    /// Applies the configuration in the order libunbound needs: threading, servers and trust
    /// anchors before the context is finalized; local zones and data (which finalize it) after.
    private static func configure(_ context: OpaquePointer, _ configuration: ResolverConfiguration)
        throws(DomainLookupError)
    {
        func check(_ code: Int32, _ what: @autoclosure () -> String) throws(DomainLookupError) {
            if code != 0 { throw DomainLookupError("libunbound: \(what()): \(Self.text(code))") }
        }
        try check(ub_ctx_async(context, 1), "threaded mode")
        if let forwarder = configuration.forwarder {
            let address = try ResolverConfiguration.unboundForwarder(forwarder)
            try check(ub_ctx_set_fwd(context, address), "forwarder \(forwarder)")
        } else {
            try check(ub_ctx_resolvconf(context, nil), "reading /etc/resolv.conf")
            // No /etc/hosts is no error: there is simply nothing local.
            _ = ub_ctx_hosts(context, nil)
        }
        // libunbound answers NXDOMAIN for the special-use "test." itself (RFC 6761); a resolver
        // that serves test zones (an offline test world, a lab) must be asked instead.
        try check(ub_ctx_set_option(context, "local-zone:", "test. transparent"), "local-zone test. transparent")
        let anchor = configuration.effectiveTrustAnchorFile
        if let anchor {
            guard let file = fopen(anchor, "r") else {
                throw DomainLookupError("cannot read trust anchor \(anchor): \(String(cString: strerror(errno)))")
            }
            fclose(file)
            let code = ub_ctx_add_ta_file(context, anchor)
            if code != 0 { throw DomainLookupError("cannot read trust anchor \(anchor): libunbound: \(Self.text(code))") }
        }
        // Finalize now, so a trust anchor libunbound cannot load is reported here rather than
        // as the first look-up's failure. "localhost." is one of libunbound's own local zones:
        // nothing goes on the wire.
        var probe: UnsafeMutablePointer<ub_result>?
        let finalized = ub_resolve(context, "localhost.", 1, 1, &probe)
        if let probe { ub_resolve_free(probe) }
        if finalized != 0 {
            if let anchor {
                throw DomainLookupError(
                    "cannot read trust anchor \(anchor): libunbound: \(Self.text(finalized)) (DS or DNSKEY records in zone-file format expected)"
                )
            }
            throw DomainLookupError("libunbound: \(Self.text(finalized))")
        }
        for zone in configuration.localZones {
            let parts = zone.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count == 2 else {
                throw DomainLookupError("local zone \"\(zone)\": expected NAME TYPE, as in \"parley.test static\"")
            }
            try check(ub_ctx_zone_add(context, String(parts[0]), String(parts[1])), "local zone \"\(zone)\"")
        }
        for line in configuration.localData {
            // libunbound answers "out of memory" for a line it cannot parse (and logs the reason
            // on standard error), so the code's own text would mislead.
            guard ub_ctx_data_add(context, line) == 0 else {
                throw DomainLookupError(
                    "libunbound: local data \"\(line)\" is not a resource record in zone-file form (NAME [TTL] [CLASS] TYPE RDATA)"
                )
            }
        }
    }

    /// Tells the delivery thread to end; the context is deleted once nothing uses it.
    func stop() {
        self.state.withLockedValue { $0.stopped = true }
    }

    /// Starts the delivery thread unless it runs (or the context is stopping).
    private func startDelivering() {
        let start = self.state.withLockedValue { state in
            guard !state.polling, !state.stopped else { return false }
            state.polling = true
            return true
        }
        guard start else { return }
        let thread = Thread { [self] in self.deliver() }
        thread.name = "parley-unbound"
        thread.start()
    }

    /// Waits on libunbound's descriptor (in 200 ms slices, to notice ``stop()``) and runs the
    /// callbacks of whatever answers arrived.
    private func deliver() {
        let descriptor = ub_fd(self.raw)
        while !self.state.withLockedValue({ $0.stopped }) {
            var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, 200)
            if ready > 0 {
                _ = ub_process(self.raw)
            } else if ready < 0, errno != EINTR {
                // The descriptor is gone; pending look-ups end at their deadlines.
                break
            }
        }
        self.state.withLockedValue { $0.polling = false }
    }

    /// Asks one question, waiting at most `timeout`.
    func resolve(_ question: Question, timeout: Duration) async -> Result<RawAnswer, DomainLookupError> {
        await withCheckedContinuation { continuation in
            let pending = PendingLookup(question: question, continuation: continuation)
            let opaque = Unmanaged.passRetained(pending).toOpaque()
            var id: Int32 = 0
            let code = ub_resolve_async(
                self.raw, question.name + ".", question.type.rawValue, 1, opaque,
                { mydata, error, result in
                    guard let mydata else { return }
                    let pending = Unmanaged<PendingLookup>.fromOpaque(mydata).takeRetainedValue()
                    defer { if let result { ub_resolve_free(result) } }
                    guard error == 0, let result else {
                        pending.finish(
                            .failure(
                                DomainLookupError(
                                    "DNS look-up of \(pending.question): libunbound: \(UnboundContext.text(error))")))
                        return
                    }
                    pending.finish(.success(RawAnswer(result.pointee)))
                },
                &id)
            guard code == 0 else {
                Unmanaged<PendingLookup>.fromOpaque(opaque).release()
                pending.finish(
                    .failure(DomainLookupError("DNS look-up of \(question): libunbound: \(Self.text(code))")))
                return
            }
            self.startDelivering()
            let address = UInt(bitPattern: opaque)
            let asyncID = id
            let timer = Task { [self] in
                try? await Task.sleep(for: timeout)
                guard !Task.isCancelled else { return }
                let error = DomainLookupError("DNS look-up of \(question) timed out after \(secondsText(timeout))")
                guard pending.finish(.failure(error)) else { return }
                // Cancelled: libunbound will not call back, so the callback's reference is
                // released here. Otherwise the callback is running or queued and releases it.
                if ub_cancel(self.raw, asyncID) == 0, let pointer = UnsafeMutableRawPointer(bitPattern: address) {
                    Unmanaged<PendingLookup>.fromOpaque(pointer).release()
                }
            }
            pending.setTimer(timer)
        }
    }
}

extension RawAnswer {
    /// Copies a `ub_result`.
    init(_ result: ub_result) {
        var records: [[UInt8]] = []
        if let data = result.data, let lengths = result.len {
            var index = 0
            while let record = data[index] {
                let length = Int(max(0, lengths[index]))
                records.append(
                    record.withMemoryRebound(to: UInt8.self, capacity: length) {
                        Array(UnsafeBufferPointer(start: $0, count: length))
                    })
                index += 1
            }
        }
        self.init(
            rcode: Int(result.rcode),
            records: result.havedata != 0 ? records : [],
            secure: result.secure != 0,
            bogus: result.bogus != 0,
            whyBogus: result.why_bogus.map { String(cString: $0) }
        )
    }
}

/// One look-up in flight: finished exactly once, by the answer or by the deadline.
final class PendingLookup: @unchecked Sendable {
    /// What was asked, for messages.
    let question: Question
    private let lock = NIOLock()
    private var continuation: CheckedContinuation<Result<RawAnswer, DomainLookupError>, Never>?
    private var timer: Task<Void, Never>?

    init(question: Question, continuation: CheckedContinuation<Result<RawAnswer, DomainLookupError>, Never>) {
        self.question = question
        self.continuation = continuation
    }

    /// Resumes the waiter unless it was resumed already; returns whether this call did it.
    @discardableResult
    func finish(_ result: Result<RawAnswer, DomainLookupError>) -> Bool {
        let (continuation, timer) = self.lock.withLock {
            defer {
                self.continuation = nil
                self.timer = nil
            }
            return (self.continuation, self.timer)
        }
        guard let continuation else { return false }
        timer?.cancel()
        continuation.resume(returning: result)
        return true
    }

    /// Keeps the deadline's task so an answer can cancel it (at once, if it came first).
    func setTimer(_ timer: Task<Void, Never>) {
        let finished = self.lock.withLock {
            guard self.continuation != nil else { return true }
            self.timer = timer
            return false
        }
        if finished { timer.cancel() }
    }
}
