// SPDX-License-Identifier: Apache-2.0
import Foundation
import Runner
import Scenario

/// A scenario's events as a sequence diagram's content: lanes (the client, and one per
/// connection), and per step a slice of rows, each row one event (an arrow per write, a band
/// for the handshake, a note). Text comes from the events alone, so what the runner masked stays
/// masked. ``HTMLReporter`` lays the slices out (``SequenceLayout``) and draws them.
struct ScenarioDiagram {
    /// A lane: the client's, or a connection's far end.
    struct Lane: Equatable {
        var title: String
        var subtitle: String
    }

    /// One row of a slice.
    struct Item {
        /// The event's mark in the page (`data-event`).
        var event: Int
        /// The event's type, as the JSON report names it (`data-kind`).
        var kind: String
        var shape: SequenceLayout.Shape
        /// The text, already folded to the row's width.
        var lines: [String]
        /// The CSS class: `sent`, `received`, `discarded`, `note`, `problem`, `tls`, `connection`.
        var style: String
        /// Whether the bytes travelled inside TLS.
        var tls = false
        /// A phase a lane enters at the top of the row.
        var enters: (lane: Int, phase: SequenceLayout.Phase)?
        /// A phase a lane enters under the row (nil phase: the shading stops).
        var after: (lane: Int, phase: SequenceLayout.Phase?)?
    }

    /// A step's events (or those before the first step).
    struct Slice {
        /// The step, if this is one.
        var step: (index: Int, step: Step)?
        /// The marks of its `step-started`, `step-passed` and `step-failed` events.
        var startedEvent: Int?
        var passedEvent: Int?
        var failure: (event: Int, failure: Failure)?
        var items: [Item] = []
    }

    var lanes: [Lane]
    var slices: [Slice]
    /// How many events have a mark (the JSON report's events of the scenario).
    var eventCount: Int

    /// The most lines one write shows; the rest is counted.
    static let maxLines = 14

