// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the scenario loader must turn any bytes into a scenario or diagnostics,
// never crash. Built by ci/fuzz with -sanitize=fuzzer; a plain build replays files instead.
import Foundation
import FuzzSupport
import Scenario

/// Loads one input as a scenario file.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzScenarioLoader(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let yaml = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? ScenarioLoader().load(yaml: yaml, file: "fuzz.yaml")
    return 0
}

/// Runs libFuzzer on ``fuzzScenarioLoader(_:_:)``, or replays the files named on the command line.
@main
struct Entry {
    static func main() throws {
        try FuzzDriver.run(fuzzScenarioLoader)
    }
}
