// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the external TLS helper's log and standard error (gnutls-cli's report, which
// quotes the server's certificate), read by ExternalTLSLog and ExternalTLS.sessionInfo.
import Foundation
import FuzzSupport

@testable import NetworkStream

/// Feeds one input to the log reader in pieces (the first byte chooses the piece size), half of it
/// as the log and half as standard error, then reads the report's facts.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzExternalTLSLog(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let first = bytes.first else { return 0 }
    let piece = Int(first % 17) + 1
    var log = ExternalTLSLog()
    var index = 1
    var handshakeBegun = false
    while index < bytes.count {
        let end = min(bytes.count, index + piece)
        let chunk = Array(bytes[index..<end])
        if chunk.first.map({ $0 & 1 == 0 }) ?? true {
            for signal in log.logReceived(chunk) {
                switch signal {
                case .clientMode(let lines), .handshakeDone(let lines):
                    precondition(lines.count <= ExternalTLSLog.lineLimit, "more lines kept than the limit")
                    _ = ExternalTLS.sessionInfo(report: lines, serverName: "localhost", chainFile: nil)
                }
            }
        } else {
            log.stderrReceived(chunk)
        }
        if !handshakeBegun, index > bytes.count / 2 {
            log.beginHandshake()
            handshakeBegun = true
        }
        index = end
    }
    _ = log.logEnded()
    precondition(log.lines.count <= ExternalTLSLog.lineLimit, "more lines kept than the limit")
    precondition(log.lines.allSatisfy { $0.utf8.count <= ExternalTLSLog.lineLengthLimit * 3 }, "a line over its bound")
    _ = log.said
    _ = log.couldNotConnect
    _ = ExternalTLS.sessionInfo(report: log.report, serverName: "localhost", chainFile: nil)
    return 0
}

/// Runs libFuzzer on ``fuzzExternalTLSLog(_:_:)``, or replays the files named on the command line.
@main
struct Entry {
    static func main() throws {
        try FuzzDriver.run(fuzzExternalTLSLog)
    }
}
