// SPDX-License-Identifier: Apache-2.0
import Foundation
import Plot
public import Runner
public import Scenario

/// Writes a run as one self-contained HTML page (`parley run --html FILE`): a summary, and per
/// scenario a sequence diagram of its connections drawn in inline SVG, with the TLS handshake as
/// a band of its own and the failing step in red. No script, font or style sheet is fetched:
/// the page opens from a CI artefact store or a mail attachment, and prints.
///
/// Every event of the run that the JSON report lists has one element with a `data-event`
/// attribute (and `data-kind`, its JSON `type`). All text comes from the events, which the
/// runner has already masked.
public enum HTMLReporter {
    /// What the page says besides the events.
    public struct Options: Sendable {
        /// The page's title.
        public var title = "Parley run"
        /// Parley's version, for the footer.
        public var parleyVersion = ""
        /// The run's options as the summary lists them (name, value).
        public var settings: [Setting] = []
        /// Teaching mode: nothing that changes from run to run (times, durations, ports), and the
        /// scenario files' comments beside their steps.
        public var teaching = false
        /// The comment blocks of each scenario file (``StepComments/parse(_:)``), by file.
        public var comments: [String: [Int: String]] = [:]
        /// The scenarios' timeouts by file, to draw each wait's deadline.
        public var timeouts: [String: Timeouts] = [:]
        /// The signal that interrupted the run, if one did.
        public var interruption: String?

        /// The defaults.
        public init() {}
    }

    /// One of the run's options, as the summary shows it.
    public struct Setting: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The page for a run.
    public static func render(_ run: RunRecord, options: Options = Options()) -> String {
        var body: [BodyNode] = [summary(run, options)]
        var first = 0
        for (index, record) in run.scenarios.enumerated() {
            let (node, count) = scenario(record, number: index + 1, firstEvent: first, options: options)
            body.append(node)
            first += count
        }
        body.append(footer(options))
        return page(title: options.title, body)
    }

    /// The page for a load run (`parley run --repeat N --concurrency C --html FILE`).
    public static func render(load: LoadRecord, options: Options = Options()) -> String {
        page(title: options.title, [loadSummary(load, options)] + loadCharts(load) + [footer(options)])
    }

    /// The index of the teaching pages: each page's file name and title.
    public static func teachingIndex(_ pages: [(file: String, title: String)]) -> String {
        page(
            title: "Parley: STARTTLS walk-throughs",
            [
                Markup.element("h1", text: "STARTTLS walk-throughs"),
                Markup.element(
                    "p", [],
                    text:
                        "Each page is one scenario of scenarios/teaching/ as Parley ran it against its embedded server: the sequence diagram of every byte, and the scenario's comments beside the steps they explain."
                ),
                Markup.element(
                    "ul", [], pages.map { Markup.element("li", [], [Markup.element("a", [("href", $0.file)], text: $0.title)]) }),
                footer(Options()),
            ])
    }

    // MARK: - Page

    static func page(title: String, _ body: [BodyNode]) -> String {
        let html = HTML(
            .lang(.english),
            .head(
                .meta(.charset(.utf8)),
                .title(Markup.text(title)),
                .style(css)
            ),
            .body(.group(body))
        )
        return html.render(indentedBy: .spaces(1)) + "\n"
    }

    static func footer(_ options: Options) -> BodyNode {
        let version = options.parleyVersion.isEmpty ? "" : " \(options.parleyVersion)"
        return Markup.element(
            "footer", [],
            text: "Written by parley\(version). Self-contained: no script, font or style sheet is fetched from anywhere.")
    }

    // MARK: - Summary

