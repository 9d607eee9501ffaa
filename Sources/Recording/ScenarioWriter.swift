// SPDX-License-Identifier: Apache-2.0
import Foundation
public import Runner
import Scenario

/// Writes the two files a recording gives: the client scenario (replays the client's side
/// against the real server, the server's variable parts generalised, capabilities and TLS facts
/// asserted and snapshotted) and the server script (replays the server's side for the recorded
/// client: `parley serve --script`, `parley test-client --suite`). Pure: text out.
public enum ScenarioWriter {
    /// What the files are called, relative to the folder they are written in.
    public struct Names: Sendable {
        /// The recording's name (`NAME.client.yaml`, `NAME.server.yaml`, ...).
        public var stem: String
        /// The CA file the client scenario verifies the server against by default (nil: the system store).
        public var caFile: String?

        public init(stem: String, caFile: String? = nil) {
            self.stem = stem
            self.caFile = caFile
        }

        /// The certificate and key the server script presents (the proxy's, for the same name).
        public var certificate: String { "\(stem).cert.pem" }
        public var key: String { "\(stem).key.pem" }

        public var clientScenario: String { "\(stem).client.yaml" }
        public var serverScript: String { "\(stem).server.yaml" }
        public var recording: String { "\(stem).recording.json" }
        /// The snapshot the client scenario's `snapshot` step compares against.
        public var snapshot: String { "snapshots/\(stem).client.recorded.txt" }
    }

    /// The recording as a sequence of turns.
    enum Turn {
        case server([UInt8], tls: Bool)
        case client([[Recording.Piece]], tls: Bool)
        case starttls(discardedFromServer: [UInt8])
        case handshake
        case closed(Recording.Side)
    }

    static func turns(_ recording: Recording) -> [Turn] {
        var turns: [Turn] = []
        for event in recording.events {
            switch event.kind {
            case .data:
                let pieces = event.pieces ?? []
                if event.from == .server {
                    let bytes = pieces.flatMap { piece -> [UInt8] in
                        if case .bytes(let bytes) = piece { return bytes }
                        return Array("****".utf8)
                    }
                    if case .server(let before, let tls)? = turns.last, tls == event.tls {
                        turns[turns.count - 1] = .server(before + bytes, tls: tls)
                    } else {
                        turns.append(.server(bytes, tls: event.tls))
                    }
                } else if case .client(let before, let tls)? = turns.last, tls == event.tls {
                    turns[turns.count - 1] = .client(before + [pieces], tls: tls)
                } else {
                    turns.append(.client([pieces], tls: event.tls))
                }
            case .starttls: turns.append(.starttls(discardedFromServer: []))
            case .discarded:
                if event.from == .server, case .starttls(let before)? = turns.last {
                    turns[turns.count - 1] = .starttls(discardedFromServer: before + event.literalBytes)
                }
            case .handshake: turns.append(.handshake)
            case .closed: if let side = event.from { turns.append(.closed(side)) }
            }
        }
        return turns
    }

    // MARK: - The client scenario

