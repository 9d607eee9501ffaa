// SPDX-License-Identifier: Apache-2.0
internal import CGnuTLS

/// Facts about the GnuTLS library Parley runs on.
public enum GnuTLSLibrary {
    /// The runtime library's version, for example `3.7.9`.
    public static var runtimeVersion: String {
        guard let version = gnutls_check_version(nil) else { return "unknown" }
        return String(cString: version)
    }
}
