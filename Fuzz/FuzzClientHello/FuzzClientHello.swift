// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the ClientHello reader a scripted server uses to record what a client
// offered. The input is a ClientHello body as GnuTLS's handshake hook hands it over; the reader
// must never read past it, and what it returns must hold together.
import FuzzSupport
import GnuTLSNIO

/// Runs one input through ``ClientHello/parse(_:)`` and checks its invariants.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzClientHello(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let hello = ClientHello.parse(bytes) else { return 0 }
    // The fixed part alone takes 2 + 32 + 1 + 2 + 2 bytes at least.
    precondition(bytes.count >= 39, "a ClientHello of \(bytes.count) bytes")
    precondition(hello.cipherSuites.count * 2 <= bytes.count, "more suites than bytes")
    precondition(!hello.offeredVersions.isEmpty, "no version at all")
    precondition(hello.alpn.allSatisfy { !$0.isEmpty }, "an empty ALPN name")
    precondition(hello.alpn.reduce(0) { $0 + $1.utf8.count + 1 } <= bytes.count, "ALPN names longer than the input")
    if let name = hello.serverName { precondition(name.utf8.count < bytes.count, "a name longer than the input") }
    // Whatever the input, the parse is the same the second time.
    precondition(ClientHello.parse(bytes) == hello, "two parses differ")
    return 0
}

/// Runs libFuzzer on ``fuzzClientHello(_:_:)``, or replays the files named on the command line.
@main
struct Entry {
    static func main() throws {
        try FuzzDriver.run(fuzzClientHello)
    }
}
