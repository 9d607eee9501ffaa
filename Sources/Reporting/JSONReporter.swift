// SPDX-License-Identifier: Apache-2.0
import Foundation
import Runner
import Scenario

/// Writes the whole run as one JSON document: a summary, and per scenario its result and every
/// event. Wire bytes appear twice: as `text` (readable, with `\xHH` for bytes that are not
/// printable UTF-8) and as `base64` (exact).
public enum JSONReporter {
    /// The JSON document for a run, with sorted keys, ending in a newline.
    public static func render(_ run: RunRecord, parleyVersion: String, interruption: String? = nil) -> String {
        let counts = run.counts
        let document: [String: Any] = [
            "interrupted": interruption ?? NSNull(),
            "parley": parleyVersion,
            "started": JUnitReporter.timestamp(run.started),
            "duration": run.duration.seconds,
            "summary": [
                "scenarios": run.scenarios.count,
                "passed": counts.passed,
                "failed": counts.failed,
                "errors": counts.errors,
                "skipped": counts.skipped,
            ],
            "scenarios": run.scenarios.map(scenario),
        ]
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: document,
                options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            )
        else { return "{}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func scenario(_ record: ScenarioRecord) -> [String: Any] {
        let result = record.result
        return [
            "name": result.name,
            "file": record.file,
            "outcome": result.outcome.rawValue,
            "started": JUnitReporter.timestamp(record.started),
            "duration": result.duration.seconds,
            "steps": result.stepCount,
            "steps_passed": result.stepsPassed,
            "insecure": result.insecure,
            "tags": result.tags,
            "skip_reason": result.skipReason ?? NSNull(),
            "failure": result.failure.map(failure) ?? NSNull(),
            "attempts": record.attempts,
            "earlier_attempts": record.earlierAttempts.map { earlier -> [String: Any] in
                [
                    "outcome": earlier.outcome.rawValue,
                    "duration": earlier.duration.seconds,
                    "failure": earlier.failure.map(failure) ?? NSNull(),
                ]
            },
            "events": record.events.compactMap(event),
        ]
    }

    static func failure(_ failure: Failure) -> [String: Any] {
        [
            "kind": failure.kind.rawValue,
            "location": location(failure.location),
            "message": failure.message,
            "expected": failure.expected ?? NSNull(),
            "actual": failure.actual ?? NSNull(),
            "wait": failure.wait?.rawValue ?? NSNull(),
            "deadline": failure.deadline?.seconds ?? NSNull(),
            "tail": failure.tail.map(bytes) ?? NSNull(),
            "variables": failure.variables,
            "reproduce": failure.reproduce,
        ]
    }

    static func location(_ location: SourceLocation) -> [String: Any] {
        ["file": location.file, "line": location.line, "column": location.column]
    }

    static func bytes(_ bytes: [UInt8]) -> [String: Any] {
        ["text": ByteText.escaped(bytes), "base64": Data(bytes).base64EncodedString(), "length": bytes.count]
    }

    static func step(_ step: Step, index: Int) -> [String: Any] {
        ["index": index, "keyword": step.keyword, "location": location(step.location)]
    }

    static func event(_ event: RunEvent) -> [String: Any]? {
        switch event {
        case .scenarioStarted, .scenarioFinished:
            return nil
        case .serverStarted(let proto, let host, let port):
            return ["type": "server-started", "protocol": proto, "host": host, "port": port]
        case .stepStarted(let index, let s):
            return ["type": "step-started", "step": step(s, index: index)]
        case .stepPassed(let index, let s):
            return ["type": "step-passed", "step": step(s, index: index)]
        case .stepFailed(let index, let s, let f):
            return ["type": "step-failed", "step": step(s, index: index), "failure": failure(f)]
        case .note(let text):
            return ["type": "note", "text": text]
        case .connection(let name, let event):
            var out = connection(event)
            out["connection"] = name
            return out
        }
    }

    static func connection(_ event: ConnectionEvent) -> [String: Any] {
        switch event {
        case .connected(let local, let remote):
            return ["type": "connected", "local": local, "remote": remote]
        case .sent(let data, let tls):
            return ["type": "sent", "tls": tls, "data": bytes(data)]
        case .received(let data, let tls):
            return ["type": "received", "tls": tls, "data": bytes(data)]
        case .handshakeStarted(let name):
            return ["type": "handshake-started", "server_name": name ?? NSNull()]
        case .tlsEstablished(let session):
            return ["type": "tls-established", "tls": tls(session)]
        case .discarded(let data):
            return ["type": "discarded", "data": bytes(data)]
        case .closed(let byPeer):
            return ["type": "closed", "by_peer": byPeer]
        }
    }

    static func tls(_ s: TLSFacts) -> [String: Any] {
        [
            "version": s.version,
            "cipher": s.cipher,
            "group": s.group ?? NSNull(),
            "alpn": s.alpn ?? NSNull(),
            "server_name": s.serverName ?? NSNull(),
            "verified": s.verified,
            "verification": s.verificationProblems,
            "client_certificate_requested": s.clientCertificateRequested,
            "client_certificate_sent": s.clientCertificateSent,
            "resumed": s.resumed,
            "peer": s.peerCertificates.map { c -> [String: Any] in
                [
                    "subject": c.subject,
                    "issuer": c.issuer,
                    "san": c.subjectAlternativeNames,
                    "not_before": JUnitReporter.timestamp(c.notBefore),
                    "not_after": JUnitReporter.timestamp(c.notAfter),
                    "sha256": c.sha256Fingerprint,
                    "serial": c.serialNumber,
                ]
            },
        ]
    }
}
