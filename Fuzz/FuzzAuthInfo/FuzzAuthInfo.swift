// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the authinfo/netrc parser behind client-certificate look-ups.
import Foundation

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

/// Runs libFuzzer on ``fuzzAuthInfo(_:_:)`` (ci/fuzz builds with -DFUZZING), or in a plain build
/// replays the files named on the command line (a corpus or crash inputs).
@main
struct Entry {
    static func main() throws {
        #if FUZZING
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzAuthInfo))
        #else
            for path in CommandLine.arguments.dropFirst() {
                let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
                _ = bytes.withUnsafeBufferPointer { fuzzAuthInfo($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
            }
        #endif
    }
}

#if FUZZING
    /// libFuzzer's driver, for programs that keep their own `main`.
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32
    ) -> Int32
#endif
