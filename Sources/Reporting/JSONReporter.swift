// SPDX-License-Identifier: Apache-2.0
public import Foundation
public import Runner
public import Scenario

/// Writes the whole run as one JSON document: a summary, and per scenario its result and every
/// event. Wire bytes appear twice: as `text` (readable, with `\xHH` for bytes that are not
/// printable UTF-8) and as `base64` (exact).
public enum JSONReporter {
    /// The JSON document for a run (``JSONReport``), indented, with sorted keys, ending in a
    /// newline.
    public static func render(_ run: RunRecord, parleyVersion: String, interruption: String? = nil) -> String {
        // Strings, integers, finite numbers and dates always encode.
        guard let text = try? JSONOutput.string(JSONReport(run, parleyVersion: parleyVersion, interruption: interruption), pretty: true)
        else { return "{}\n" }
        return text + "\n"
    }
}

/// The JSON report (`parley run --json FILE`) as values: what ``JSONReporter`` encodes, and what
/// a reader can decode it into (with ``JSONOutput/decoder()``).
///
/// Every field is always written; what is absent is null. Field names are snake_case; keys are
/// sorted. Wire bytes are ``Bytes`` (readable text, base64 and length); TLS facts are
/// ``TLSFactsJSON`` with `peer` as the chain.
public struct JSONReport: Codable, Sendable, Equatable {
    /// The signal that interrupted the run (`SIGINT`, `SIGTERM`), or nil when it ran to its end.
    @NullWhenAbsent public var interrupted: String?
    /// Parley's version.
    public var parley: String
    /// When the run started.
    public var started: Date
    /// How long the run took, in seconds.
    public var duration: Double
    /// How many scenarios ended each way.
    public var summary: Summary
    /// The scenarios, in file order.
    public var scenarios: [ScenarioReport]

    /// The report of `run`.
    public init(_ run: RunRecord, parleyVersion: String, interruption: String? = nil) {
        let counts = run.counts
        interrupted = interruption
        parley = parleyVersion
        started = run.started
        duration = run.duration.seconds
        summary = Summary(
            scenarios: run.scenarios.count, passed: counts.passed, failed: counts.failed, errors: counts.errors,
            skipped: counts.skipped
        )
        scenarios = run.scenarios.map(ScenarioReport.init)
    }

    enum CodingKeys: String, CodingKey {
        case interrupted, parley, started, duration, summary, scenarios
    }

    /// The counts of outcomes.
    public struct Summary: Codable, Sendable, Equatable {
        /// How many scenarios ran (or were skipped).
        public var scenarios: Int
        /// How many passed.
        public var passed: Int
        /// How many failed.
        public var failed: Int
        /// How many ended in an error.
        public var errors: Int
        /// How many were skipped.
        public var skipped: Int
    }

    /// One scenario: its result, its earlier attempts, and every event of its last attempt.
    public struct ScenarioReport: Codable, Sendable, Equatable {
        /// The scenario's name.
        public var name: String
        /// Its file.
        public var file: String
        /// `passed`, `failed`, `error` or `skipped`.
        public var outcome: String
        /// When it started.
        public var started: Date
        /// How long the last attempt took, in seconds.
        public var duration: Double
        /// How many steps the scenario has.
        public var steps: Int
        /// How many passed.
        public var stepsPassed: Int
        /// Whether TLS verification was switched off.
        public var insecure: Bool
        /// The scenario's tags.
        public var tags: [String]
        /// Why it was skipped, if it was.
        @NullWhenAbsent public var skipReason: String?
        /// What stopped it, if anything.
        @NullWhenAbsent public var failure: FailureReport?
        /// How many times it ran.
        public var attempts: Int
        /// The attempts before the last, in order.
        public var earlierAttempts: [Attempt]
        /// The events, in order (the scenario's start and end are the fields above).
        public var events: [Event]

