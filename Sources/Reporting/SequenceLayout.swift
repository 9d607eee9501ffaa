// SPDX-License-Identifier: Apache-2.0

/// The geometry of one slice of a sequence diagram (a step, or what comes before the first
/// step), as values: lanes across, rows down, and the bands that shade each connection's phase
/// (plain text, the STARTTLS go-ahead and handshake, TLS). The HTML report draws exactly these
/// coordinates; nothing here knows about events or markup.
struct SequenceLayout: Equatable {
    /// The fixed measures of a diagram, in CSS pixels.
    struct Metrics: Equatable {
        /// The whole width.
        var width = 1000.0
        /// Where the client's lane is, from the left.
        var clientX = 90.0
        /// Margin right of the last server lane.
        var rightMargin = 100.0
        /// The height of one line of text.
        var lineHeight = 15.0
        /// Space above and below each row.
        var rowPadding = 4.0
        /// Width of one character of the monospace font (11.5px DejaVu Sans Mono / Liberation Mono).
        var charWidth = 7.0
        /// Space between a lane and a label's text.
        var inset = 8.0

        /// Lane x positions: the client's, then each server lane's, spread evenly.
        func laneX(count: Int) -> [Double] {
            guard count > 1 else { return [clientX] }
            let span = (width - rightMargin - clientX) / Double(count - 1)
            return (0..<count).map { clientX + span * Double($0) }
        }
    }

    /// What a connection's bytes are travelling through at a point of the diagram.
    enum Phase: String, Equatable, Sendable {
        /// Plain text, before any TLS.
        case plaintext
        /// From the STARTTLS go-ahead (or the start of an implicit-TLS handshake) to its end.
        case handshake
        /// Inside TLS.
        case tls
    }

    /// The shape of one row, as the renderer asks for it.
    enum Shape: Equatable {
        /// An arrow between two lanes (client is lane 0), with text above it.
        case arrow(from: Int, to: Int)
        /// Text across every lane (notes, steps' remarks).
        case across
        /// A block of text between the client's lane and a server lane (TLS facts).
        case block(lane: Int)
    }

    /// One row to place.
    struct Input: Equatable {
        /// Its shape.
        var shape: Shape
        /// How many lines of text it holds (at least one).
        var lines: Int
        /// A phase that a server lane's connection enters at the top of this row, if any.
        var enters: (lane: Int, phase: Phase)?
        /// A phase that a server lane's connection enters under this row (nil: its shading stops).
        var after: (lane: Int, phase: Phase?)?

        init(shape: Shape, lines: Int, enters: (lane: Int, phase: Phase)? = nil, after: (lane: Int, phase: Phase?)? = nil) {
            self.shape = shape
            self.lines = lines
            self.enters = enters
            self.after = after
        }

        static func == (lhs: Input, rhs: Input) -> Bool {
            lhs.shape == rhs.shape && lhs.lines == rhs.lines && lhs.enters?.lane == rhs.enters?.lane
                && lhs.enters?.phase == rhs.enters?.phase && lhs.after?.lane == rhs.after?.lane
                && lhs.after?.phase == rhs.after?.phase
        }
    }

    /// A placed row.
    struct Row: Equatable {
        /// Its top.
        var y: Double
        /// Its height.
        var height: Double
        /// The left and right ends of its text (or of its arrow).
        var x1: Double
        var x2: Double
        /// Where the arrow runs (its bottom line), when it is one.
        var arrowY: Double
        /// The baselines of its lines of text.
        var baselines: [Double]
        /// The x of its text's start.
        var textX: Double
        /// How many characters fit on one line of it.
        var columns: Int
    }

    /// A shaded band: a connection's phase over a stretch of rows, between the client's lane
    /// and the connection's lane.
    struct Band: Equatable {
        var phase: Phase
        var lane: Int
        var x: Double
        var y: Double
        var width: Double
        var height: Double
    }

