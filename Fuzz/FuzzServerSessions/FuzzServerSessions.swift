// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the fake servers' dialog state machines (SMTP, IMAP, POP3) fed any lines.
// The first byte picks the protocol and options; the rest is split into lines at LF, and a line
// starting with 0x01 is handed over as an IMAP literal or a TLS start instead.
import Foundation
import FuzzSupport
import MailServers

/// Runs one input through one session.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzServerSessions(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let selector = input.first else { return 0 }
    var options = MailSessionOptions(hostname: "mail.test")
    options.offerStartTLS = selector & 0x04 != 0
    options.requireTLS = selector & 0x08 != 0
    options.preauth = selector & 0x10 != 0
    options.refuseStartTLS = selector & 0x20 != 0
    // SMTP as serve all runs it: unknown recipients refused, and (submission) AUTH before MAIL.
    options.rejectUnknownRecipients = selector & 0x40 != 0
    options.requireAuth = selector & 0x80 != 0
    options.maxMessageSize = 4096
    let lines = input.dropFirst().split(separator: 0x0A, omittingEmptySubsequences: false).map { Array($0) + [0x0A] }
    switch selector % 3 {
    case 0:
        var session = SMTPServerSession(options: options)
        _ = session.greeting()
        for line in lines {
            if line.first == 0x01 {
                session.tlsStarted()
            } else if line.count > 1000 {
                _ = session.receiveOverlongLine()
            } else {
                _ = session.receive(line: line)
            }
        }
    case 1:
        var session = IMAPServerSession(options: options)
        _ = session.greeting()
        for line in lines {
            if line.first == 0x01 {
                _ = session.receive(literal: Array(line.dropFirst()))
            } else if line.first == 0x02 {
                session.tlsStarted()
            } else {
                _ = session.receive(line: line)
            }
        }
    default:
        var session = POP3ServerSession(options: options)
        _ = session.greeting()
        for line in lines {
            if line.first == 0x01 { session.tlsStarted() } else { _ = session.receive(line: line) }
        }
    }
    return 0
}

/// Runs libFuzzer on ``fuzzServerSessions(_:_:)``, or replays the files named on the command line.
@main
struct Entry {
    static func main() throws {
        try FuzzDriver.run(fuzzServerSessions)
    }
}
