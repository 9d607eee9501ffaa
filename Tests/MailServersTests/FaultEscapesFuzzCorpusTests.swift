// SPDX-License-Identifier: Apache-2.0
import Foundation
import ParleyTestSupport
import Testing

@testable import MailServers

/// Inputs found while fuzzing the escape decoders, and the server-session corpus replayed
/// (Fuzz/corpus/FuzzServerSessions).
@Suite("fault knob escapes and server sessions: fuzz corpus")
struct FaultEscapesFuzzCorpusTests {
    @Test("\\x with a sign is not an escape in inject-after-starttls text")
    func signedHex() {
        #expect(MailServerFaults.unescape(#"\x+1"#) == Array(#"\x+1"#.utf8))
        #expect(MailServerFaults.unescape(#"\x-0"#) == Array(#"\x-0"#.utf8))
        #expect(MailServerFaults.unescape(#"\x41\r\n"#) == [0x41, 0x0D, 0x0A])
    }

    @Test("the session corpus replays through all three dialogs without a crash")
    func sessions() throws {
        let folder = SourceTree.root.appendingPathComponent("Fuzz/corpus/FuzzServerSessions")
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            let input = [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
            let lines = input.dropFirst().split(separator: 0x0A, omittingEmptySubsequences: false).map { Array($0) + [0x0A] }
            var smtp = SMTPServerSession(options: MailSessionOptions())
            var imap = IMAPServerSession(options: MailSessionOptions())
            var pop3 = POP3ServerSession(options: MailSessionOptions())
            for line in lines {
                _ = smtp.receive(line: line)
                _ = imap.receive(line: line)
                _ = pop3.receive(line: line)
            }
        }
    }
}
