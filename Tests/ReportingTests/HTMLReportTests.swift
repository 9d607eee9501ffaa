// SPDX-License-Identifier: Apache-2.0
import Foundation
import Runner
import Scenario
import Testing

@testable import Reporting

/// How often `needle` occurs in `text`.
func occurrences(of needle: String, in text: String) -> Int {
    text.components(separatedBy: needle).count - 1
}

/// A STARTTLS scenario that fails after the handshake, with a masked AUTH line and markup in
/// the wire bytes.
func starttlsFailure() -> RunRecord {
    let file = "t/wrong.yaml"
    func step(_ line: Int) -> Step { Step(.close, at: .init(file: file, line: line, column: 5)) }
    let facts = TLSFacts(
        version: "TLS1.3", cipher: "TLS_AES_256_GCM_SHA384", group: "X25519",
        peerCertificates: [
            CertificateFacts(
                subject: "CN=mail.test", issuer: "CN=Test CA", subjectAlternativeNames: ["DNS:mail.test"],
                notBefore: Date(timeIntervalSince1970: 1_767_225_600), notAfter: Date(timeIntervalSince1970: 2_398_377_600))
        ], verified: true)
    var failure = Failure(
        .expectation, at: SourceLocation(file: file, line: 9, column: 13), "timed out after 5s waiting for the expected pattern",
        expected: "^299 ", wait: .expect, deadline: .seconds(5), tail: Array("535 no <b>&amp;</b>\r\n".utf8))
    failure.variables = ["password": "****"]
    failure.reproduce = ["gnutls-cli --starttls-proto=smtp -p 2525 127.0.0.1"]
    let events: [RunEvent] = [
        .scenarioStarted(name: "wrong", file: file),
        .serverStarted(protocol: "smtp", host: "127.0.0.1", port: 2525),
        .stepStarted(index: 0, step: step(3)),
        .connection(name: "main", event: .connected(local: "127.0.0.1:40000", remote: "127.0.0.1:2525")),
        .stepPassed(index: 0, step: step(3)),
        .stepStarted(index: 1, step: step(5)),
        .connection(name: "main", event: .sent(Array("STARTTLS\r\n".utf8), tls: false)),
        .connection(name: "main", event: .received(Array("220 go ahead\r\n".utf8), tls: false)),
        .connection(name: "main", event: .discarded(Array("250 injected\r\n".utf8))),
        .connection(name: "main", event: .handshakeStarted(serverName: "localhost")),
        .connection(name: "main", event: .tlsEstablished(facts)),
        .stepPassed(index: 1, step: step(5)),
        .stepStarted(index: 2, step: step(7)),
        .connection(name: "main", event: .sent(Array("AUTH PLAIN ****\r\n".utf8), tls: true)),
        .connection(name: "main", event: .received(Array("535 no <b>&amp;</b>\r\n".utf8), tls: true)),
        .stepFailed(index: 2, step: step(7), failure: failure),
        .scenarioFinished(
            ScenarioResult(
                name: "wrong", file: file, outcome: .failed, stepsPassed: 2, stepCount: 3, failure: failure, duration: .seconds(5),
                insecure: false)),
    ]
    var result = ScenarioResult(
        name: "wrong", file: file, outcome: .failed, stepsPassed: 2, stepCount: 3, failure: failure, duration: .seconds(5),
        insecure: false)
    result.stepDurations = [.milliseconds(1), .milliseconds(2), .seconds(5)]
    let record = ScenarioRecord(file: file, events: events, transcript: "", result: result, started: Date(timeIntervalSince1970: 0))
    return RunRecord(scenarios: [record], started: Date(timeIntervalSince1970: 0), duration: .seconds(5))
}

