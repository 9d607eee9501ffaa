// SPDX-License-Identifier: Apache-2.0
import Foundation
import Histogram
public import Scenario

/// Latencies in an HdrHistogram (microseconds, three significant digits, resizing itself to the
/// slowest sample): any percentile is within 0.1 % of the exact value (and within 1 µs below
/// 2 ms), the exact minimum and maximum are kept besides, and a run of a million sessions costs
/// the same few tens of kilobytes as a run of ten. The charts group the values in logarithmic
/// buckets (20 a decade from 1 µs to 100 s).
public struct LatencyHistogram: Sendable, Equatable {
    /// Display buckets per decade.
    static let perDecade = 20
    /// The lowest display edge, in seconds.
    static let lowest = 1e-6
    /// How many decades the display buckets cover (1 µs to 100 s); slower samples go in the last.
    static let decades = 8

    /// The samples, in microseconds.
    private var values = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
    /// How many samples.
    public private(set) var count = 0
    /// The fastest sample, in seconds.
    public private(set) var minimum: Double?
    /// The slowest sample, in seconds.
    public private(set) var maximum: Double?

    /// An empty histogram.
    public init() {}

    /// A histogram of `samples`.
    public init(_ samples: some Sequence<Duration>) {
        for sample in samples { record(sample) }
    }

    /// Counts one sample.
    public mutating func record(_ sample: Duration) {
        let seconds = Swift.max(sample.seconds, 0)
        values.record(UInt64((seconds * 1e6).rounded()))
        count += 1
        minimum = Swift.min(minimum ?? seconds, seconds)
        maximum = Swift.max(maximum ?? seconds, seconds)
    }

    /// Adds another histogram's samples to this one.
    public mutating func add(_ other: LatencyHistogram) {
        guard other.count > 0 else { return }
        values.add(other.values)
        count += other.count
        minimum = Swift.min(minimum ?? .infinity, other.minimum ?? .infinity)
        maximum = Swift.max(maximum ?? 0, other.maximum ?? 0)
    }

    /// The histogram's memory, in bytes (it grows with the slowest sample, never with the count).
    public var footprint: Int { values.estimatedFootprintInBytes }

    /// The count of each display bucket (``perDecade`` a decade from ``lowest``).
    public var counts: [Int] {
        var counts = [Int](repeating: 0, count: Self.perDecade * Self.decades)
        for value in values.recordedValues() {
            counts[Self.bucket(Double(value.value) / 1e6)] += Int(value.count)
        }
        return counts
    }

    /// The display bucket a value (in seconds) falls in.
    static func bucket(_ seconds: Double) -> Int {
        guard seconds > lowest else { return 0 }
        let index = Int((log10(seconds / lowest) * Double(perDecade)).rounded(.down))
        return Swift.min(Swift.max(index, 0), perDecade * decades - 1)
    }

    /// A display bucket's lower edge, in seconds.
    static func lowerEdge(_ bucket: Int) -> Double {
        lowest * pow(10, Double(bucket) / Double(perDecade))
    }

    /// The value at quantile `q` (0...1), in seconds: HdrHistogram's value at that percentile
    /// (the highest value equivalent to the nearest-rank sample), kept within the exact minimum
    /// and maximum; nil when empty.
    public func quantile(_ q: Double) -> Double? {
        guard let minimum, let maximum, count > 0 else { return nil }
        if q <= 0 { return minimum }
        if q >= 1 { return maximum }
        let value = Double(values.valueAtPercentile(q * 100)) / 1e6
        return Swift.min(Swift.max(value, minimum), maximum)
    }

    /// The value at quantile `q` as a duration; nil when empty.
    public func duration(at q: Double) -> Duration? {
        quantile(q).map { Duration.nanoseconds(Int64(($0 * 1e9).rounded())) }
    }
}

/// Sessions finished over the run, in at most ``maxBuckets`` buckets of equal width: the width
/// starts at 50 ms and doubles (merging neighbours) whenever the run outgrows them, so a run of
/// any length costs the same memory.
public struct ThroughputTimeline: Sendable, Equatable {
    /// The most buckets kept.
    public static let maxBuckets = 120
    /// Each bucket's width, in seconds.
    public private(set) var bucketWidth = 0.05
    /// Sessions finished in each bucket, from the run's start.
    public private(set) var counts: [Int] = []

    /// An empty timeline.
    public init() {}

