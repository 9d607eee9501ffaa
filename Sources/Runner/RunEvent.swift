// SPDX-License-Identifier: Apache-2.0
public import Scenario

/// What happens while a scenario runs, in order. Reporters consume these and nothing else.
public enum RunEvent: Sendable {
    /// A scenario began.
    case scenarioStarted(name: String, file: String)
    /// An embedded fake server is listening.
    case serverStarted(protocol: String, host: String, port: Int)
    /// A step began.
    case stepStarted(index: Int, step: Step)
    /// Something happened on the scenario's connection.
    case connection(name: String, event: ConnectionEvent)
    /// A remark worth showing in the transcript (for example a verification opt-out).
    case note(String)
    /// A step passed.
    case stepPassed(index: Int, step: Step)
    /// A step failed; the scenario stops there.
    case stepFailed(index: Int, step: Step, failure: Failure)
    /// The scenario ended.
    case scenarioFinished(ScenarioResult)
}

/// Why a step failed, with everything a person needs to see to fix it.
public struct Failure: Sendable, CustomStringConvertible {
    /// The classes of failure; they decide the scenario's outcome and the exit status.
    public enum Kind: String, Sendable, Hashable {
        /// An `expect` (or a STARTTLS reply, or a negative expectation) did not hold.
        case expectation
        /// An `assert` did not hold.
        case assertion
        /// A connection, TLS or runtime error that the scenario did not ask for.
        case runtime
    }

    /// The class of failure.
    public var kind: Kind
    /// Where in the scenario the failing thing is written.
    public var location: SourceLocation
    /// What went wrong, in one sentence.
    public var message: String
    /// What the step wanted (a pattern, a value), shown as written.
    public var expected: String?
    /// What was found instead, when it is a value.
    public var actual: String?
    /// The wait whose deadline fired, if any.
    public var wait: WaitKind?
    /// That wait's deadline.
    public var deadline: Duration?
    /// The last bytes received and not matched.
    public var tail: [UInt8]?
    /// Commands that open the failing step's connection by hand (`openssl s_client`,
    /// `gnutls-cli`, or `nc` without TLS), to look into the failure outside Parley.
    public var reproduce: [String] = []
    /// The variables the run had set when it failed (named groups and `set:`), secrets masked.
    public var variables: [String: String] = [:]

    /// Creates a failure.
    public init(
        _ kind: Kind,
        at location: SourceLocation,
        _ message: String,
        expected: String? = nil,
        actual: String? = nil,
        wait: WaitKind? = nil,
        deadline: Duration? = nil,
        tail: [UInt8]? = nil
    ) {
        self.kind = kind
        self.location = location
        self.message = message
        self.expected = expected
        self.actual = actual
        self.wait = wait
        self.deadline = deadline
        self.tail = tail
    }

    /// `file:line:col: message`.
    public var description: String { "\(location): \(message)" }
}

/// How a scenario ended.
public struct ScenarioResult: Sendable {
    /// The outcome classes, worst last.
    public enum Outcome: String, Sendable, Comparable {
        case passed
        case skipped
        case failed
        case error

        public static func < (lhs: Outcome, rhs: Outcome) -> Bool {
            let order: [Outcome] = [.passed, .skipped, .failed, .error]
            return order.firstIndex(of: lhs)! < order.firstIndex(of: rhs)!
        }
    }

    /// The scenario's name.
    public var name: String
    /// The scenario's file.
    public var file: String
    /// The outcome: a failed step is `failed`; a scenario that could not run is `error`.
    public var outcome: Outcome
    /// How many steps ran to completion.
    public var stepsPassed: Int
    /// How many steps the scenario has.
    public var stepCount: Int
    /// The failure that stopped the scenario, if any.
    public var failure: Failure?
    /// Wall-clock time of the run.
    public var duration: Duration
    /// Whether any TLS verification was switched off in this scenario.
    public var insecure: Bool
    /// How long each step that ran took, in order (the failing one included).
    public var stepDurations: [Duration] = []
    /// Why the scenario was skipped (`requires:` names a variable that is not set).
    public var skipReason: String?
    /// The scenario's `tags:`, for reports that group or filter by them.
    public var tags: [String] = []

    /// Creates a result.
    public init(
        name: String,
        file: String,
        outcome: Outcome,
        stepsPassed: Int,
        stepCount: Int,
        failure: Failure?,
        duration: Duration,
        insecure: Bool
    ) {
        self.name = name
        self.file = file
        self.outcome = outcome
        self.stepsPassed = stepsPassed
        self.stepCount = stepCount
        self.failure = failure
        self.duration = duration
        self.insecure = insecure
    }
}