@Suite("sequence diagram layout")
struct SequenceLayoutTests {
    @Test("lanes spread from the client's to the right margin; rows stack with their text")
    func rowsAndLanes() {
        let metrics = SequenceLayout.Metrics()
        #expect(metrics.laneX(count: 2) == [90, 900])
        #expect(metrics.laneX(count: 3) == [90, 495, 900])
        let layout = SequenceLayout(
            [
                .init(shape: .arrow(from: 0, to: 1), lines: 1), .init(shape: .arrow(from: 1, to: 0), lines: 3),
                .init(shape: .across, lines: 1),
            ],
            laneCount: 2)
        #expect(layout.rows.count == 3)
        #expect(layout.rows[0].y == 0)
        // One line: 15 + 2 × 4 padding + 6 for the arrow.
        #expect(layout.rows[0].height == 29)
        #expect(layout.rows[1].y == 29)
        #expect(layout.rows[1].baselines.count == 3)
        #expect(layout.rows[1].x1 == 900 && layout.rows[1].x2 == 90)
        #expect(layout.rows[1].arrowY == 29 + layout.rows[1].height - 6)
        #expect(layout.rows[2].x1 == 8 && layout.rows[2].x2 == 992)
        #expect(layout.height == layout.rows.map(\.height).reduce(0, +))
        #expect(layout.bands.isEmpty)
    }

    @Test("a connection's bands: plain text, the handshake from the go-ahead, TLS after it; carried into the next slice")
    func bands() {
        let inputs: [SequenceLayout.Input] = [
            .init(shape: .across, lines: 1, enters: (1, .plaintext)),
            .init(shape: .arrow(from: 0, to: 1), lines: 1),
            .init(shape: .arrow(from: 1, to: 0), lines: 1, enters: (1, .handshake)),
            .init(shape: .block(lane: 1), lines: 4, after: (1, .tls)),
            .init(shape: .arrow(from: 0, to: 1), lines: 1),
        ]
        let layout = SequenceLayout(inputs, laneCount: 2)
        #expect(layout.bands.map(\.phase) == [.plaintext, .handshake, .tls])
        #expect(layout.bands[0].y == 0 && layout.bands[0].height == layout.rows[2].y)
        #expect(layout.bands[1].y == layout.rows[2].y)
        #expect(layout.bands[1].y + layout.bands[1].height == layout.rows[4].y)
        #expect(layout.bands[2].y + layout.bands[2].height == layout.height)
        #expect(layout.bands.allSatisfy { $0.x == 90 && $0.width == 810 })
        #expect(layout.phases == [1: .tls])
        let next = SequenceLayout([.init(shape: .across, lines: 1, after: (1, nil))], laneCount: 2, phases: layout.phases)
        #expect(next.bands.map(\.phase) == [.tls])
        #expect(next.phases.isEmpty)
    }

    @Test("long lines fold to the row's width, continuations marked")
    func folding() {
        let columns = SequenceLayout.columns(for: .arrow(from: 0, to: 1), laneCount: 2)
        #expect(columns == Int((810 - 16) / 7.0))
        let folded = ScenarioDiagram.fold([String(repeating: "a", count: 250)], columns: 100)
        #expect(folded.count == 3)
        #expect(folded[0].count == 100 && folded[1].hasPrefix("↪ ") && folded[1].count == 100)
        #expect(folded.joined().replacingOccurrences(of: "↪ ", with: "").count == 250)
    }

    @Test("a write shows its lines escaped as bytes, CR LF included; a long one is cut and counted")
    func wireLines() {
        #expect(ScenarioDiagram.wireLines(Array("a\r\nb\n\u{1}".utf8)) == ["a\\r\\n", "b\\n", "\\x01"])
        let many = Array(String(repeating: "x\r\n", count: 100).utf8)
        let lines = ScenarioDiagram.wireLines(many)
        #expect(lines.count == ScenarioDiagram.maxLines - 1)
        #expect(lines.last == "… 88 more lines, 264 bytes, not shown (300 bytes in this write)")
    }