    /// Lane x positions, the client's first.
    var lanes: [Double]
    /// The rows, in input order.
    var rows: [Row]
    /// The bands, in the order they end.
    var bands: [Band]
    /// The whole height.
    var height: Double
    /// The phase of each server lane at the end (what the next slice starts with).
    var phases: [Int: Phase]

    /// How many characters fit between two lanes.
    static func columns(from x1: Double, to x2: Double, metrics: Metrics) -> Int {
        max(8, Int((abs(x2 - x1) - 2 * metrics.inset) / metrics.charWidth))
    }

    /// How many characters fit on one line of a row of `shape`, in a diagram `laneCount` wide.
    static func columns(for shape: Shape, laneCount: Int, metrics: Metrics = Metrics()) -> Int {
        let lanes = metrics.laneX(count: max(2, laneCount))
        func x(_ lane: Int) -> Double { lanes[min(max(lane, 0), lanes.count - 1)] }
        switch shape {
        case .arrow(let from, let to): return columns(from: x(from), to: x(to), metrics: metrics)
        case .across: return columns(from: metrics.inset, to: metrics.width - metrics.inset, metrics: metrics)
        case .block(let lane): return columns(from: x(0), to: x(max(lane, 1)), metrics: metrics)
        }
    }

    /// Places `inputs` one under another, `laneCount` lanes wide (the client's included), the
    /// server lanes starting in `phases` (lanes absent there have no connection yet).
    init(_ inputs: [Input], laneCount: Int, phases start: [Int: Phase] = [:], metrics: Metrics = Metrics()) {
        let lanes = metrics.laneX(count: max(2, laneCount))
        var rows: [Row] = []
        var bands: [Band] = []
        var open: [Int: (phase: Phase, y: Double)] = start.mapValues { ($0, 0) }
        var y = 0.0

        func close(_ lane: Int, at bottom: Double) {
            guard let current = open[lane], bottom > current.y, lane < lanes.count else { return }
            let x = min(lanes[0], lanes[lane])
            bands.append(
                Band(
                    phase: current.phase, lane: lane, x: x, y: current.y, width: abs(lanes[lane] - lanes[0]),
                    height: bottom - current.y))
        }

        for input in inputs {
            if let (lane, phase) = input.enters, lane > 0, lane < lanes.count {
                close(lane, at: y)
                open[lane] = (phase, y)
            }
            let lines = max(1, input.lines)
            let textHeight = Double(lines) * metrics.lineHeight
            let x1: Double
            let x2: Double
            var arrowY = 0.0
            var height = textHeight + 2 * metrics.rowPadding
            switch input.shape {
            case .arrow(let from, let to):
                x1 = lanes[min(max(from, 0), lanes.count - 1)]
                x2 = lanes[min(max(to, 0), lanes.count - 1)]
                // The arrow runs under its text, with room for its head.
                height += 6
                arrowY = y + height - metrics.rowPadding - 2
            case .across:
                x1 = metrics.inset
                x2 = metrics.width - metrics.inset
            case .block(let lane):
                x1 = lanes[0]
                x2 = lanes[min(max(lane, 1), lanes.count - 1)]
            }
            let left = min(x1, x2)
            let textX = left + metrics.inset
            let baselines = (0..<lines).map { y + metrics.rowPadding + metrics.lineHeight * Double($0 + 1) - 3.5 }
            rows.append(
                Row(
                    y: y, height: height, x1: x1, x2: x2, arrowY: arrowY, baselines: baselines, textX: textX,
                    columns: Self.columns(from: x1, to: x2, metrics: metrics)))
            y += height
            if let (lane, phase) = input.after, lane > 0, lane < lanes.count {
                close(lane, at: y)
                open[lane] = phase.map { ($0, y) }
            }
        }
        for lane in open.keys.sorted() { close(lane, at: y) }
        self.lanes = lanes
        self.rows = rows
        self.bands = bands
        self.height = y
        self.phases = open.mapValues(\.phase)
    }
}
