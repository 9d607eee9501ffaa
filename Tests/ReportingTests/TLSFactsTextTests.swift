// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyTestSupport
import Reporting
import Runner
import Testing

@Suite("TLS facts as text")
struct TLSFactsTextTests {
    @Test("summary lines: the transcript's words, a problem when not verified, names only when there are some")
    func lines() {
        let facts = TLSFacts(
            version: "TLS1.2", cipher: "TLS_X", alpn: "imap",
            peerCertificates: [
                CertificateFacts(
                    subject: "CN=a", issuer: "CN=b", notBefore: Date(timeIntervalSince1970: 0),
                    notAfter: Date(timeIntervalSince1970: 2_000_000_000))
            ],
            verificationProblems: ["signer not found", "expired"], clientCertificateRequested: true
        )
        #expect(
            facts.summaryLines.map(\.marked) == [
                "=== TLS started: TLS1.2, TLS_X, ALPN imap",
                "=== peer certificate: CN=a (issuer CN=b; valid until 2033-05-18)",
                "*** peer certificate NOT verified: signer not found, expired",
                "=== client certificate requested and not sent",
            ])
        #expect(
            TLSFacts(version: "TLS1.3", cipher: "C").summaryLines.map(\.marked) == [
                "=== TLS started: TLS1.3, C",
                "*** peer certificate NOT verified: not checked",
                "=== client certificate not requested and not sent",
            ])
    }

    @Test("the transcript prints the summary lines as they are")
    func transcript() {
        let facts = TLSFacts(version: "TLS1.3", cipher: "C", group: "X25519", verified: true, clientCertificateSent: true)
        let sink = Sink()
        ConsoleReporter(colour: false) { sink.write($0) }.handle(.connection(name: "main", event: .tlsEstablished(facts)))
        #expect(sink.all == facts.summaryLines.map { $0.marked + "\n" }.joined())
    }
}
