// SPDX-License-Identifier: Apache-2.0
public import Runner

/// One line of text about a run for people, as the transcript marks it: information (`===`) or a
/// problem (`***`).
public struct ReportLine: Sendable, Equatable {
    /// What the line says.
    public enum Kind: Sendable, Equatable {
        /// Something that happened (`=== `).
        case info
        /// Something that is wrong or not checked (`*** `).
        case problem
    }

    /// Information or a problem.
    public var kind: Kind
    /// The words, without a mark or a line end.
    public var text: String

    /// Creates a line.
    public init(_ kind: Kind, _ text: String) {
        self.kind = kind
        self.text = text
    }

    /// The transcript's mark for the line: `===` or `***`.
    public var mark: String { kind == .info ? "===" : "***" }

    /// The line as the transcript prints it without colour: mark, space, words (no line end).
    public var marked: String { mark + " " + text }
}

extension TLSFacts {
    /// The facts of the session for people, one line each: version and cipher (with group and
    /// ALPN), the peer's leaf certificate and its names, whether the chain verified (a problem
    /// when not), and the client certificate. The console transcript and `parley probe`'s text
    /// output both print these, so the wording is the same in both.
    public var summaryLines: [ReportLine] {
        var lines = [
            ReportLine(
                .info,
                "TLS started: \(version), \(cipher)" + (group.map { ", group \($0)" } ?? "") + (alpn.map { ", ALPN \($0)" } ?? "")
            )
        ]
        if let leaf = peerCertificates.first {
            lines.append(ReportLine(.info, "peer certificate: \(leaf.subject) (issuer \(leaf.issuer); valid until \(leaf.validUntil))"))
            if !leaf.subjectAlternativeNames.isEmpty {
                lines.append(ReportLine(.info, "peer names: \(leaf.subjectAlternativeNames.joined(separator: ", "))"))
            }
        }
        if serverSide {
            lines.append(ReportLine(.info, serverName.map { "the client sent SNI \($0)" } ?? "the client sent no SNI"))
            if let offered = clientOffered {
                let alpn = offered.alpn.isEmpty ? "no ALPN" : "ALPN " + offered.alpn.joined(separator: ", ")
                lines.append(
                    ReportLine(
                        .info,
                        "the client offered \(offered.versions.joined(separator: ", ")), \(offered.cipherSuiteCount) cipher suites, \(alpn)"
                    ))
            }
            if clientCertificateRequested, clientCertificateSent {
                lines.append(
                    verified
                        ? ReportLine(.info, "client certificate verified")
                        : ReportLine(
                            .problem,
                            "client certificate NOT verified: \(verificationProblems.isEmpty ? "not checked" : verificationProblems.joined(separator: ", "))"
                        ))
            }
        } else if verified {
            lines.append(ReportLine(.info, "peer certificate verified (chain and host name)"))
        } else {
            let why = verificationProblems.isEmpty ? "not checked" : verificationProblems.joined(separator: ", ")
            lines.append(ReportLine(.problem, "peer certificate NOT verified: \(why)"))
        }
        lines.append(
            ReportLine(
                .info,
                "client certificate " + (clientCertificateRequested ? "requested" : "not requested") + " and "
                    + (clientCertificateSent ? "sent" : "not sent")
            )
        )
        return lines
    }
}
