// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyTestSupport
import Scenario
import Testing

/// The keys of client cases: `respond`, `client-exit`, and the server side's `inject` and
/// `handshake: refused | either`.
@Suite("Scenario loader: client cases")
struct ClientCaseLoaderTests {
    @Test("respond reads its rules in both forms, with then-exchanges, fail, silence and end")
    func respondForms() throws {
        let scenario = try ScenarioLoader().load(
            yaml: """
                client-exit: failure
                steps:
                  - respond:
                      - {when: '^QUIT', send: '221 bye', end: true}
                      - {when: '^DATA', send: '354 go on', then: '\\r\\n\\.\\r\\n', after: ['250 ok']}
                  - respond:
                      timeout: 2s
                      limit: 5
                      on-close: 'left early'
                      rules:
                        - when: '^AUTH LOGIN\\r\\n'
                          silence: 500ms
                          send: '334 VXNlcm5hbWU6'
                          then: [{expect: '[^\\n]*\\n', send: '334 UGFzc3dvcmQ6'}, {expect: '[^\\n]*\\n', send: '235 ok'}]
                        - {when: '^(?<c>[A-Z]+)', fail: 'sent ${c}'}
                """, file: "t.yaml")
        #expect(scenario.clientExit == .failure)
        #expect(scenario.clientExitLocation?.line == 1)
        guard case .respond(let first) = scenario.steps[0].kind, case .respond(let second) = scenario.steps[1].kind else {
            Issue.record("expected two respond steps")
            return
        }
        #expect(first.rules.count == 2)
        #expect(first.rules[0].end && first.rules[0].when.caseInsensitive)
        #expect(first.rules[1].then.count == 1 && first.rules[1].then[0].send.map(\.raw) == ["250 ok"])
        #expect(second.timeout == .seconds(2) && second.limit == 5 && second.onClose?.raw == "left early")
        #expect(second.rules[0].silence == .milliseconds(500))
        #expect(second.rules[0].then.map(\.send.first?.raw) == ["334 UGFzc3dvcmQ6", "235 ok"])
        #expect(second.rules[1].fail?.raw == "sent ${c}")
    }

    @Test("respond's mistakes are reported where they are written")
    func respondMistakes() {
        let cases: [(String, String)] = [
            ("steps:\n  - respond: []\n", "'respond' needs at least one rule"),
            ("steps:\n  - respond:\n      - {send: '250 ok'}\n", "a rule of 'respond' needs 'when'"),
            ("steps:\n  - respond:\n      - {when: '^A', after: '250 ok'}\n", "'after' goes with 'then'"),
            ("steps:\n  - respond:\n      - {when: '^A', send: x, fail: 'no'}\n", "a rule with 'fail' sends nothing"),
            ("steps:\n  - respond:\n      - {when: '^A', sned: x}\n", "unknown key 'sned'"),
            ("steps:\n  - respond: {timeout: 1s}\n", "'respond' needs 'rules'"),
            ("steps:\n  - respond: {rules: [{when: '^A'}], limit: 0}\n", "'limit' is at least 1"),
        ]
        for (yaml, words) in cases {
            let found = diagnostics(yaml)
            #expect(found.contains { $0.message.contains(words) && $0.location?.line ?? 0 >= 2 }, "\(words): \(found)")
        }
    }

    @Test("client-exit takes success, failure or any")
    func clientExit() {
        let found = diagnostics("client-exit: fail\nsteps:\n  - close:\n")
        #expect(found.first?.message.contains("unknown 'client-exit' value 'fail'") == true, "\(found)")
        #expect(found.first?.location?.line == 1)
    }

    @Test("inject and handshake: refused | either belong to the server side of starttls")
    func serverSideKeys() throws {
        let scenario = try ScenarioLoader().load(
            yaml: """
                steps:
                  - starttls: {certificate: s.pem, key: k.pem, go-ahead: '220 go', inject: "250 x\\r\\n", handshake: refused}
                  - starttls: {certificate: s.pem, key: k.pem, handshake: either}
                """, file: "t.yaml")
        guard case .starttls(let refused) = scenario.steps[0].kind, case .starttls(let either) = scenario.steps[1].kind else {
            Issue.record("expected two starttls steps")
            return
        }
        #expect(refused.server?.inject?.raw == "250 x\r\n")
        #expect(refused.clientRefusal == .required && refused.expectFailure)
        #expect(either.clientRefusal == .allowed && !either.expectFailure)
        let clientSide = diagnostics("steps:\n  - starttls: {handshake: refused}\n")
        #expect(clientSide.first?.message.contains("is for the server side of 'starttls'") == true, "\(clientSide)")
        let injectAlone = diagnostics("steps:\n  - starttls: {inject: 'x'}\n")
        #expect(injectAlone.first?.message.contains("needs 'certificate' and 'key'") == true, "\(injectAlone)")
    }

    @Test("the bundled client suites load, and each case says how its client must exit")
    func bundledSuites() throws {
        for protocolName in ["smtp", "imap", "pop3"] {
            let folder = SourceTree.path("suites/clients/\(protocolName)")
            let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".yaml") }
            #expect(files.count >= 9, "\(protocolName): \(files)")
            for file in files {
                let scenario = try ScenarioLoader().load(path: folder + "/" + file)
                #expect(scenario.clientExit != nil, "\(file) says nothing about the client's exit")
                #expect(scenario.tags.contains("client") && scenario.tags.contains(protocolName), "\(file)")
            }
        }
    }
}