    /// Builds the diagram of `events`. `firstEvent` numbers the marks; `teaching` leaves out what
    /// changes from run to run (ports) and joins writes that the network split differently.
    init(_ events: [RunEvent], firstEvent: Int = 0, teaching: Bool = false) {
        let events = teaching ? Self.joined(events) : events
        // Lanes: the client, then each connection in the order it first appears.
        var laneOf: [String: Int] = [:]
        var lanes = [Lane(title: "client", subtitle: "parley")]
        var servers: [Int: String] = [:]
        var connectedAny = false
        var acceptedLanes: Set<Int> = []
        for event in events {
            switch event {
            case .serverStarted(let proto, _, let port): servers[port] = "embedded \(proto) server"
            case .connection(let name, let connection):
                if laneOf[name] == nil {
                    laneOf[name] = lanes.count
                    lanes.append(Lane(title: "server", subtitle: "connection '\(name)'"))
                }
                if case .connected(_, let remote) = connection, let lane = laneOf[name] {
                    connectedAny = true
                    let port = Int(remote.split(separator: ":").last ?? "") ?? -1
                    lanes[lane].title = servers[port] ?? "server"
                    lanes[lane].subtitle = (teaching ? Self.withoutPort(remote) : remote) + (name == "main" ? "" : " ('\(name)')")
                }
                if case .accepted(_, let remote) = connection, let lane = laneOf[name] {
                    // Parley plays the server here; the peer is the client under test.
                    lanes[lane].title = "client"
                    lanes[lane].subtitle = (teaching ? Self.withoutPort(remote) : remote) + " ('\(name)')"
                    acceptedLanes.insert(lane)
                }
            default: break
            }
        }
        if !acceptedLanes.isEmpty {
            // Parley plays the server (a scripted server), or both sides of one dialog.
            lanes[0] =
                connectedAny ? Lane(title: "parley", subtitle: "client and server") : Lane(title: "server", subtitle: "parley (scripted)")
        }
        if lanes.count == 1 { lanes.append(Lane(title: "server", subtitle: "not connected")) }
        let laneCount = lanes.count

        var slices = [Slice()]
        var mark = firstEvent
        // Per lane: the row of the last plaintext reply in this slice (a STARTTLS go-ahead).
        var lastReply: [Int: Int] = [:]
        func add(_ item: Item) { slices[slices.count - 1].items.append(item) }
        func fold(_ lines: [String], _ shape: SequenceLayout.Shape) -> [String] {
            Self.fold(lines, columns: SequenceLayout.columns(for: shape, laneCount: laneCount))
        }
        for event in events {
            switch event {
            case .scenarioStarted, .scenarioFinished: continue
            default: break
            }
            defer { mark += 1 }
            switch event {
            case .scenarioStarted, .scenarioFinished: break
            case .stepStarted(let index, let step):
                slices.append(Slice(step: (index, step), startedEvent: mark))
                lastReply = [:]
            case .stepPassed:
                slices[slices.count - 1].passedEvent = mark
            case .stepFailed(_, _, let failure):
                slices[slices.count - 1].failure = (mark, failure)
            case .note(let text):
                let shown = teaching ? Self.withoutPorts(in: text) : text
                add(Item(event: mark, kind: "note", shape: .across, lines: fold(["=== " + shown], .across), style: "note"))
            case .serverStarted(let proto, let host, let port):
                let text = "embedded \(proto) server listening on " + (teaching ? host : "\(host):\(port)")
                add(Item(event: mark, kind: "server-started", shape: .across, lines: fold([text], .across), style: "note"))
            case .connection(let name, let connection):
                let lane = laneOf[name] ?? 1
                var item = Self.item(connection, lane: lane, mark: mark, teaching: teaching, fold: fold)
                if case .closed(let byPeer) = connection, acceptedLanes.contains(lane) {
                    item.lines = [byPeer ? "connection closed by the client" : "connection closed by the server"]
                }
                if case .handshakeStarted = connection, acceptedLanes.contains(lane) {
                    item.lines = fold(["TLS handshake begins, Parley as the server"], .block(lane: lane))
                }
                switch connection {
                case .connected, .accepted:
                    item.enters = (lane, .plaintext)
                case .received(_, let tls) where !tls:
                    lastReply[lane] = slices[slices.count - 1].items.count
                case .sent:
                    lastReply[lane] = nil
                case .handshakeStarted:
                    // The band begins at the go-ahead when there is one (STARTTLS), else here.
                    if let row = lastReply[lane] {
                        slices[slices.count - 1].items[row].enters = (lane, .handshake)
                    } else {
                        item.enters = (lane, .handshake)
                    }
                case .tlsEstablished:
                    item.after = (lane, .tls)
                case .closed:
                    item.after = (lane, nil)
                default: break
                }
                add(item)
            }
        }
        if slices[0].items.isEmpty { slices.removeFirst() }
        self.lanes = lanes
        self.slices = slices
        self.eventCount = mark - firstEvent
    }

