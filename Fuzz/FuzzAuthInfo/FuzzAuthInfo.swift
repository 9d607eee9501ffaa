// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the authinfo/netrc parser behind client-certificate look-ups.
import Foundation
import FuzzSupport

@testable import NetworkStream

/// Parses one input as an authinfo file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAuthInfo(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    for entry in AuthSource.entries(text) {
        precondition(!entry.isEmpty, "an entry with no keys")
    }
    return 0
}

/// Runs libFuzzer on ``fuzzAuthInfo(_:_:)``, or replays the files named on the command line.
@main
struct Entry {
    static func main() throws {
        try FuzzDriver.run(fuzzAuthInfo)
    }
}