        /// The report of `record`.
        public init(_ record: ScenarioRecord) {
            let result = record.result
            name = result.name
            file = record.file
            outcome = result.outcome.rawValue
            started = record.started
            duration = result.duration.seconds
            steps = result.stepCount
            stepsPassed = result.stepsPassed
            insecure = result.insecure
            tags = result.tags
            skipReason = result.skipReason
            failure = result.failure.map(FailureReport.init)
            attempts = record.attempts
            earlierAttempts = record.earlierAttempts.map(Attempt.init)
            events = record.events.compactMap(Event.init)
        }

        enum CodingKeys: String, CodingKey {
            case name, file, outcome, started, duration, steps
            case stepsPassed = "steps_passed"
            case insecure, tags
            case skipReason = "skip_reason"
            case failure, attempts
            case earlierAttempts = "earlier_attempts"
            case events
        }
    }

    /// An earlier attempt of a retried scenario.
    public struct Attempt: Codable, Sendable, Equatable {
        /// How it ended.
        public var outcome: String
        /// How long it took, in seconds.
        public var duration: Double
        /// What stopped it.
        @NullWhenAbsent public var failure: FailureReport?

        /// The attempt of `result`.
        public init(_ result: ScenarioResult) {
            outcome = result.outcome.rawValue
            duration = result.duration.seconds
            failure = result.failure.map(FailureReport.init)
        }

        enum CodingKeys: String, CodingKey {
            case outcome, duration, failure
        }
    }

    /// Why a step failed.
    public struct FailureReport: Codable, Sendable, Equatable {
        /// `expectation`, `assertion` or `runtime`.
        public var kind: String
        /// Where the failing thing is written.
        public var location: Location
        /// What went wrong.
        public var message: String
        /// What the step wanted.
        @NullWhenAbsent public var expected: String?
        /// What was found instead.
        @NullWhenAbsent public var actual: String?
        /// The wait whose deadline fired (`expect`, `peer-close`, ...).
        @NullWhenAbsent public var wait: String?
        /// That wait's deadline, in seconds.
        @NullWhenAbsent public var deadline: Double?
        /// The last bytes received and not matched.
        @NullWhenAbsent public var tail: Bytes?
        /// The variables the run had set, secrets masked.
        public var variables: [String: String]
        /// Commands that open the failing step's connection by hand.
        public var reproduce: [String]

        /// The report of `failure`.
        public init(_ failure: Failure) {
            kind = failure.kind.rawValue
            location = Location(failure.location)
            message = failure.message
            expected = failure.expected
            actual = failure.actual
            wait = failure.wait?.rawValue
            deadline = failure.deadline?.seconds
            tail = failure.tail.map(Bytes.init)
            variables = failure.variables
            reproduce = failure.reproduce
        }

        enum CodingKeys: String, CodingKey {
            case kind, location, message, expected, actual, wait, deadline, tail, variables, reproduce
        }
    }

    /// A place in a scenario file.
    public struct Location: Codable, Sendable, Equatable {
        /// The file.
        public var file: String
        /// The line, from 1.
        public var line: Int
        /// The column, from 1.
        public var column: Int

        /// The place `location` names.
        public init(_ location: SourceLocation) {
            file = location.file
            line = location.line
            column = location.column
        }
    }

    /// Wire bytes, twice: readable and exact.
    public struct Bytes: Codable, Sendable, Equatable {
        /// The bytes as ``ByteText/escaped(_:)`` shows them (`\r`, `\n`, `\xHH`, ...).
        public var text: String
        /// The bytes exactly, base64.
        public var base64: String
        /// How many bytes.
        public var length: Int

        /// The report of `bytes`.
        public init(_ bytes: [UInt8]) {
            text = ByteText.escaped(bytes)
            base64 = Data(bytes).base64EncodedString()
            length = bytes.count
        }

        /// The bytes, decoded from `base64`; nil when it is not base64.
        public var bytes: [UInt8]? { Data(base64Encoded: base64).map(Array.init) }
    }

    /// The step an event belongs to.
    public struct StepReport: Codable, Sendable, Equatable {
        /// The step's index, from 0.
        public var index: Int
        /// Its keyword (`expect`, `send`, ...).
        public var keyword: String
        /// Where it is written.
        public var location: Location