    /// Counts a session that finished `offset` after the run began.
    public mutating func record(at offset: Duration) {
        var index = Int((Swift.max(offset.seconds, 0) / bucketWidth).rounded(.down))
        while index >= Self.maxBuckets {
            var merged: [Int] = []
            var i = 0
            while i < counts.count {
                merged.append(counts[i] + (i + 1 < counts.count ? counts[i + 1] : 0))
                i += 2
            }
            counts = merged
            bucketWidth *= 2
            index /= 2
        }
        if counts.count <= index { counts += [Int](repeating: 0, count: index + 1 - counts.count) }
        counts[index] += 1
    }

    /// Sessions per second in each bucket; the last one over the part of it the run lasted
    /// (`wall`), so a run's short tail does not look like a slump.
    public func rates(wall: Duration? = nil) -> [Double] {
        counts.enumerated().map { index, n in
            var width = bucketWidth
            if index == counts.count - 1, let wall {
                let part = wall.seconds - Double(index) * bucketWidth
                if part > bucketWidth / 10 { width = Swift.min(bucketWidth, part) }
            }
            return Double(n) / width
        }
    }
}

/// The geometry of one chart, as values: the plot area, bars or a curve, and the axes' ticks.
struct ChartLayout: Equatable {
    struct Rect: Equatable {
        var x: Double
        var y: Double
        var width: Double
        var height: Double
    }

    struct Point: Equatable {
        var x: Double
        var y: Double
    }

    struct Tick: Equatable {
        /// Along its axis (x for the x axis, y for the y axis).
        var position: Double
        var label: String
    }

    /// The whole size.
    var width: Double
    var height: Double
    /// The area inside the axes.
    var plot: Rect
    /// Bars, left to right.
    var bars: [Rect] = []
    /// What each bar stands for, for its tooltip.
    var barLabels: [String] = []
    /// A curve, left to right.
    var points: [Point] = []
    /// What each point stands for.
    var pointLabels: [String] = []
    var xTicks: [Tick] = []
    var yTicks: [Tick] = []

