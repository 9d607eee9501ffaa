// SPDX-License-Identifier: Apache-2.0
internal import NetworkStream
internal import Patterns
public import Scenario

extension Execution {
    /// One line of the client's, CR LF (or a bare LF) included (bounded by the receive buffer).
    static func respondLine(at location: SourceLocation) -> PatternSpec { PatternSpec(#"[^\n]*\n"#, at: location) }

    /// `respond`: reads the client's lines one at a time and answers each with the first rule
    /// whose pattern matches, until a rule with `end` has answered, the client closes the
    /// connection, or a `fail` rule matches. A line no rule matches fails the step, naming it.
    func perform(_ respond: Step.Respond, on step: Step) async throws(Failure) {
        let connection = try require(step)
        let line = try compile(Self.respondLine(at: step.location))
        let timeout = respond.timeout ?? scenario.timeouts.expect
        var patterns: [BytePattern] = []
        for rule in respond.rules {
            patterns.append(try compile(rule.when))
        }
        var answered = 0
        while true {
            let received: [UInt8]
            do {
                received = try await connection.process.expect(line, timeout: timeout).matched
            } catch {
                if error.kind == .closedByPeer {
                    if let message = respond.onClose {
                        throw Failure(.expectation, at: step.location, try expand(message))
                    }
                    emit(.note("the client closed the connection after \(answered) answered lines"))
                    set("respond.closed", "true")
                    return
                }
                throw failure(error, at: step.location, expected: "a line from the client")
            }
            guard let index = patterns.indices.first(where: { patterns[$0].firstMatch(in: received) != nil }),
                let found = patterns[index].firstMatch(in: received)
            else {
                throw Failure(
                    .expectation, at: step.location,
                    "the client sent '\(Self.visible(received))', which no rule of 'respond' answers")
            }
            let rule = respond.rules[index]
            // Named groups become variables, as in `expect`.
            for (offset, name) in patterns[index].captureNames.enumerated() {
                // captureNames[i] names group i + 1; groups[0] is the whole match.
                let group = offset + 1
                guard let name, group < found.groups.count, let range = found.groups[group] else { continue }
                set(name, String(decoding: received[range], as: UTF8.self))
            }
            var text = received
            while let last = text.last, last == 10 || last == 13 { text.removeLast() }
            set("respond.line", String(decoding: text, as: UTF8.self))
            if let message = rule.fail {
                var failure = Failure(.expectation, at: rule.location, try expand(message))
                failure.actual = Self.visible(received)
                throw failure
            }
            if let period = rule.silence {
                do {
                    try await connection.process.expectSilence(for: period)
                } catch {
                    guard error.kind == .unexpectedData else { throw failure(error, at: rule.location, expected: nil) }
                    var failure = Failure(
                        .expectation, at: rule.location,
                        "the client did not wait for the answer to '\(Self.visible(received))': more arrived within \(period.secondsText) (it took something else for the answer, such as bytes injected before the handshake)"
                    )
                    failure.tail = error.tail
                    throw failure
                }
            }
            try await sendLines(rule.send, to: connection, at: rule.location)
            for exchange in rule.then {
                let pattern = try compile(exchange.expect)
                do {
                    _ = try await connection.process.expect(pattern, timeout: timeout)
                } catch {
                    throw failure(error, at: exchange.expect.location, expected: exchange.expect.source)
                }
                try await sendLines(exchange.send, to: connection, at: rule.location)
            }
            answered += 1
            if rule.end { return }
            if answered >= respond.limit {
                throw Failure(
                    .expectation, at: step.location,
                    "the client sent \(answered) lines and no rule ended the dialog (limit \(respond.limit))")
            }
        }
    }

    /// A client's line as text for a message: printable ASCII as is, CR and LF as `\r` `\n`,
    /// other bytes as `\xHH`; at most 200 bytes shown.
    static func visible(_ bytes: [UInt8]) -> String {
        var text = ""
        for byte in bytes.prefix(200) {
            switch byte {
            case 13: text += "\\r"
            case 10: text += "\\n"
            case 32...126: text.unicodeScalars.append(Unicode.Scalar(byte))
            default: text += "\\x" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return bytes.count > 200 ? text + "..." : text
    }

    /// Sends lines (CR LF added to each) in one write.
    private func sendLines(_ lines: [Template], to connection: Connection, at location: SourceLocation) async throws(Failure) {
        guard !lines.isEmpty else { return }
        var bytes: [UInt8] = []
        for line in lines {
            bytes += Array(try expand(line).utf8) + [13, 10]
        }
        try await send(bytes, to: connection, at: location)
    }
}