    /// The client scenario's text.
    public static func clientScenario(_ recording: Recording, names: Names) -> String {
        let dialog = DialogProtocol(preset: recording.preset) ?? .smtp
        let upstream = recording.upstream
        var steps: [String] = []
        var snapshotAt: Int?
        var sawTLS = upstream.implicitTLS
        let turns = turns(recording)
        let tlsOptions = tlsOptionText(recording, names: names)
        var connect =
            "- connect: {host: \(quoted("${HOST:-\(upstream.host)}")), port: \(quoted("${PORT:-\(upstream.port)}"))"
        if upstream.implicitTLS { connect += ", tls: {\(tlsOptions)}" }
        steps.append(connect + "}")
        if upstream.implicitTLS, let tls = recording.upstreamTLS { steps.append(tlsAssert(tls, discarded: 0)) }
        var index = 0
        var first = true
        while index < turns.count {
            switch turns[index] {
            case .server(let bytes, _):
                let (pattern, lastOnly) = Generalizer.serverPattern(bytes)
                if lastOnly { steps.append("# \(bytes.count) bytes: only the last line is checked") }
                steps.append((first ? "- greeting: " : "- expect: ") + YAMLText.singleQuoted(pattern))
            case .client(let lines, _):
                if let (line, reply) = capabilityExchange(turns, at: index, dialog: dialog) {
                    var step = "- capability: {command: \(quoted(YAMLText.templateEscaped(line)))"
                    if dialog == .imap {
                        step += ", end: " + YAMLText.singleQuoted(DialogProtocol.imapTaggedResponse(tag: DialogProtocol.imapTag(of: line)))
                    }
                    steps.append(step + "}")
                    let words = CapabilityWords.parse(reply).sorted()
                    let which = sawTLS ? "capabilities-after-tls" : "capabilities-before-tls"
                    if !words.isEmpty {
                        steps.append("- assert: {\(which): {has: [\(words.map(quoted).joined(separator: ", "))]}}")
                    }
                    snapshotAt = steps.count
                    index += 2
                    first = false
                    continue
                }
                let line = lines.count == 1 ? literal(lines[0]) : nil
                let replied = index + 1 < turns.count && { if case .server = turns[index + 1] { true } else { false } }()
                if let line, replied, index + 2 < turns.count, case .starttls(let discarded) = turns[index + 2] {
                    var step = "- starttls: {command: \(quoted(YAMLText.templateEscaped(line)))"
                    if dialog == .imap {
                        let tag = DialogProtocol.imapTag(of: line)
                        step += ", reply: " + YAMLText.singleQuoted(DialogProtocol.imapTaggedResponse(tag: tag))
                        step += ", success: " + YAMLText.singleQuoted(DialogProtocol.imapTaggedOK(tag: tag))
                    }
                    steps.append(step + ", \(tlsOptions)}")
                    sawTLS = true
                    index += 3
                    if index < turns.count, case .handshake = turns[index] { index += 1 }
                    if let tls = recording.upstreamTLS { steps.append(tlsAssert(tls, discarded: discarded.count)) }
                    snapshotAt = steps.count
                    first = false
                    continue
                }
                steps.append(sendStep(lines))
            case .starttls, .handshake:
                // Not a step of its own (the TLS handshake of implicit TLS comes before the greeting).
                index += 1
                continue
            case .closed(let side):
                if side == .server { steps.append("- expect: {peer-closes: true}") }
            }
            first = false
            index += 1
        }
        let facts = snapshotFacts(recording)
        if !facts.isEmpty {
            steps.insert(
                "- snapshot: {name: recorded, facts: [\(facts.map(\.name).joined(separator: ", "))]}", at: snapshotAt ?? steps.count)
        }
        var text = header(recording, kind: "client scenario", names: names)
        text += "#   parley run \(names.clientScenario)"
        for variable in recording.variables { text += " --var \(variable.name)=..." }
        text += "\n#   (HOST, PORT, SERVER_NAME and CA_FILE default to what was recorded; --var changes them.)\n"
        text += "# The snapshot step compares the capabilities and TLS facts with \(names.snapshot).\n"
        text += "name: \(quoted("Recorded \(recording.preset) dialog with \(upstream.host):\(upstream.port)"))\n"
        text += "preset: \(recording.preset)\n"
        let required = recording.variables.map(\.name)
        if !required.isEmpty { text += "requires: [\(required.joined(separator: ", "))]\n" }
        let secrets = recording.variables.filter(\.secret).map(\.name)
        if !secrets.isEmpty { text += "secrets: [\(secrets.joined(separator: ", "))]\n" }
        text += "timeouts: {connect: 10s, expect: 10s, handshake: 10s}\n"
        text += "steps:\n"
        for step in steps { text += "  " + step + "\n" }
        return text
    }

    /// The snapshot file's text: the facts the recording saw, as the `snapshot` step writes them.
    public static func snapshot(_ recording: Recording, names: Names) -> String {
        SnapshotText.render(snapshotFacts(recording), scenario: names.clientScenario, name: "recorded")
    }

