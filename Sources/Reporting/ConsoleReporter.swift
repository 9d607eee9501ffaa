// SPDX-License-Identifier: Apache-2.0
import Foundation
public import Runner
import Scenario

/// Prints a transcript a person can follow: what was sent and received, where TLS began, and why
/// a step failed.
///
/// The marks follow swaks: `===` information, `***` problems, ` -> ` sent and `<-  ` received in
/// plain text, ` ~> ` and `<~  ` the same inside TLS, `<** ` plaintext thrown away after a STARTTLS
/// go-ahead.
public final class ConsoleReporter: @unchecked Sendable {
    /// Where text goes; one call per finished line group.
    public typealias Sink = @Sendable (String) -> Void

    private let sink: Sink
    private let colour: Bool
    private let lock = NSLock()
    // Partial lines waiting for their end, per direction ("->" or "<-"), with their TLS flag.
    private var pending: (direction: Direction, tls: Bool, bytes: [UInt8])?
    // The connection the last wire line belonged to; a change is announced.
    private var lastConnection: String?
    // Connections a scripted server took: their peer is a client.
    private var acceptedNames: Set<String> = []
    // Whether a step failure was printed for this scenario (a failure without one is printed
    // with the verdict: a client's exit judged after the dialog, a client that never connected).
    private var stepFailurePrinted = false
    // Wire bytes shown in the current step, and those held back once the budget is spent.
    private var shownThisStep = 0
    private var hiddenThisStep = 0

    /// How many wire bytes one step may show; the rest is counted, not printed, so a response of
    /// a gigabyte costs a line, not a gigabyte of transcript.
    public static let stepBudget = 64 * 1024

    private enum Direction { case sent, received }

    /// Creates a reporter.
    ///
    /// - Parameters:
    ///   - colour: use ANSI colours (pass false for NO_COLOR or a non-terminal).
    ///   - sink: receives the text, newline-terminated.
    public init(colour: Bool = false, sink: @escaping Sink) {
        self.colour = colour
        self.sink = sink
    }

    /// Handles one event; safe to call from any thread.
    public func handle(_ event: RunEvent) {
        lock.lock()
        defer { lock.unlock() }
        var out = ""
        switch event {
        case .scenarioStarted(let name, let file):
            lastConnection = nil
            acceptedNames = []
            stepFailurePrinted = false
            out += paint("=== scenario: \(name) (\(file))", .bold) + "\n"
        case .serverStarted(let proto, let host, let port):
            out += info("embedded \(proto) server listening on \(host):\(port)")
        case .stepStarted:
            out += flush() + elisionNote()
        case .note(let text):
            out += flush() + info(text)
        case .connection(let name, let event):
            if let last = lastConnection, last != name {
                out += flush() + info("on connection '\(name)':")
            }
            lastConnection = name
            if case .connected(let local, let remote) = event, name != "main" {
                out += flush() + info("connection '\(name)' connected to \(remote) (from \(local))")
            } else if case .accepted(let local, let remote) = event {
                acceptedNames.insert(name)
                out += flush() + info("connection '\(name)': a client connected from \(remote) (to \(local))")
            } else if case .closed(let byPeer) = event, byPeer, acceptedNames.contains(name) {
                out += flush() + info("connection closed by the client")
            } else {
                out += connection(event)
            }
        case .stepPassed:
            out += flush() + elisionNote()
        case .stepFailed(_, let step, let failure):
            stepFailurePrinted = true
            out += flush() + elisionNote() + failed(step, failure)
        case .scenarioFinished(let result):
            out += flush() + finished(result)
        }
        if !out.isEmpty { sink(out) }
    }

    // MARK: - Pieces

    private func connection(_ event: ConnectionEvent) -> String {
        switch event {
        case .connected(let local, let remote):
            return flush() + info("connected to \(remote) (from \(local))")
        case .accepted(let local, let remote):
            return flush() + info("a client connected from \(remote) (to \(local))")
        case .sent(let bytes, let tls):
            return wire(bytes, .sent, tls: tls)
        case .received(let bytes, let tls):
            return wire(bytes, .received, tls: tls)
        case .handshakeStarted(let name):
            return flush() + info("starting the TLS handshake" + (name.map { " with server name \($0)" } ?? ""))
        case .tlsEstablished(let session):
            return flush() + tlsSummary(session)
        case .discarded(let bytes):
            var out = flush()
            out += problem("\(bytes.count) plaintext bytes arrived after the STARTTLS go-ahead; discarded unread:")
            for line in ByteText.lines(bytes) {
                out += paint("<** " + ByteText.line(line), .red) + "\n"
            }
            return out
        case .closed(let byPeer):
            return flush() + info(byPeer ? "connection closed by the server" : "connection closed")
        }
    }

