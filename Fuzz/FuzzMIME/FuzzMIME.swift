// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: MIME structure parsing of any bytes as a message, with every view IMAP and
// the HTTP API take of it (BODYSTRUCTURE, BODY, ENVELOPE, decoded bodies, file names).
import FuzzSupport
import MailServers

/// Parses one input and renders it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMIME(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let part = MIMEPart(parsing: input)
    _ = part.imapBodyStructure(extensible: true)
    _ = part.imapBodyStructure(extensible: false)
    _ = part.imapEnvelope
    var stack = [part]
    var count = 0
    while let next = stack.popLast() {
        count += 1
        precondition(count <= MIMEPart.maximumParts, "more parts than the bound")
        _ = next.decodedBody()
        _ = next.filename
        _ = next.bodyLines
        stack += next.parts
        if let enclosed = next.message { stack.append(enclosed) }
    }
    return 0
}

/// Runs libFuzzer on ``fuzzMIME(_:_:)``, or replays the files named on the command line.
@main
struct Entry {
    static func main() throws {
        try FuzzDriver.run(fuzzMIME)
    }
}