    @Test("ports are left out in teaching mode")
    func ports() {
        #expect(ScenarioDiagram.withoutPort("127.0.0.1:40123") == "127.0.0.1")
        #expect(ScenarioDiagram.withoutPort("[::1]:25") == "[::1]")
        #expect(ScenarioDiagram.withoutPort("::1") == "::1")
        #expect(ScenarioDiagram.withoutPort("mail.test") == "mail.test")
    }
}

@Suite("load charts")
struct LoadChartTests {
    @Test("the histogram's quantiles are within a bucket of the exact ones; min and max exact")
    func quantiles() throws {
        let samples = (1...1000).map { Duration.microseconds($0 * 10) }
        let h = LatencyHistogram(samples)
        #expect(h.count == 1000)
        #expect(h.minimum == 10e-6 && h.maximum == 10e-3)
        let p50 = try #require(h.quantile(0.5))
        #expect(abs(p50 - 5e-3) / 5e-3 < 0.13)
        let p99 = try #require(h.quantile(0.99))
        #expect(abs(p99 - 9.9e-3) / 9.9e-3 < 0.13)
        #expect(h.quantile(1) == 10e-3)
        #expect(LatencyHistogram().quantile(0.5) == nil)
    }

    @Test("a million samples cost the histogram no more memory than a hundred over the same range")
    func boundedHistogram() {
        var small = LatencyHistogram()
        for i in 1...100 { small.record(.microseconds(900 + i * 2)) }
        var large = LatencyHistogram()
        for i in 0..<1_000_000 { large.record(.microseconds(900 + i % 200)) }
        #expect(large.count == 1_000_000)
        #expect(large.footprint == small.footprint)
        #expect(large.footprint < 64 << 10)
        var merged = small
        merged.add(large)
        #expect(merged.count == 1_000_100 && merged.minimum == large.minimum && merged.maximum == small.maximum)
    }

    @Test("the throughput timeline stays within its buckets however long the run")
    func timeline() {
        var t = ThroughputTimeline()
        for second in 0..<3600 { t.record(at: .seconds(second)) }
        #expect(t.counts.count <= ThroughputTimeline.maxBuckets)
        #expect(t.counts.reduce(0, +) == 3600)
        #expect(t.bucketWidth >= 3600 / Double(ThroughputTimeline.maxBuckets))
        var short = ThroughputTimeline()
        for _ in 0..<10 { short.record(at: .milliseconds(20)) }
        #expect(short.rates() == [10 / 0.05])
    }

    @Test("charts as values: one bar per bucket, one point per quantile, all inside the plot")
    func charts() {
        let h = LatencyHistogram((1...200).map { Duration.microseconds(500 + $0 * 10) })
        let bars = ChartLayout.histogram(h)
        #expect(bars.bars.count >= 10)
        #expect(bars.bars.allSatisfy { $0.y >= bars.plot.y && $0.y + $0.height <= bars.plot.y + bars.plot.height + 0.001 })
        let curve = ChartLayout.percentiles(h)
        #expect(curve.points.count == ChartLayout.quantiles.count)
        #expect(zip(curve.points, curve.points.dropFirst()).allSatisfy { $0.x < $1.x && $0.y >= $1.y })
        var t = ThroughputTimeline()
        for i in 0..<100 { t.record(at: .milliseconds(i * 10)) }
        #expect(ChartLayout.throughput(t, wall: .seconds(1)).bars.count == t.counts.count)
    }
}

@Suite("HTML report")
struct HTMLReportTests {
    @Test("one data-event element per event of the JSON report")
    func eventCount() {
        for run in [fullRun(), starttlsFailure()] {
            let html = HTMLReporter.render(run)
            let json = JSONReport(run, parleyVersion: "test")
            #expect(occurrences(of: " data-event=", in: html) == json.scenarios.map(\.events.count).reduce(0, +))
        }
    }