    static func summary(_ run: RunRecord, _ options: Options) -> BodyNode {
        let counts = run.counts
        var nodes: [BodyNode] = [Markup.element("h1", text: options.title)]
        if let interruption = options.interruption {
            nodes.append(
                Markup.element(
                    "p", [("class", "problem")],
                    text: "Interrupted by \(interruption): only the scenarios that finished are in this report."))
        }
        let chips: [(String, Int, String)] = [
            ("passed", counts.passed, "passed"), ("failed", counts.failed, "failed"), ("errors", counts.errors, "error"),
            ("skipped", counts.skipped, "skipped"),
        ]
        nodes.append(
            Markup.element(
                "p", [("class", "counts")],
                chips.map { label, n, style in
                    Markup.element("span", [("class", "chip \(style)" + (n == 0 ? " zero" : ""))], text: "\(n) \(label)")
                } + [Markup.words(" of \(run.scenarios.count) scenarios")]))
        var facts: [(String, String)] = []
        if !options.teaching {
            facts.append(("started", JSONOutput.timestamp(run.started)))
            facts.append(("duration", seconds(run.duration)))
        }
        facts += options.settings.map { ($0.name, $0.value) }
        if !facts.isEmpty {
            nodes.append(
                Markup.element(
                    "dl", [("class", "facts")], facts.flatMap { [Markup.element("dt", text: $0.0), Markup.element("dd", text: $0.1)] }))
        }
        let insecure = run.scenarios.filter(\.result.insecure)
        if insecure.isEmpty {
            nodes.append(
                Markup.element(
                    "p", [("class", "secure")], text: "Verification opt-outs: none (no scenario switched TLS verification off)."))
        } else {
            nodes.append(
                Markup.element(
                    "div", [("class", "insecure-list")],
                    [
                        Markup.element(
                            "p", [],
                            text: "INSECURE: \(insecure.count) scenario\(insecure.count == 1 ? "" : "s") switched TLS verification off:"),
                        Markup.element("ul", [], insecure.map { Markup.element("li", text: "\($0.result.name) (\($0.file))") }),
                    ]))
        }
        let header = ["scenario", "file", "outcome", "steps", "duration", "attempts", "verification"]
        var rows: [BodyNode] = [Markup.element("tr", [], header.map { Markup.element("th", text: $0) })]
        for (index, record) in run.scenarios.enumerated() {
            let result = record.result
            let cells: [BodyNode] = [
                Markup.element("td", [], [Markup.element("a", [("href", "#scenario-\(index + 1)")], text: result.name)]),
                Markup.element("td", [("class", "mono")], text: record.file),
                Markup.element("td", [], [outcomeBadge(result.outcome)]),
                Markup.element("td", text: "\(result.stepsPassed) of \(result.stepCount)"),
                Markup.element("td", text: options.teaching ? "—" : seconds(result.duration)),
                Markup.element("td", text: "\(record.attempts)"),
                Markup.element(
                    "td", [("class", result.insecure ? "problem" : "")], text: result.insecure ? "INSECURE: off" : "on"),
            ]
            rows.append(Markup.element("tr", [], cells))
        }
        nodes.append(Markup.element("table", [("class", "scenarios")], rows))
        nodes.append(legend())
        return Markup.element("header", [("class", "summary")], nodes)
    }

    static func outcomeBadge(_ outcome: ScenarioResult.Outcome) -> BodyNode {
        let label = outcome == .error ? "ERROR" : outcome.rawValue.uppercased()
        return Markup.element("span", [("class", "badge \(outcome.rawValue)")], text: label)
    }

    static func legend() -> BodyNode {
        let items: [(String, String)] = [
            ("plaintext", "plain text"), ("handshake", "STARTTLS go-ahead and TLS handshake"), ("tls", "inside TLS"),
            ("discarded", "discarded after the go-ahead"), ("failed", "failing step"),
        ]
        return Markup.element(
            "p", [("class", "legend")],
            [Markup.words("Diagram: ")]
                + items.map { style, label in
                    Markup.element("span", [("class", "key")], [Markup.element("i", [("class", "swatch \(style)")]), Markup.words(label)])
                }
                + [
                    Markup.words(
                        " · arrows point from the sender (Parley is the left lane, the client when it connects, "
                            + "the server when it plays one); \\r \\n \\xHH are the bytes as sent.")
                ])
    }

    // MARK: - A scenario