    static func snapshotFacts(_ recording: Recording) -> [(name: String, value: String)] {
        let dialog = DialogProtocol(preset: recording.preset) ?? .smtp
        var before: [UInt8]?
        var after: [UInt8]?
        let turns = turns(recording)
        var tls = recording.upstream.implicitTLS
        for index in turns.indices {
            if case .starttls = turns[index] {
                tls = true
            } else if let (_, reply) = capabilityExchange(turns, at: index, dialog: dialog) {
                if tls { after = reply } else { before = reply }
            }
        }
        func words(_ reply: [UInt8]?) -> String {
            reply.map { CapabilityWords.parse($0).sorted().joined(separator: " ") } ?? "-"
        }
        var facts: [(name: String, value: String)] = []
        if before != nil { facts.append(("capabilities-before-tls", words(before))) }
        if after != nil { facts.append(("capabilities-after-tls", words(after))) }
        if let upstream = recording.upstreamTLS {
            facts.append(("tls-version", upstream.version))
            facts.append(("cipher", upstream.cipher))
            facts.append(("verified", upstream.verified ? "yes" : "no: " + upstream.problems.joined(separator: ", ")))
            facts.append(("peer-subject", upstream.peerSubject ?? "-"))
            facts.append(("peer-issuer", upstream.peerIssuer ?? "-"))
            facts.append(("peer-san", upstream.peerSAN.joined(separator: ", ")))
        }
        return facts
    }

    private static func tlsOptionText(_ recording: Recording, names: Names) -> String {
        var options = "ca-file: \(quoted("${CA_FILE:-\(YAMLText.templateEscaped(names.caFile ?? ""))}"))"
        options += ", server-name: \(quoted("${SERVER_NAME:-\(YAMLText.templateEscaped(recording.upstream.serverName))}"))"
        if let tls = recording.upstreamTLS, !tls.verified { options += ", insecure: true" }
        return options
    }

    private static func tlsAssert(_ tls: Recording.TLSRecord, discarded: Int) -> String {
        "- assert: {tls: true, verified: \(tls.verified), tls-version: \(tls.version), discarded-bytes: \(discarded)}"
    }

    // MARK: - The server script

    /// The server script's text.
    public static func serverScript(_ recording: Recording, names: Names) -> String {
        let dialog = DialogProtocol(preset: recording.preset) ?? .smtp
        let turns = turns(recording)
        var steps: [String] = []
        var tags: [(bytes: [UInt8], name: String)] = []
        var tagCount = 0
        let message = messageLines(turns, dialog: dialog)
        let certificate = "certificate: \(quoted(names.certificate)), key: \(quoted(names.key))"
        if recording.upstream.implicitTLS { steps.append("- starttls: {\(certificate)}") }
        var index = 0
        while index < turns.count {
            switch turns[index] {
            case .server(let bytes, _):
                if index + 1 < turns.count, case .starttls(let discarded) = turns[index + 1] {
                    var lines = LineBytes.lines(bytes)
                    let goAhead = lines.removeLast()
                    if !lines.isEmpty { steps.append(serverSend(lines.flatMap { $0 }, tags: tags)) }
                    var step =
                        "- starttls: {go-ahead: \(quoted(substituteTag(LineBytes.splitEnding(goAhead).0, tags: tags)))"
                    if !discarded.isEmpty { step += ", inject: \(quoted(YAMLText.templateEscaped(discarded)))" }
                    steps.append(step + ", \(certificate)}")
                    index += 2
                    if index < turns.count, case .handshake = turns[index] { index += 1 }
                    continue
                }
                steps.append(serverSend(bytes, tags: tags))
            case .client(let lines, _):
                let inMessage = message[index] ?? Array(repeating: false, count: lines.count)
                var next = 0
                while next < lines.count {
                    let line = lines[next]
                    if inMessage[next] {
                        // The message itself (its Date and Message-ID change every time): up to the lone dot.
                        while next < lines.count, inMessage[next] { next += 1 }
                        steps.append("- expect: \(YAMLText.singleQuoted(#"^\.\r?\n"#))  # the message, up to its final dot")
                        continue
                    }
                    next += 1
                    tagCount += 1
                    let (pattern, tag) = Generalizer.clientPattern(line, dialog: dialog, tagName: "tag\(tagCount)")
                    if let tag { tags.insert((tag, "tag\(tagCount)"), at: 0) }
                    steps.append("- expect: {pattern: \(YAMLText.singleQuoted(pattern)), case-insensitive: true}")
                }
            case .starttls, .handshake:
                break
            case .closed(let side):
                steps.append(side == .client ? "- expect: {peer-closes: true}" : "- close:")
            }
            index += 1
        }
        // A dialog the client never spoke in: the server's side is to close.
        if steps.isEmpty { steps.append("- close:") }
        var text = header(recording, kind: "server script", names: names)
        text += "#   parley serve --script \(names.serverScript)          (any client, one connection at a time)\n"
        text += "#   parley test-client --suite \(names.serverScript) -- CLIENT ARGS   (the client's command, {port} for the port)\n"
        text += "# The client's credentials are not checked (they were never written down); its lines are.\n"
        text +=
            "name: \(quoted("Recorded server side of a \(recording.preset) dialog with \(recording.upstream.host):\(recording.upstream.port)"))\n"
        text += "preset: \(recording.preset)\n"
        text += "client-exit: success\n"
        text += "timeouts: {connect: 10s, expect: 10s, handshake: 10s}\n"
        text += "steps:\n"
        for step in steps { text += "  " + step + "\n" }
        return text
    }