    static let margins = (left: 64.0, right: 16.0, top: 12.0, bottom: 34.0)

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
        plot = Rect(
            x: Self.margins.left, y: Self.margins.top, width: width - Self.margins.left - Self.margins.right,
            height: height - Self.margins.top - Self.margins.bottom)
    }

    /// A value's height on a y axis from 0 to `top`.
    func y(_ value: Double, top: Double) -> Double {
        plot.y + plot.height - (top > 0 ? value / top * plot.height : 0)
    }

    /// Three ticks (0, half, top) on the y axis.
    mutating func yAxis(top: Double, label: (Double) -> String) {
        yTicks = [0, 0.5, 1].map { Tick(position: y(top * $0, top: top), label: label(top * $0)) }
    }

    /// The latency histogram: one bar per bucket from the fastest sample's to the slowest's.
    static func histogram(_ h: LatencyHistogram, width: Double = 460, height: Double = 200) -> ChartLayout {
        var chart = ChartLayout(width: width, height: height)
        let counts = h.counts
        guard let first = counts.firstIndex(where: { $0 > 0 }), let last = counts.lastIndex(where: { $0 > 0 }) else {
            return chart
        }
        // At least ten buckets wide, so one fast step is not one bar filling the chart.
        let low = max(0, min(first, last - 9))
        let high = max(last, low + 9)
        let n = high - low + 1
        let step = chart.plot.width / Double(n)
        let top = Double(counts[low...min(high, counts.count - 1)].max() ?? 1) * 1.1
        for bucket in low...high {
            let count = bucket < counts.count ? Double(counts[bucket]) : 0
            let x = chart.plot.x + step * Double(bucket - low)
            let y = chart.y(count, top: top)
            chart.bars.append(Rect(x: x + 0.5, y: y, width: max(step - 1, 0.5), height: chart.plot.y + chart.plot.height - y))
            chart.barLabels.append(
                "\(Int(count)) in \(milliseconds(LatencyHistogram.lowerEdge(bucket)))–\(milliseconds(LatencyHistogram.lowerEdge(bucket + 1)))"
            )
        }
        let every = max(1, n / 5)
        for bucket in stride(from: low, through: high + 1, by: every) {
            chart.xTicks.append(
                Tick(position: chart.plot.x + step * Double(bucket - low), label: milliseconds(LatencyHistogram.lowerEdge(bucket))))
        }
        chart.yAxis(top: top) { String(Int($0.rounded())) }
        return chart
    }

    /// The quantiles charted by ``percentiles(_:width:height:)``, with their labels.
    static let quantiles: [(q: Double, label: String)] = [
        (0, "min"), (0.5, "p50"), (0.75, "p75"), (0.9, "p90"), (0.95, "p95"), (0.99, "p99"), (0.999, "p99.9"), (1, "max"),
    ]

    /// The percentile curve: latency against quantile on a "nines" axis (p50, p90, p99, p99.9
    /// equally spaced), so the tail that a mean hides gets the room.
    static func percentiles(_ h: LatencyHistogram, width: Double = 460, height: Double = 200) -> ChartLayout {
        var chart = ChartLayout(width: width, height: height)
        guard h.count > 0, let maximum = h.maximum else { return chart }
        func nines(_ q: Double) -> Double { q >= 1 ? 3.5 : q <= 0 ? -0.3 : -log10(1 - q) }
        let lowX = nines(0)
        let highX = nines(1)
        func x(_ q: Double) -> Double { chart.plot.x + (nines(q) - lowX) / (highX - lowX) * chart.plot.width }
        let top = maximum > 0 ? maximum * 1.05 : 1
        for (q, label) in quantiles {
            guard let value = h.quantile(q) else { continue }
            chart.points.append(Point(x: x(q), y: chart.y(value, top: top)))
            chart.pointLabels.append("\(label) \(milliseconds(value))")
            chart.xTicks.append(Tick(position: x(q), label: label))
        }
        chart.yAxis(top: top, label: milliseconds)
        return chart
    }

    /// Sessions per second over the run, one bar per bucket of the timeline.
    static func throughput(_ t: ThroughputTimeline, wall: Duration, width: Double = 940, height: Double = 180) -> ChartLayout {
        var chart = ChartLayout(width: width, height: height)
        let rates = t.rates(wall: wall)
        guard !rates.isEmpty else { return chart }
        let top = max(rates.max() ?? 1, 1e-9) * 1.1
        let step = chart.plot.width / Double(rates.count)
        for (index, rate) in rates.enumerated() {
            let y = chart.y(rate, top: top)
            chart.bars.append(
                Rect(
                    x: chart.plot.x + step * Double(index) + 0.5, y: y, width: max(step - 1, 0.5),
                    height: chart.plot.y + chart.plot.height - y))
            let from = Double(index) * t.bucketWidth
            chart.barLabels.append(String(format: "%.1f sessions/s at %.1f–%.1f s", rate, from, from + t.bucketWidth))
        }
        let every = max(1, rates.count / 6)
        for index in stride(from: 0, through: rates.count, by: every) {
            chart.xTicks.append(
                Tick(position: chart.plot.x + step * Double(index), label: String(format: "%.1f s", Double(index) * t.bucketWidth)))
        }
        chart.yAxis(top: top) { String(format: "%.0f/s", $0) }
        return chart
    }

    /// Seconds as milliseconds for an axis: `0.042 ms`, `1.5 ms`, `120 ms`, `2.5 s`.
    static func milliseconds(_ seconds: Double) -> String {
        let ms = seconds * 1000
        if ms == 0 { return "0" }
        if ms >= 1000 { return String(format: "%.2g s", seconds) }
        if ms >= 100 { return String(format: "%.0f ms", ms) }
        if ms >= 1 { return String(format: "%.1f ms", ms) }
        return String(format: "%.3f ms", ms)
    }
}

/// What a load run (`parley run --repeat N --concurrency C`) leaves for its HTML report: the
/// figures, and the latencies and completions in bounded memory.
public struct LoadRecord: Sendable {
    /// One step's latencies.
    public struct StepLatency: Sendable {
        public var keyword: String
        public var location: SourceLocation
        public var latency: LatencyHistogram

        public init(keyword: String, location: SourceLocation, latency: LatencyHistogram) {
            self.keyword = keyword
            self.location = location
            self.latency = latency
        }
    }

    /// The scenario's name and file.
    public var name: String
    public var file: String
    /// Sessions run, at once, and passed.
    public var sessions: Int
    public var concurrency: Int
    public var passed: Int
    /// The run's wall time.
    public var wall: Duration
    /// Failed sessions by class (`expectation (expect)`, ...).
    public var errors: [String: Int]
    /// Per step, in scenario order.
    public var steps: [StepLatency]
    /// Whole sessions that passed.
    public var session: LatencyHistogram
    /// When sessions finished.
    public var timeline: ThroughputTimeline
    /// Remarks for the summary (the socket options, for one).
    public var notes: [String] = []

    public init(
        name: String, file: String, sessions: Int, concurrency: Int, passed: Int, wall: Duration, errors: [String: Int],
        steps: [StepLatency], session: LatencyHistogram, timeline: ThroughputTimeline
    ) {
        self.name = name
        self.file = file
        self.sessions = sessions
        self.concurrency = concurrency
        self.passed = passed
        self.wall = wall
        self.errors = errors
        self.steps = steps
        self.session = session
        self.timeline = timeline
    }
}