    /// Says how much wire data the step did not show, once, and resets the budget.
    private func elisionNote() -> String {
        defer {
            shownThisStep = 0
            hiddenThisStep = 0
        }
        guard hiddenThisStep > 0 else { return "" }
        return info("\(hiddenThisStep) more bytes of wire data in this step, not shown (the first \(Self.stepBudget) were)")
    }

    /// Appends bytes to the pending line group, printing every complete line.
    private func wire(_ bytes: [UInt8], _ direction: Direction, tls: Bool) -> String {
        if shownThisStep >= Self.stepBudget {
            hiddenThisStep += bytes.count
            return ""
        }
        shownThisStep += bytes.count
        var out = ""
        var buffer: [UInt8]
        if let pending, pending.direction == direction, pending.tls == tls {
            buffer = pending.bytes + bytes
        } else {
            out += flush()
            buffer = bytes
        }
        self.pending = nil
        let lines = ByteText.lines(buffer)
        for line in lines {
            if line.last == 10 {
                out += mark(direction, tls: tls, ByteText.line(line))
            } else {
                pending = (direction, tls, Array(line))
            }
        }
        return out
    }

    /// Prints a partial line still waiting for its end.
    private func flush() -> String {
        guard let pending else { return "" }
        self.pending = nil
        return mark(pending.direction, tls: pending.tls, ByteText.line(pending.bytes[...]) + " (no line end)")
    }

    private func mark(_ direction: Direction, tls: Bool, _ text: String) -> String {
        switch (direction, tls) {
        case (.sent, false): return paint(" -> ", .green) + text + "\n"
        case (.sent, true): return paint(" ~> ", .green) + text + "\n"
        case (.received, false): return paint("<-  ", .cyan) + text + "\n"
        case (.received, true): return paint("<~  ", .cyan) + text + "\n"
        }
    }

    private func tlsSummary(_ s: TLSFacts) -> String {
        s.summaryLines.map(marked).joined()
    }

    private func failed(_ step: Step, _ failure: Failure) -> String {
        var out = problem("\(failure.location): step '\(step.keyword)' failed: \(failure.message)")
        if let expected = failure.expected {
            out += problem("  expected: \(expected)")
        }
        if let actual = failure.actual {
            out += problem("  actual:   \(actual)")
        }
        if let wait = failure.wait, let deadline = failure.deadlineText {
            out += problem("  deadline: \(wait.rawValue) (\(deadline))")
        }
        if let tail = failure.tail {
            if tail.isEmpty {
                out += problem("  received and not matched: nothing")
            } else {
                out += problem("  received and not matched (last \(tail.count) bytes):")
                for line in ByteText.lines(tail) {
                    out += problem("    " + ByteText.escaped(line))
                }
            }
        }
        if let variables = failure.variablesText {
            out += problem("  variables: " + variables)
        }
        for (index, command) in failure.reproduce.enumerated() {
            out += problem((index == 0 ? "  try by hand: " : "           or: ") + command)
        }
        return out
    }

    private func finished(_ result: ScenarioResult) -> String {
        let time = String(
            format: "%.3fs", Double(result.duration.components.seconds) + Double(result.duration.components.attoseconds) / 1e18)
        let insecure = result.insecure ? " [INSECURE: verification off]" : ""
        var out = ""
        if [.failed, .error].contains(result.outcome), !stepFailurePrinted, let failure = result.failure {
            out += problem("\(failure.location): \(failure.message)")
            if result.outcome == .failed, result.stepsPassed >= result.stepCount {
                return out + paint("FAIL", .red) + " \(result.name) (after all \(result.stepCount) steps, \(time))\(insecure)\n\n"
            }
        }
        switch result.outcome {
        case .passed:
            return out + paint("PASS", .green) + " \(result.name) (\(result.stepCount) steps, \(time))\(insecure)\n\n"
        case .failed:
            return out + paint("FAIL", .red)
                + " \(result.name) (step \(result.stepsPassed + 1) of \(result.stepCount), \(time))\(insecure)\n\n"
        case .error:
            return out + paint("ERROR", .red) + " \(result.name) (\(time))\(insecure)\n\n"
        case .skipped:
            return paint("SKIP", .dim) + " \(result.name): \(result.skipReason ?? "skipped")\n\n"
        }
    }

    private func info(_ text: String) -> String { marked(ReportLine(.info, text)) }
    private func problem(_ text: String) -> String { marked(ReportLine(.problem, text)) }
    private func marked(_ line: ReportLine) -> String {
        paint(line.mark + " ", line.kind == .info ? .dim : .red) + line.text + "\n"
    }

    private enum Style: String {
        case bold = "1"
        case dim = "2"
        case red = "31"
        case green = "32"
        case cyan = "36"
    }

    private func paint(_ text: String, _ style: Style) -> String {
        colour ? "\u{1B}[\(style.rawValue)m\(text)\u{1B}[0m" : text
    }
}