        /// The report of `step`.
        public init(_ step: Step, index: Int) {
            self.index = index
            keyword = step.keyword
            location = Location(step.location)
        }
    }

    /// One event, named by its `type`: `server-started`, `step-started`, `step-passed`,
    /// `step-failed`, `note`, or one of a connection's (``ConnectionReport``), which also name
    /// the `connection`.
    public enum Event: Codable, Sendable, Equatable {
        /// `server-started`: `protocol`, `host`, `port`.
        case serverStarted(protocol: String, host: String, port: Int)
        /// `step-started`: `step`.
        case stepStarted(StepReport)
        /// `step-passed`: `step`.
        case stepPassed(StepReport)
        /// `step-failed`: `step`, `failure`.
        case stepFailed(StepReport, FailureReport)
        /// `note`: `text`.
        case note(String)
        /// A connection's event, with the connection's name as `connection`.
        case connection(String, ConnectionReport)

        /// The report of `event`; nil for the scenario's start and end, which the scenario's own
        /// fields report.
        public init?(_ event: RunEvent) {
            switch event {
            case .scenarioStarted, .scenarioFinished: return nil
            case .serverStarted(let proto, let host, let port): self = .serverStarted(protocol: proto, host: host, port: port)
            case .stepStarted(let index, let step): self = .stepStarted(StepReport(step, index: index))
            case .stepPassed(let index, let step): self = .stepPassed(StepReport(step, index: index))
            case .stepFailed(let index, let step, let failure): self = .stepFailed(StepReport(step, index: index), FailureReport(failure))
            case .note(let text): self = .note(text)
            case .connection(let name, let event): self = .connection(name, ConnectionReport(event))
            }
        }

        enum CodingKeys: String, CodingKey {
            case type, connection
            case `protocol`, host, port
            case step, failure, text
            case local, remote, tls, data
            case serverName = "server_name"
            case byPeer = "by_peer"
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            switch self {
            case .serverStarted(let proto, let host, let port):
                try container.encode("server-started", forKey: .type)
                try container.encode(proto, forKey: .protocol)
                try container.encode(host, forKey: .host)
                try container.encode(port, forKey: .port)
            case .stepStarted(let step):
                try container.encode("step-started", forKey: .type)
                try container.encode(step, forKey: .step)
            case .stepPassed(let step):
                try container.encode("step-passed", forKey: .type)
                try container.encode(step, forKey: .step)
            case .stepFailed(let step, let failure):
                try container.encode("step-failed", forKey: .type)
                try container.encode(step, forKey: .step)
                try container.encode(failure, forKey: .failure)
            case .note(let text):
                try container.encode("note", forKey: .type)
                try container.encode(text, forKey: .text)
            case .connection(let name, let event):
                try container.encode(name, forKey: .connection)
                try container.encode(event.type, forKey: .type)
                switch event {
                case .connected(let local, let remote), .accepted(let local, let remote):
                    try container.encode(local, forKey: .local)
                    try container.encode(remote, forKey: .remote)
                case .sent(let data, let tls), .received(let data, let tls):
                    try container.encode(tls, forKey: .tls)
                    try container.encode(data, forKey: .data)
                case .handshakeStarted(let serverName):
                    try container.encode(serverName, forKey: .serverName)
                case .tlsEstablished(let facts):
                    try container.encode(facts, forKey: .tls)
                case .discarded(let data):
                    try container.encode(data, forKey: .data)
                case .closed(let byPeer):
                    try container.encode(byPeer, forKey: .byPeer)
                }
            }
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let type = try container.decode(String.self, forKey: .type)
            if let name = try container.decodeIfPresent(String.self, forKey: .connection) {
                let event: ConnectionReport
                switch type {
                case "connected":
                    event = .connected(
                        local: try container.decode(String.self, forKey: .local),
                        remote: try container.decode(String.self, forKey: .remote)
                    )
                case "accepted":
                    event = .accepted(
                        local: try container.decode(String.self, forKey: .local),
                        remote: try container.decode(String.self, forKey: .remote)
                    )
                case "sent":
                    event = .sent(try container.decode(Bytes.self, forKey: .data), tls: try container.decode(Bool.self, forKey: .tls))
                case "received":
                    event = .received(try container.decode(Bytes.self, forKey: .data), tls: try container.decode(Bool.self, forKey: .tls))
                case "handshake-started":
                    event = .handshakeStarted(serverName: try container.decodeIfPresent(String.self, forKey: .serverName))
                case "tls-established":
                    event = .tlsEstablished(try container.decode(TLSFactsJSON.self, forKey: .tls))
                case "discarded":
                    event = .discarded(try container.decode(Bytes.self, forKey: .data))
                case "closed":
                    event = .closed(byPeer: try container.decode(Bool.self, forKey: .byPeer))
                default:
                    throw DecodingError.dataCorruptedError(
                        forKey: .type, in: container, debugDescription: "unknown connection event type \(type)")
                }
                self = .connection(name, event)
                return
            }
            switch type {
            case "server-started":
                self = .serverStarted(
                    protocol: try container.decode(String.self, forKey: .protocol),
                    host: try container.decode(String.self, forKey: .host),
                    port: try container.decode(Int.self, forKey: .port)
                )
            case "step-started": self = .stepStarted(try container.decode(StepReport.self, forKey: .step))
            case "step-passed": self = .stepPassed(try container.decode(StepReport.self, forKey: .step))
            case "step-failed":
                self = .stepFailed(
                    try container.decode(StepReport.self, forKey: .step),
                    try container.decode(FailureReport.self, forKey: .failure)
                )
            case "note": self = .note(try container.decode(String.self, forKey: .text))
            default:
                throw DecodingError.dataCorruptedError(forKey: .type, in: container, debugDescription: "unknown event type \(type)")
            }
        }
    }