    private static func isDot(_ line: [UInt8]) -> Bool { line == Array(".\r\n".utf8) || line == Array(".\n".utf8) }

    /// For each client turn (by its index), which of its lines are an SMTP message's: from a
    /// server turn that starts with 354 up to the lone dot, that included.
    static func messageLines(_ turns: [Turn], dialog: DialogProtocol) -> [Int: [Bool]] {
        guard dialog == .smtp else { return [:] }
        var flags: [Int: [Bool]] = [:]
        var inMessage = false
        for (index, turn) in turns.enumerated() {
            switch turn {
            case .server(let bytes, _):
                if bytes.starts(with: Array("354".utf8)) { inMessage = true }
            case .client(let lines, _):
                flags[index] = lines.map { line in
                    guard inMessage else { return false }
                    if literal(line).map(isDot) ?? false { inMessage = false }
                    return true
                }
            default:
                continue
            }
        }
        return flags
    }

    /// Server bytes as a send step, IMAP tags of the client's commands as `${tagN}`.
    private static func serverSend(_ bytes: [UInt8], tags: [(bytes: [UInt8], name: String)]) -> String {
        var parts: [String] = []
        for line in LineBytes.lines(bytes) {
            let (body, ending) = LineBytes.splitEnding(line)
            if ending == [13, 10] {
                parts.append("{line: \(quoted(substituteTag(body, tags: tags)))}")
            } else if String(validating: line, as: UTF8.self) != nil {
                parts.append("{text: \(quoted(substituteTag(line, tags: tags)))}")
            } else {
                parts.append("{hex: \(quoted(Recording.Piece.hex(line)))}")
            }
        }
        if parts.count == 1, parts[0].hasPrefix("{line: ") { return "- send: " + parts[0] }
        return "- send: {parts: [\(parts.joined(separator: ", "))]}"
    }

    private static func substituteTag(_ bytes: [UInt8], tags: [(bytes: [UInt8], name: String)]) -> String {
        for tag in tags where bytes.starts(with: tag.bytes + [32]) {
            return "${\(tag.name)}" + YAMLText.templateEscaped(Array(bytes.dropFirst(tag.bytes.count)))
        }
        return YAMLText.templateEscaped(bytes)
    }

    // MARK: - Pieces

    /// A line's bytes when it has no credential in it.
    static func literal(_ pieces: [Recording.Piece]) -> [UInt8]? {
        var out: [UInt8] = []
        for piece in pieces {
            guard case .bytes(let bytes) = piece else { return nil }
            out += bytes
        }
        return out
    }

    /// The capability command at `index` (a client turn of one line without credentials, the
    /// preset's capability command) and the server's reply right after it, if that is what is
    /// there: a `capability` step in the client scenario, and the snapshot's capability facts.
    static func capabilityExchange(_ turns: [Turn], at index: Int, dialog: DialogProtocol) -> (line: [UInt8], reply: [UInt8])? {
        guard case .client(let lines, _) = turns[index], lines.count == 1, let line = literal(lines[0]),
            isCapabilityCommand(line, dialog: dialog), index + 1 < turns.count, case .server(let reply, _) = turns[index + 1]
        else { return nil }
        return (line, reply)
    }