    static func scenario(_ record: ScenarioRecord, number: Int, firstEvent: Int, options: Options) -> (BodyNode, Int) {
        let result = record.result
        let diagram = ScenarioDiagram(record.events, firstEvent: firstEvent, teaching: options.teaching)
        var nodes: [BodyNode] = [
            Markup.element("h2", [], [outcomeBadge(result.outcome), Markup.words(" " + result.name)])
        ]
        var meta = [record.file]
        if !options.teaching {
            meta.append("started \(JSONOutput.timestamp(record.started))")
            meta.append(seconds(result.duration))
        }
        meta.append("\(result.stepsPassed) of \(result.stepCount) steps passed")
        if record.attempts > 1 { meta.append("\(record.attempts) attempts") }
        if !result.tags.isEmpty { meta.append("tags: " + result.tags.joined(separator: ", ")) }
        nodes.append(Markup.element("p", [("class", "meta")], text: meta.joined(separator: " · ")))
        if result.insecure {
            nodes.append(
                Markup.element(
                    "p", [("class", "problem")], text: "INSECURE: this scenario switched TLS verification off; its peers were not verified."
                ))
        }
        if let reason = result.skipReason {
            nodes.append(Markup.element("p", [("class", "meta")], text: "Skipped: \(reason)"))
        }
        for earlier in record.earlierAttempts {
            let why = earlier.failure.map { "\($0.location): \($0.message)" } ?? earlier.outcome.rawValue
            nodes.append(Markup.element("p", [("class", "meta")], text: "An earlier attempt \(earlier.outcome.rawValue): \(why)"))
        }
        let comments = options.teaching ? (options.comments[record.file] ?? [:]) : [:]
        if options.teaching {
            let stepLines = Set(diagram.slices.compactMap { $0.step?.step.location.line })
            let intro = comments.filter { !stepLines.contains($0.key) && $0.key < (stepLines.min() ?? Int.max) }.sorted { $0.key < $1.key }
            if !intro.isEmpty {
                nodes.append(Markup.element("div", [("class", "intro")], intro.map { paragraph($0.value) }))
            }
        }
        if options.teaching {
            nodes.append(
                Markup.element(
                    "div", [("class", "teaching-row")], [Markup.element("div", [("class", "explain")]), laneHeader(diagram.lanes)]))
        } else {
            nodes.append(laneHeader(diagram.lanes))
        }
        var phases: [Int: SequenceLayout.Phase] = [:]
        for slice in diagram.slices {
            let layout = SequenceLayout(slice.items.map(input), laneCount: diagram.lanes.count, phases: phases)
            phases = layout.phases
            let comment = slice.step.flatMap { comments[$0.step.location.line] }
            nodes.append(
                stepNode(slice, layout: layout, comment: comment, teaching: options.teaching, timeouts: options.timeouts[record.file]))
        }
        if diagram.slices.isEmpty {
            nodes.append(Markup.element("p", [("class", "meta")], text: "No events."))
        }
        if let failure = result.failure, result.outcome != .passed, !diagram.slices.contains(where: { $0.failure != nil }) {
            // A scenario that could not start has a failure but no failing step.
            nodes.append(failureBox(failure, event: nil))
        }
        let node = Markup.element(
            "section", [("class", "scenario \(result.outcome.rawValue)"), ("id", "scenario-\(number)")], nodes)
        return (node, diagram.eventCount)
    }

