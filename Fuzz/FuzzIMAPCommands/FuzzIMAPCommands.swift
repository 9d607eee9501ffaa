// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the IMAP session over a store holding a few messages (plain, multipart,
// message/rfc822), logged in with INBOX selected, fed any lines. The input is split into lines at
// LF; a line starting with 0x01 is handed over as a literal, 0x02 reports a store change (IDLE),
// 0x03 makes another connection append a message and expunge the first.
import FuzzSupport
import MailServers

/// The messages every run starts with.
let seedMessages: [[UInt8]] = [
    "From: Bob <bob@example.org>\r\nTo: alice@mail.test\r\nSubject: hello\r\nDate: Mon, 05 Jan 2026 12:00:00 +0000\r\n\r\nHi.\r\n",
    "From: a@b\r\nSubject: =?UTF-8?B?UsOpc3Vtw6k=?=\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
        + "Content-Type: text/plain\r\n\r\none\r\n--x\r\nContent-Type: application/octet-stream; name*=utf-8''a%20b\r\n"
        + "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--x--\r\n",
    "Subject: fwd\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n",
].map { Array($0.utf8) }

/// Runs one input through one session.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIMAPCommands(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let store = MailStore(users: ["alice": "secret"], inbox: seedMessages)
    var session = IMAPServerSession(options: MailSessionOptions(offerStartTLS: false, store: store))
    _ = session.greeting()
    _ = session.receive(line: Array("a LOGIN alice secret".utf8))
    _ = session.receive(line: Array("b SELECT INBOX".utf8))
    for line in input.split(separator: 0x0A, omittingEmptySubsequences: false) {
        var line = Array(line)
        if line.last == 0x0D { line.removeLast() }
        switch line.first {
        case 0x01: _ = session.receive(literal: Array(line.dropFirst()))
        case 0x02: _ = session.storeChanged()
        case 0x03:
            _ = try? store.append(user: "alice", mailbox: "INBOX", bytes: Array(line.dropFirst()))
            if let first = try? store.mailbox(user: "alice", name: "INBOX").entries.first {
                _ = try? store.expunge(user: "alice", mailbox: "INBOX", uids: [first.uid], requireDeletedFlag: false)
            }
        default:
            guard line.count <= 1000 else {
                _ = session.receiveOverlongLine()
                continue
            }
            _ = session.receive(line: line)
        }
        if session.isClosed { break }
    }
    return 0
}

/// Runs libFuzzer on ``fuzzIMAPCommands(_:_:)``, or replays the files named on the command line.
@main
struct Entry {
    static func main() throws {
        try FuzzDriver.run(fuzzIMAPCommands)
    }
}