    static func isCapabilityCommand(_ line: [UInt8], dialog: DialogProtocol) -> Bool {
        let upper = LineBytes.uppercased(line)
        switch dialog {
        case .smtp: return ["EHLO ", "LHLO "].contains { upper.starts(with: Array($0.utf8)) }
        case .pop3: return upper == Array("CAPA\r\n".utf8) || upper == Array("CAPA\n".utf8)
        case .imap:
            let words = upper.split(separator: 32)
            return words.count == 2 && [Array("CAPABILITY\r\n".utf8), Array("CAPABILITY\n".utf8)].contains(Array(words[1]))
        }
    }

    /// Client lines as one send step (one write, as the client sent them).
    static func sendStep(_ lines: [[Recording.Piece]]) -> String {
        var parts: [String] = []
        for line in lines {
            var template = ""
            var pending: [UInt8] = []
            func flushBytes(final: Bool) {
                guard !pending.isEmpty else { return }
                if String(validating: pending, as: UTF8.self) == nil
                    || pending.dropLast(final ? 2 : 0).contains(where: { $0 < 32 && $0 != 9 && $0 != 13 && $0 != 10 })
                {
                    if !template.isEmpty { parts.append(quoted(template)) }
                    template = ""
                    parts.append("{hex: \(quoted(Recording.Piece.hex(pending)))}")
                } else {
                    template += YAMLText.templateEscaped(pending)
                }
                pending = []
            }
            for piece in line {
                switch piece {
                case .bytes(let bytes): pending += bytes
                case .variable(let name):
                    flushBytes(final: false)
                    template += "${\(name)}"
                case .base64(let value):
                    flushBytes(final: false)
                    if !template.isEmpty { parts.append(quoted(template)) }
                    template = ""
                    parts.append("{base64: \(quoted(value))}")
                }
            }
            flushBytes(final: true)
            // Bytes, not Characters: "\r\n" is one Character in Swift.
            if template.utf8.count > 2, template.utf8.suffix(2).elementsEqual([13, 10]) {
                parts.append("{line: \(quoted(String(decoding: template.utf8.dropLast(2), as: UTF8.self)))}")
            } else if !template.isEmpty {
                parts.append(quoted(template))
            }
        }
        if parts.count == 1, parts[0].hasPrefix("{line: ") { return "- send: " + parts[0] }
        return "- send: {parts: [\(parts.joined(separator: ", "))]}"
    }

    private static func header(_ recording: Recording, kind: String, names: Names) -> String {
        var text = "# A \(kind) generated by `parley record` from a \(recording.preset) dialog with "
        text += "\(recording.upstream.host):\(recording.upstream.port)"
        text += recording.upstream.implicitTLS ? " (implicit TLS)" : ""
        text += ", recorded \(recording.recordedAt) (\(names.recording)).\n"
        text += "# Edit it freely: docs/recording.md says what was generalised and how to change it.\n"
        if recording.truncated { text += "# The recording was cut at its size limit: the end of the dialog is missing.\n" }
        return text
    }

    /// `bytes` as a PCRE2 literal: printable ASCII as it is (metacharacters behind a backslash),
    /// CR, LF and tab as `\r`, `\n`, `\t`, everything else as `\xHH`.
    public static func escape(_ bytes: [UInt8]) -> String {
        var out = ""
        for byte in bytes {
            switch byte {
            case 13: out += "\\r"
            case 10: out += "\\n"
            case 9: out += "\\t"
            // The characters PCRE2 gives a meaning outside a class.
            case 92, 94, 36, 46, 124, 63, 42, 43, 40, 41, 91, 93, 123, 125: out += "\\" + String(Unicode.Scalar(byte))
            case 32...126: out.unicodeScalars.append(Unicode.Scalar(byte))
            default: out += String(format: "\\x%02x", byte)
            }
        }
        return out
    }
}

extension ScenarioWriter {
    /// The pattern a client scenario expects for these server bytes.
    public static func generalizedServerPattern(_ bytes: [UInt8]) -> String {
        Generalizer.serverPattern(bytes).pattern
    }
}