    /// The row of one connection event.
    private static func item(
        _ event: ConnectionEvent, lane: Int, mark: Int, teaching: Bool,
        fold: ([String], SequenceLayout.Shape) -> [String]
    ) -> Item {
        switch event {
        case .connected(let local, let remote):
            let text =
                teaching
                ? "TCP connection from \(withoutPort(local)) to \(withoutPort(remote))" : "TCP connection from \(local) to \(remote)"
            return Item(event: mark, kind: "connected", shape: .across, lines: fold([text], .across), style: "connection")
        case .accepted(let local, let remote):
            let text =
                teaching
                ? "a client connects from \(withoutPort(remote)) to \(withoutPort(local))" : "a client connects from \(remote) to \(local)"
            return Item(event: mark, kind: "accepted", shape: .across, lines: fold([text], .across), style: "connection")
        case .sent(let bytes, let tls):
            let shape = SequenceLayout.Shape.arrow(from: 0, to: lane)
            return Item(event: mark, kind: "sent", shape: shape, lines: fold(wireLines(bytes), shape), style: "sent", tls: tls)
        case .received(let bytes, let tls):
            let shape = SequenceLayout.Shape.arrow(from: lane, to: 0)
            return Item(event: mark, kind: "received", shape: shape, lines: fold(wireLines(bytes), shape), style: "received", tls: tls)
        case .discarded(let bytes):
            let shape = SequenceLayout.Shape.arrow(from: lane, to: 0)
            let lines = ["DISCARDED unread: \(bytes.count) plaintext bytes after the STARTTLS go-ahead"] + wireLines(bytes)
            return Item(event: mark, kind: "discarded", shape: shape, lines: fold(lines, shape), style: "discarded")
        case .handshakeStarted(let name):
            let text = "TLS handshake begins" + (name.map { ", server name (SNI) \($0)" } ?? ", no server name (SNI)")
            return Item(
                event: mark, kind: "handshake-started", shape: .block(lane: lane), lines: fold([text], .block(lane: lane)), style: "tls")
        case .tlsEstablished(let facts):
            let shape = SequenceLayout.Shape.block(lane: lane)
            // Playing the server, an unverified peer is a problem only when a certificate was asked for.
            let problem = facts.serverSide ? facts.clientCertificateRequested && !facts.verified : !facts.verified
            return Item(
                event: mark, kind: "tls-established", shape: shape, lines: fold(tlsLines(facts), shape),
                style: problem ? "tls problem" : "tls")
        case .closed(let byPeer):
            let text = byPeer ? "connection closed by the server" : "connection closed by the client"
            return Item(event: mark, kind: "closed", shape: .across, lines: [text], style: "connection")
        }
    }

    /// The lines of a write: each line of bytes escaped as ``ByteText`` shows it (CR and LF
    /// included, so a bare LF shows), at most ``maxLines``, the rest counted.
    static func wireLines(_ bytes: [UInt8]) -> [String] {
        let lines = ByteText.lines(bytes)
        if lines.isEmpty { return ["(no bytes)"] }
        var shown = lines.prefix(maxLines - 2).map { ByteText.escaped($0) }
        if lines.count > maxLines {
            let rest = lines.dropFirst(maxLines - 2).reduce(0) { $0 + $1.count }
            shown.append("… \(lines.count - shown.count) more lines, \(rest) bytes, not shown (\(bytes.count) bytes in this write)")
        } else {
            shown += lines.dropFirst(maxLines - 2).map { ByteText.escaped($0) }
        }
        return shown
    }

    /// The handshake's outcome: version, cipher, group, ALPN, the verification, and the chain.
    static func tlsLines(_ facts: TLSFacts) -> [String] {
        var lines = [
            "TLS established: \(facts.version) · \(facts.cipher) · group \(facts.group ?? "—") · ALPN \(facts.alpn ?? "—")"
                + (facts.resumed ? " · resumed" : "")
        ]
        if facts.serverSide {
            lines.append(facts.serverName.map { "client sent SNI \($0)" } ?? "client sent no SNI")
            if let offered = facts.clientOffered {
                lines.append(
                    "client offered \(offered.versions.joined(separator: ", ")) · \(offered.cipherSuiteCount) suites · ALPN "
                        + (offered.alpn.isEmpty ? "—" : offered.alpn.joined(separator: ", ")))
            }
            if facts.clientCertificateRequested {
                lines.append(
                    !facts.clientCertificateSent
                        ? "client certificate requested, none sent"
                        : facts.verified ? "✔ client certificate verified" : "✘ client certificate NOT verified")
            }
        } else if facts.verified {
            lines.append("✔ peer verified (chain and host name)")
        } else {
            let why = facts.verificationProblems.isEmpty ? "not checked" : facts.verificationProblems.joined(separator: ", ")
            lines.append("✘ peer NOT verified: \(why)")
        }
        for (index, certificate) in facts.peerCertificates.enumerated() {
            lines.append("certificate \(index + 1) of \(facts.peerCertificates.count): \(certificate.subject)")
            lines.append("    issuer \(certificate.issuer)")
            if !certificate.subjectAlternativeNames.isEmpty {
                lines.append("    names \(certificate.subjectAlternativeNames.joined(separator: ", "))")
            }
            lines.append("    valid \(day(certificate.notBefore)) to \(day(certificate.notAfter))")
        }
        lines.append(
            "client certificate " + (facts.clientCertificateRequested ? "requested" : "not requested") + " and "
                + (facts.clientCertificateSent ? "sent" : "not sent"))
        return lines
    }