    /// A comment block: paragraphs (split at empty lines) with their lines joined, and indented
    /// lines (commands) kept as they are.
    static func paragraph(_ text: String) -> BodyNode {
        let paragraphs = text.components(separatedBy: "\n\n").map { $0.components(separatedBy: "\n") }
        return Markup.element(
            "div", [("class", "comment")],
            paragraphs.map { lines in
                if lines.allSatisfy({ $0.hasPrefix("  ") }) {
                    return Markup.element("pre", [("class", "code")], text: lines.map { String($0.dropFirst(2)) }.joined(separator: "\n"))
                }
                return Markup.element("p", text: lines.map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " "))
            })
    }

    static func input(_ item: ScenarioDiagram.Item) -> SequenceLayout.Input {
        SequenceLayout.Input(shape: item.shape, lines: item.lines.count, enters: item.enters, after: item.after)
    }

    /// The lanes' titles, above the first slice.
    static func laneHeader(_ lanes: [ScenarioDiagram.Lane]) -> BodyNode {
        let metrics = SequenceLayout.Metrics()
        let xs = metrics.laneX(count: lanes.count)
        var nodes: [BodyNode] = []
        for (lane, x) in zip(lanes, xs) {
            nodes.append(svgText(x, 16, lane.title, [("class", "lane-title"), ("text-anchor", "middle")]))
            nodes.append(svgText(x, 31, lane.subtitle, [("class", "lane-subtitle"), ("text-anchor", "middle")]))
        }
        return svg(width: metrics.width, height: 38, [("class", "lanes")], nodes)
    }

    /// A step: its header, its slice of the diagram, its failure; the comment beside it.
    static func stepNode(
        _ slice: ScenarioDiagram.Slice, layout: SequenceLayout, comment: String?, teaching: Bool, timeouts: Timeouts?
    ) -> BodyNode {
        var header: [BodyNode] = []
        var failedWait: (String, String)?
        if let (index, step) = slice.step {
            var attributes = [("class", "step-title")]
            if let mark = slice.startedEvent { attributes += [("data-event", "\(mark)"), ("data-kind", "step-started")] }
            header.append(
                Markup.element(
                    "span", attributes,
                    [
                        Markup.element("b", text: "\(index + 1) \(step.keyword)"),
                        Markup.words(" " + step.location.description),
                    ]))
            if let wait = waitText(step, timeouts) { header.append(Markup.element("span", [("class", "wait")], text: wait)) }
            if let mark = slice.passedEvent {
                header.append(
                    Markup.element("span", [("class", "ok"), ("data-event", "\(mark)"), ("data-kind", "step-passed")], text: "✔ passed"))
            }
            if let (_, failure) = slice.failure {
                var text = "✘ failed"
                if let wait = failure.wait, let deadline = failure.deadline {
                    failedWait = (wait.rawValue, duration(deadline))
                    text += ": the \(wait.rawValue) deadline of \(duration(deadline)) passed"
                }
                header.append(Markup.element("span", [("class", "problem")], text: text))
            }
        } else {
            header.append(Markup.element("span", [("class", "step-title")], [Markup.element("b", text: "before the first step")]))
        }
        var body: [BodyNode] = [Markup.element("div", [("class", "step-header")], header)]
        if !slice.items.isEmpty {
            body.append(
                sliceSVG(
                    slice, layout: layout, waits: slice.step.map { waitText($0.step, timeouts) != nil } ?? false, failedWait: failedWait))
        }
        if let (mark, failure) = slice.failure {
            body.append(failureBox(failure, event: mark))
        }
        let failed = slice.failure != nil
        let stepNode = Markup.element("div", [("class", "step" + (failed ? " failed" : ""))], body)
        guard teaching else { return stepNode }
        return Markup.element(
            "div", [("class", "teaching-row")],
            [Markup.element("div", [("class", "explain")], comment.map { [paragraph($0)] } ?? []), stepNode])
    }

    /// What a step waits for and its deadline; nil for steps that do not wait.
    static func waitText(_ step: Step, _ timeouts: Timeouts?) -> String? {
        func deadline(_ own: Duration?, _ scenario: Duration?) -> String {
            if let own { return "deadline \(duration(own)) (the step's)" }
            if let scenario { return "deadline \(duration(scenario))" }
            return "deadline: the scenario's"
        }
        switch step.kind {
        case .connect(let connect): return "waits for the connection, " + deadline(connect.timeout, timeouts?.connect)
        case .open(let open): return "waits for the connection, " + deadline(open.timeout, timeouts?.connect)
        case .greeting(let greeting): return "waits for /\(greeting.pattern.source)/, " + deadline(greeting.timeout, timeouts?.expect)
        case .capability(let capability):
            return "waits for /\(capability.end.source)/, " + deadline(capability.timeout, timeouts?.expect)
        case .expect(let expect):
            switch expect.condition {
            case .pattern(let pattern): return "waits for /\(pattern.source)/, " + deadline(expect.timeout, timeouts?.expect)
            case .silence(let quiet): return "waits for \(duration(quiet)) of silence"
            case .peerCloses: return "waits for the server to close, " + deadline(expect.timeout, timeouts?.expect)
            }
        case .starttls(let starttls):
            return "waits for the go-ahead, " + deadline(starttls.timeout, timeouts?.expect) + "; the handshake, "
                + deadline(starttls.handshakeTimeout, timeouts?.handshake)
        case .sleep(let pause): return "sleeps \(duration(pause))"
        default: return nil
        }
    }

    /// The SVG of a slice: lane lines, phase bands, one group per event, the wait bracket.
    static func sliceSVG(_ slice: ScenarioDiagram.Slice, layout: SequenceLayout, waits: Bool, failedWait: (String, String)?) -> BodyNode {
        let metrics = SequenceLayout.Metrics()
        let height = layout.height + 4
        var nodes: [BodyNode] = []
        for band in layout.bands {
            nodes.append(
                svgElement(
                    "rect",
                    [
                        ("class", "band \(band.phase.rawValue)"), ("x", Markup.number(band.x)), ("y", Markup.number(band.y)),
                        ("width", Markup.number(band.width)), ("height", Markup.number(band.height)),
                    ]))
        }
        for x in layout.lanes {
            nodes.append(
                svgElement(
                    "line",
                    [
                        ("class", "lane"), ("x1", Markup.number(x)), ("y1", "0"), ("x2", Markup.number(x)),
                        ("y2", Markup.number(height)),
                    ]))
        }
        if waits || failedWait != nil {
            let style = failedWait == nil ? "wait" : "wait failed"
            nodes.append(
                svgElement(
                    "line",
                    [("class", style), ("x1", "14"), ("y1", "3"), ("x2", "14"), ("y2", Markup.number(max(layout.height - 3, 4)))]))
        }
        for (item, row) in zip(slice.items, layout.rows) {
            nodes.append(rowNode(item, row))
        }
        var attributes = [("class", "slice")]
        if slice.failure != nil { attributes[0].1 += " failed" }
        return svg(width: metrics.width, height: height, attributes, nodes)
    }

    /// One event's group: its arrow or box and its text.
    static func rowNode(_ item: ScenarioDiagram.Item, _ row: SequenceLayout.Row) -> BodyNode {
        var nodes: [BodyNode] = []
        let style = item.style + (item.tls ? " in-tls" : "")
        switch item.shape {
        case .arrow:
            let head = row.x2 > row.x1 ? -7.0 : 7.0
            nodes.append(
                svgElement(
                    "line",
                    [
                        ("class", "arrow"), ("x1", Markup.number(row.x1)), ("y1", Markup.number(row.arrowY)),
                        ("x2", Markup.number(row.x2)), ("y2", Markup.number(row.arrowY)),
                    ]))
            let points = [
                (row.x2, row.arrowY), (row.x2 + head, row.arrowY - 4), (row.x2 + head, row.arrowY + 4),
            ].map { "\(Markup.number($0.0)),\(Markup.number($0.1))" }.joined(separator: " ")
            nodes.append(svgElement("polygon", [("class", "head"), ("points", points)]))
        case .block:
            nodes.append(
                svgElement(
                    "rect",
                    [
                        ("class", "box"), ("x", Markup.number(min(row.x1, row.x2) + 3)), ("y", Markup.number(row.y + 2)),
                        ("width", Markup.number(abs(row.x2 - row.x1) - 6)), ("height", Markup.number(row.height - 4)), ("rx", "4"),
                    ]))
        case .across:
            break
        }
        for (line, baseline) in zip(item.lines, row.baselines) {
            nodes.append(svgText(row.textX, baseline, line, []))
        }
        return svgElement("g", [("class", style), ("data-event", "\(item.event)"), ("data-kind", item.kind)], nodes)
    }

    /// The failure in red: where, what, what was expected, what arrived, and how to try by hand.
    static func failureBox(_ failure: Failure, event: Int?) -> BodyNode {
        var nodes: [BodyNode] = [
            Markup.element(
                "p", [("class", "where")],
                [Markup.element("b", text: failure.location.description), Markup.words(": " + failure.message)])
        ]
        var details: [(String, String)] = [("kind", failure.kind.rawValue)]
        if let expected = failure.expected { details.append(("expected", expected)) }
        if let actual = failure.actual { details.append(("actual", actual)) }
        if let wait = failure.wait, let deadline = failure.deadline {
            details.append(("deadline", "\(wait.rawValue): \(duration(deadline))"))
        }
        if let variables = failure.variablesText { details.append(("variables", variables)) }
        nodes.append(
            Markup.element(
                "dl", [], details.flatMap { [Markup.element("dt", text: $0.0), Markup.element("dd", [("class", "mono")], text: $0.1)] }))
        if let tail = failure.tail {
            nodes.append(
                Markup.element(
                    "p", [],
                    text: tail.isEmpty ? "Received and not matched: nothing." : "Received and not matched (last \(tail.count) bytes):"))
            if !tail.isEmpty {
                nodes.append(
                    Markup.element(
                        "pre", [("class", "tail")], text: ByteText.lines(tail).map { ByteText.escaped($0) }.joined(separator: "\n")))
            }
        }
        if !failure.reproduce.isEmpty {
            nodes.append(Markup.element("p", [], text: "Try it by hand:"))
            nodes.append(Markup.element("pre", [("class", "reproduce")], text: failure.reproduce.joined(separator: "\n")))
        }
        var attributes = [("class", "failure")]
        if let event { attributes += [("data-event", "\(event)"), ("data-kind", "step-failed")] }
        return Markup.element("div", attributes, nodes)
    }

    // MARK: - SVG pieces

    static func svg(width: Double, height: Double, _ attributes: [(String, String)], _ children: [BodyNode]) -> BodyNode {
        Markup.element(
            "svg",
            attributes + [
                ("width", Markup.number(width)), ("height", Markup.number(height)),
                ("viewBox", "0 0 \(Markup.number(width)) \(Markup.number(height))"), ("role", "img"),
            ], children)
    }

    static func svgElement(_ name: String, _ attributes: [(String, String)], _ children: [BodyNode] = []) -> BodyNode {
        Markup.element(name, attributes, children)
    }

    static func svgText(_ x: Double, _ y: Double, _ text: String, _ attributes: [(String, String)]) -> BodyNode {
        Markup.element("text", [("x", Markup.number(x)), ("y", Markup.number(y))] + attributes, text: text)
    }

    // MARK: - Load mode

    static func loadSummary(_ load: LoadRecord, _ options: Options) -> BodyNode {
        var facts: [(String, String)] = [
            ("scenario", "\(load.name) (\(load.file))"),
            ("sessions", "\(load.sessions), \(load.passed) passed"),
            ("concurrency", "\(load.concurrency)"),
            ("wall time", seconds(load.wall)),
            ("throughput", String(format: "%.1f sessions/s", Double(load.sessions) / max(load.wall.seconds, 1e-9))),
        ]
        facts += load.notes.map { ("note", $0) }
        facts += options.settings.map { ($0.name, $0.value) }
        var nodes: [BodyNode] = [
            Markup.element("h1", text: options.title),
            Markup.element(
                "dl", [("class", "facts")], facts.flatMap { [Markup.element("dt", text: $0.0), Markup.element("dd", text: $0.1)] }),
        ]
        if load.errors.isEmpty {
            nodes.append(Markup.element("p", [("class", "secure")], text: "Errors: none."))
        } else {
            nodes.append(
                Markup.element(
                    "ul", [("class", "problem")],
                    load.errors.sorted { $0.key < $1.key }.map { Markup.element("li", text: "\($0.value) sessions: \($0.key)") }))
        }
        var rows: [BodyNode] = [
            Markup.element("tr", [], ["step", "count", "p50", "p90", "p99", "max"].map { Markup.element("th", text: $0) })
        ]
        let named = load.steps.enumerated().map {
            ("\($0.offset + 1) \($0.element.keyword) (line \($0.element.location.line))", $0.element.latency)
        }
        for (label, histogram) in named + [("whole sessions (passed)", load.session)] {
            let cells = [0.5, 0.9, 0.99, 1].map { q in histogram.quantile(q).map(ChartLayout.milliseconds) ?? "—" }
            rows.append(Markup.element("tr", [], ([label, "\(histogram.count)"] + cells).map { Markup.element("td", text: $0) }))
        }
        nodes.append(Markup.element("table", [("class", "scenarios")], rows))
        nodes.append(
            Markup.element(
                "p", [("class", "meta")],
                text:
                    "Latencies are counted in an HdrHistogram (three significant digits): percentiles are within 0.1 % of the exact value; min and max are exact. The histogram charts group them in logarithmic buckets (20 a decade)."
            ))
        return Markup.element("header", [("class", "summary")], nodes)
    }

    static func loadCharts(_ load: LoadRecord) -> [BodyNode] {
        var nodes: [BodyNode] = [
            Markup.element(
                "section", [("class", "charts")],
                [
                    Markup.element("h2", text: "Sessions per second over the run"),
                    chartSVG(ChartLayout.throughput(load.timeline, wall: load.wall), kind: "throughput"),
                ])
        ]
        let named =
            [("Whole sessions (passed)", load.session)]
            + load.steps.enumerated().map {
                ("Step \($0.offset + 1): \($0.element.keyword) (\($0.element.location))", $0.element.latency)
            }
        for (title, histogram) in named {
            nodes.append(
                Markup.element(
                    "section", [("class", "charts")],
                    [
                        Markup.element("h2", text: title + " · \(histogram.count) samples"),
                        Markup.element(
                            "div", [("class", "pair")],
                            [
                                Markup.element(
                                    "figure", [],
                                    [
                                        chartSVG(.histogram(histogram), kind: "histogram"),
                                        Markup.element("figcaption", text: "latency histogram (log buckets)"),
                                    ]),
                                Markup.element(
                                    "figure", [],
                                    [
                                        chartSVG(.percentiles(histogram), kind: "percentiles"),
                                        Markup.element("figcaption", text: "latency by percentile"),
                                    ]),
                            ]),
                    ]))
        }
        return nodes
    }

    static func chartSVG(_ chart: ChartLayout, kind: String) -> BodyNode {
        var nodes: [BodyNode] = [
            svgElement(
                "rect",
                [
                    ("class", "plot"), ("x", Markup.number(chart.plot.x)), ("y", Markup.number(chart.plot.y)),
                    ("width", Markup.number(chart.plot.width)), ("height", Markup.number(chart.plot.height)),
                ])
        ]
        let bottom = chart.plot.y + chart.plot.height
        for tick in chart.xTicks {
            nodes.append(
                svgElement(
                    "line",
                    [
                        ("class", "tick"), ("x1", Markup.number(tick.position)), ("y1", Markup.number(bottom)),
                        ("x2", Markup.number(tick.position)), ("y2", Markup.number(bottom + 4)),
                    ]))
            nodes.append(svgText(tick.position, bottom + 16, tick.label, [("class", "axis"), ("text-anchor", "middle")]))
        }
        for tick in chart.yTicks {
            nodes.append(
                svgElement(
                    "line",
                    [
                        ("class", "grid"), ("x1", Markup.number(chart.plot.x)), ("y1", Markup.number(tick.position)),
                        ("x2", Markup.number(chart.plot.x + chart.plot.width)), ("y2", Markup.number(tick.position)),
                    ]))
            nodes.append(svgText(chart.plot.x - 6, tick.position + 4, tick.label, [("class", "axis"), ("text-anchor", "end")]))
        }
        for (bar, label) in zip(chart.bars, chart.barLabels) {
            nodes.append(
                svgElement(
                    "rect",
                    [
                        ("class", "bar"), ("x", Markup.number(bar.x)), ("y", Markup.number(bar.y)), ("width", Markup.number(bar.width)),
                        ("height", Markup.number(bar.height)),
                    ], [Markup.element("title", text: label)]))
        }
        if !chart.points.isEmpty {
            let points = chart.points.map { "\(Markup.number($0.x)),\(Markup.number($0.y))" }.joined(separator: " ")
            nodes.append(svgElement("polyline", [("class", "curve"), ("points", points)]))
            for (point, label) in zip(chart.points, chart.pointLabels) {
                nodes.append(
                    svgElement(
                        "circle", [("class", "dot"), ("cx", Markup.number(point.x)), ("cy", Markup.number(point.y)), ("r", "3")],
                        [Markup.element("title", text: label)]))
            }
        }
        if chart.bars.isEmpty && chart.points.isEmpty {
            nodes.append(svgText(chart.plot.x + 10, chart.plot.y + 20, "no samples", [("class", "axis")]))
        }
        return svg(width: chart.width, height: chart.height, [("class", "chart"), ("data-chart", kind)], nodes)
    }

    // MARK: - Text

    static func seconds(_ duration: Duration) -> String { String(format: "%.3f s", duration.seconds) }

    /// `5s`, `250ms`, `1.5s`.
    static func duration(_ duration: Duration) -> String {
        let s = duration.seconds
        if s >= 1 { return s == s.rounded() ? "\(Int(s))s" : String(format: "%.3gs", s) }
        return String(format: "%.0fms", s * 1000)
    }

    static let css = """
        :root { --plain: #eef0f3; --handshake: #ffe9b3; --tls: #d8f0dc; --red: #c62828; --green: #2e7d32; --ink: #1d232b; }
        * { box-sizing: border-box; }
        html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--ink); margin: 24px auto; max-width: 1060px; padding: 0 16px; }
        h1 { font-size: 24px; margin: 0 0 8px; }
        h2 { font-size: 18px; margin: 28px 0 4px; border-top: 2px solid #ccd; padding-top: 14px; }
        .mono, pre, svg text { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, monospace; }
        svg text { font-size: 11.5px; white-space: pre; fill: var(--ink); }
        .counts .chip { display: inline-block; padding: 2px 10px; border-radius: 10px; margin-right: 6px; font-weight: 600; }
        .chip.passed { background: #dcefdc; color: var(--green); } .chip.failed, .chip.error { background: #fbe0e0; color: var(--red); }
        .chip.skipped { background: #eee; color: #555; } .chip.zero { opacity: .45; }
        .badge { display: inline-block; font-size: 12px; padding: 1px 7px; border-radius: 4px; color: #fff; vertical-align: 2px; }
        .badge.passed { background: var(--green); } .badge.failed, .badge.error { background: var(--red); } .badge.skipped { background: #777; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 8px 0; }
        dl.facts dt { color: #556; } dl.facts dd { margin: 0; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
        table.scenarios { border-collapse: collapse; width: 100%; margin: 10px 0; }
        table.scenarios th, table.scenarios td { text-align: left; border-bottom: 1px solid #dde; padding: 3px 8px; vertical-align: top; }
        .problem { color: var(--red); font-weight: 600; } .secure { color: var(--green); } .ok { color: var(--green); font-weight: 600; }
        .insecure-list { border: 2px solid var(--red); color: var(--red); padding: 4px 12px; border-radius: 6px; }
        .legend { color: #445; font-size: 13px; } .legend .key { margin-right: 12px; white-space: nowrap; }
        .swatch { display: inline-block; width: 14px; height: 11px; margin-right: 4px; border: 1px solid #aab; vertical-align: -1px; }
        .swatch.plaintext { background: var(--plain); } .swatch.handshake { background: var(--handshake); } .swatch.tls { background: var(--tls); }
        .swatch.discarded { background: #fff; border: 2px dashed var(--red); } .swatch.failed { background: #fdecec; border: 2px solid var(--red); }
        .meta { color: #556; margin: 2px 0 8px; }
        .step { margin: 0 0 2px; break-inside: avoid; }
        .step.failed { outline: 2px solid var(--red); background: #fff6f6; }
        .step-header { display: flex; gap: 14px; align-items: baseline; background: #f5f6f9; padding: 2px 8px; font-size: 13px; }
        .step.failed .step-header { background: #fde3e3; }
        .step-title { font-family: ui-monospace, "DejaVu Sans Mono", monospace; } .wait { color: #667; font-size: 12px; flex: 1; }
        svg { display: block; max-width: 100%; height: auto; }
        svg.lanes .lane-title { font-weight: 700; font-size: 13px; } svg.lanes .lane-subtitle { fill: #667; }
        .band.plaintext { fill: var(--plain); } .band.handshake { fill: var(--handshake); } .band.tls { fill: var(--tls); }
        line.lane { stroke: #99a; stroke-width: 1.5; stroke-dasharray: 1 0; }
        .arrow { stroke: #345; stroke-width: 1.4; } .head { fill: #345; }
        g.sent .arrow { stroke: #1f5fa8; } g.sent .head { fill: #1f5fa8; } g.sent text { fill: #12406f; }
        g.received .arrow { stroke: #5b3a8c; } g.received .head { fill: #5b3a8c; } g.received text { fill: #3d2463; }
        g.in-tls .arrow { stroke-width: 2.4; }
        g.discarded .arrow { stroke: var(--red); stroke-dasharray: 5 3; } g.discarded .head { fill: var(--red); } g.discarded text { fill: var(--red); font-weight: 700; }
        g.note text { fill: #556; } g.connection text { fill: #334; font-style: italic; }
        g.tls .box { fill: #fffaf0; stroke: #c9a227; } g.tls.problem .box { fill: #fff0f0; stroke: var(--red); } g.tls.problem text { fill: var(--red); }
        line.wait { stroke: #889; stroke-width: 2; stroke-dasharray: 3 3; } line.wait.failed { stroke: var(--red); stroke-width: 3; }
        .wait-label.failed { fill: var(--red); font-weight: 700; }
        .failure { border-left: 6px solid var(--red); background: #fdecec; padding: 6px 12px; margin: 0; }
        .failure .where { color: var(--red); margin: 2px 0 6px; }
        .failure dl { display: grid; grid-template-columns: max-content 1fr; gap: 1px 12px; margin: 0 0 6px; } .failure dd { margin: 0; }
        .failure pre { background: #fff; border: 1px solid #e6b8b8; padding: 4px 8px; white-space: pre-wrap; word-break: break-all; margin: 2px 0 8px; }
        .intro, .explain { font-size: 13.5px; } .intro { background: #f7f7fb; border-left: 4px solid #99a; padding: 2px 12px; margin: 8px 0; }
        .comment p { margin: 4px 0; } .comment pre.code { background: #eef0f3; padding: 2px 6px; margin: 4px 0; white-space: pre-wrap; }
        .teaching-row { display: grid; grid-template-columns: 300px minmax(0, 1fr); gap: 12px; align-items: start; break-inside: avoid; }
        .explain { color: #334; padding-top: 2px; }
        .charts .pair { display: flex; gap: 16px; flex-wrap: wrap; } figure { margin: 0; } figcaption { color: #556; font-size: 12px; text-align: center; }
        .chart .plot { fill: #fafbfd; stroke: #ccd; } .chart .bar { fill: #4f7fbf; } .chart .curve { fill: none; stroke: #b5412b; stroke-width: 2; }
        .chart .dot { fill: #b5412b; } .chart .grid { stroke: #e3e5ea; } .chart .tick { stroke: #889; } .chart .axis { font-size: 10.5px; fill: #556; }
        footer { margin-top: 32px; color: #778; font-size: 12px; border-top: 1px solid #dde; padding-top: 8px; }
        body:has(.teaching-row) { max-width: 1400px; }
        @media print { body { margin: 0; max-width: none; } section.scenario { break-before: page; } a { color: inherit; text-decoration: none; } }
        """
}
