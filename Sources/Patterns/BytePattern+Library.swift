// SPDX-License-Identifier: Apache-2.0
internal import CPCRE2

extension BytePattern {
    /// The PCRE2 library version in use, for example `10.42 2022-12-11`.
    public static var libraryVersion: String {
        var buffer = [UInt8](repeating: 0, count: 64)
        let written = buffer.withUnsafeMutableBytes { pcre2_config_8(UInt32(PCRE2_CONFIG_VERSION), $0.baseAddress) }
        guard written > 1 else { return "unknown" }
        return String(decoding: buffer.prefix(Int(written) - 1), as: UTF8.self)
    }

    /// Whether PCRE2's just-in-time compiler is available on this machine.
    public static var jitAvailable: Bool {
        var value: UInt32 = 0
        _ = pcre2_config_8(UInt32(PCRE2_CONFIG_JIT), &value)
        return value == 1
    }
}