    static func day(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day())
    }

    /// Lines cut to `columns` characters, the continuations marked with `↪`.
    static func fold(_ lines: [String], columns: Int) -> [String] {
        lines.flatMap { line -> [String] in
            var out: [String] = []
            var rest = Substring(line)
            var width = columns
            while rest.count > width {
                out.append((out.isEmpty ? "" : "↪ ") + rest.prefix(width))
                rest = rest.dropFirst(width)
                width = columns - 2
            }
            out.append((out.isEmpty ? "" : "↪ ") + rest)
            return out
        }
    }

    /// `127.0.0.1:40123` → `127.0.0.1`, `[::1]:40123` → `[::1]`.
    /// A note with the port dropped from every `IPv4:port` in it (teaching pages show no ports:
    /// they change at every run).
    static func withoutPorts(in text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let range = rest.range(of: #"[0-9]{1,3}(\.[0-9]{1,3}){3}:[0-9]{1,5}"#, options: .regularExpression) {
            out += rest[..<range.lowerBound]
            out += withoutPort(String(rest[range]))
            rest = rest[range.upperBound...]
        }
        return out + rest
    }

    static func withoutPort(_ address: String) -> String {
        guard let colon = address.lastIndex(of: ":"), address[address.index(after: colon)...].allSatisfy(\.isNumber),
            address.index(after: colon) < address.endIndex
        else { return address }
        let host = address[..<colon]
        // A bare IPv6 address has colons of its own; only `[...]:port` and `host:port` lose one.
        if host.contains(":") && !host.hasSuffix("]") { return address }
        return String(host)
    }

    /// Neighbouring writes in the same direction on the same connection joined into one, so the
    /// teaching pages do not depend on how the network cut the bytes.
    /// When (and whether) the runner sees a connection close that no step asked for is a race
    /// with the steps after the last reply, so in teaching mode a close shows only in a step that
    /// waits for it (`expect: {peer-closes: true}`) or makes it (`close`).
    static func joined(_ events: [RunEvent]) -> [RunEvent] {
        var out: [RunEvent] = []
        var asksForClose = false
        let events = events.filter { event in
            switch event {
            case .stepStarted(_, let step):
                switch step.kind {
                case .close: asksForClose = true
                case .expect(let expect):
                    if case .peerCloses = expect.condition { asksForClose = true } else { asksForClose = false }
                default: asksForClose = false
                }
                return true
            case .connection(_, .closed): return asksForClose
            default: return true
            }
        }
        for event in events {
            if case .connection(let name, let connection) = event, case .connection(let lastName, let last)? = out.last, name == lastName {
                switch (last, connection) {
                case (.sent(let a, let t1), .sent(let b, let t2)) where t1 == t2:
                    out[out.count - 1] = .connection(name: name, event: .sent(a + b, tls: t1))
                    continue
                case (.received(let a, let t1), .received(let b, let t2)) where t1 == t2:
                    out[out.count - 1] = .connection(name: name, event: .received(a + b, tls: t1))
                    continue
                default: break
                }
            }
            out.append(event)
        }
        return out
    }
}