    @Test("the failing step in red with its place, expectation, tail and reproducer; the TLS band and the chain")
    func failure() {
        let html = HTMLReporter.render(starttlsFailure())
        #expect(html.contains("class=\"step failed\""))
        #expect(html.contains("<b>t/wrong.yaml:9:13</b>"))
        #expect(html.contains("^299 "))
        #expect(html.contains("535 no &lt;b&gt;&amp;amp;&lt;/b&gt;\\r\\n"))
        #expect(html.contains("gnutls-cli --starttls-proto=smtp -p 2525 127.0.0.1"))
        #expect(html.contains("the expect deadline of 5s passed"))
        #expect(occurrences(of: "class=\"band handshake\"", in: html) == 1)
        #expect(html.contains("class=\"band tls\""))
        #expect(html.contains("TLS established: TLS1.3 · TLS_AES_256_GCM_SHA384 · group X25519"))
        #expect(html.contains("issuer CN=Test CA"))
        #expect(html.contains("valid 2026-01-01 to 2046-01-01"))
        #expect(html.contains("DISCARDED unread: 14 plaintext bytes"))
        #expect(html.contains("AUTH PLAIN ****\\r\\n"))
    }

    @Test("self-contained: no script, no link, nothing fetched; wire bytes never become markup")
    func selfContained() {
        let html = HTMLReporter.render(starttlsFailure())
        for needle in ["<script", "<link", "@import", "url(", "src=", "http://", "https://"] {
            #expect(!html.contains(needle), "\(needle)")
        }
        #expect(!html.contains("<b>&amp;</b>"))
        #expect(html.hasPrefix("<!DOCTYPE html>"))
    }

    @Test("teaching mode: no times or ports, the comments beside their steps, the same bytes every time")
    func teaching() {
        var options = HTMLReporter.Options()
        options.teaching = true
        options.comments = ["t/wrong.yaml": [1: "What this file shows.", 5: "STARTTLS asks for TLS.\n\n  parley run x"]]
        let html = HTMLReporter.render(starttlsFailure(), options: options)
        #expect(!html.contains("40000") && !html.contains("2525\""))
        #expect(!html.contains(":2525"))
        #expect(!html.contains("1970-01-01"))
        #expect(html.contains("<p>STARTTLS asks for TLS.</p>"))
        #expect(html.contains("<pre class=\"code\">parley run x</pre>"))
        #expect(html.contains("What this file shows."))
        #expect(html == HTMLReporter.render(starttlsFailure(), options: options))
    }

    @Test("comments are found above the line they explain")
    func comments() {
        let text =
            "# yaml-language-server: $schema=x\n# Intro.\nname: x\n\nsteps:\n  # 1. Connect\n  #    first.\n  - connect:\n  - greeting:\n"
        #expect(StepComments.parse(Array(text.utf8)) == [3: "Intro.", 8: "1. Connect\n   first."])
    }

    @Test("a load report has its charts and its figures")
    func load() {
        var timeline = ThroughputTimeline()
        for i in 0..<50 { timeline.record(at: .milliseconds(i * 10)) }
        let h = LatencyHistogram((1...50).map { Duration.milliseconds($0) })
        let record = LoadRecord(
            name: "l", file: "l.yaml", sessions: 50, concurrency: 2, passed: 50, wall: .milliseconds(500), errors: [:],
            steps: [.init(keyword: "connect", location: SourceLocation(file: "l.yaml", line: 3, column: 5), latency: h)], session: h,
            timeline: timeline)
        let html = HTMLReporter.render(load: record)
        #expect(occurrences(of: "data-chart=\"histogram\"", in: html) == 2)
        #expect(occurrences(of: "data-chart=\"percentiles\"", in: html) == 2)
        #expect(occurrences(of: "data-chart=\"throughput\"", in: html) == 1)
        #expect(html.contains("100.0 sessions/s"))
        #expect(!html.contains("<script"))
    }
}
