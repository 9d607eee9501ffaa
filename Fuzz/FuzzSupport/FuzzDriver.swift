// SPDX-License-Identifier: Apache-2.0
// The entry point every libFuzzer target of Parley shares.
import Foundation

/// Runs one fuzz target: under libFuzzer (ci/fuzz builds with -DFUZZING) it hands control to
/// libFuzzer's driver; in a plain build it replays the files named on the command line (a corpus
/// or crash inputs), so the targets build and run with the rest of the package.
public enum FuzzDriver {
    /// A target as libFuzzer calls it.
    public typealias Target = @convention(c) (UnsafePointer<UInt8>, Int) -> Int32

    /// Runs `target` and exits.
    public static func run(_ target: Target) throws -> Never {
        #if FUZZING
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(llvmFuzzerRunDriver(&argc, &argv, target))
        #else
            for path in CommandLine.arguments.dropFirst() {
                let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
                _ = bytes.withUnsafeBufferPointer { target($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
            }
            exit(0)
        #endif
    }
}

#if FUZZING
    /// libFuzzer's driver, for programs that keep their own `main`.
    @_silgen_name("LLVMFuzzerRunDriver")
    func llvmFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32
    ) -> Int32
#endif