    /// What happened on a connection: `connected` and `accepted` (`local`, `remote`), `sent` and `received`
    /// (`tls`, `data`), `handshake-started` (`server_name`), `tls-established` (`tls`),
    /// `discarded` (`data`), `closed` (`by_peer`).
    public enum ConnectionReport: Sendable, Equatable {
        /// `connected`.
        case connected(local: String, remote: String)
        /// `accepted`: a scripted server took a client's connection.
        case accepted(local: String, remote: String)
        /// `sent`.
        case sent(Bytes, tls: Bool)
        /// `received`.
        case received(Bytes, tls: Bool)
        /// `handshake-started`.
        case handshakeStarted(serverName: String?)
        /// `tls-established`, the facts with the whole chain as `peer`.
        case tlsEstablished(TLSFactsJSON)
        /// `discarded`.
        case discarded(Bytes)
        /// `closed`.
        case closed(byPeer: Bool)

        /// The report of `event`.
        public init(_ event: ConnectionEvent) {
            switch event {
            case .connected(let local, let remote): self = .connected(local: local, remote: remote)
            case .accepted(let local, let remote): self = .accepted(local: local, remote: remote)
            case .sent(let data, let tls): self = .sent(Bytes(data), tls: tls)
            case .received(let data, let tls): self = .received(Bytes(data), tls: tls)
            case .handshakeStarted(let name): self = .handshakeStarted(serverName: name)
            case .tlsEstablished(let facts): self = .tlsEstablished(TLSFactsJSON(facts))
            case .discarded(let data): self = .discarded(Bytes(data))
            case .closed(let byPeer): self = .closed(byPeer: byPeer)
            }
        }

        /// The event's `type`.
        public var type: String {
            switch self {
            case .connected: "connected"
            case .accepted: "accepted"
            case .sent: "sent"
            case .received: "received"
            case .handshakeStarted: "handshake-started"
            case .tlsEstablished: "tls-established"
            case .discarded: "discarded"
            case .closed: "closed"
            }
        }
    }
}
