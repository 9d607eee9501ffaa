// SPDX-License-Identifier: Apache-2.0
internal import CGnuTLS

/// What the GnuTLS library offers, the report Emacs's `gnutls-available-p` gives as a list of
/// capability symbols.
public struct TLSAvailability: Sendable, Equatable {
    /// The runtime library's version.
    public var version: String
    /// Protocol versions it implements ("TLS1.3", "TLS1.2", …).
    public var protocols: [String]
    /// Ciphers ("AES-256-GCM", "CHACHA20-POLY1305", …).
    public var ciphers: [String]
    /// MAC algorithms.
    public var macs: [String]
    /// Key-exchange methods.
    public var keyExchanges: [String]
    /// Key-exchange groups ("X25519", "SECP256R1", …).
    public var groups: [String]
    /// Features: "ClientHello Padding" (the `%DUMBFW` priority keyword), "FIPS140" when the
    /// library runs in FIPS mode, and what the handler uses: "SNI", "ALPN", "X509", "STARTTLS".
    public var features: [String]
}

extension GnuTLSLibrary {
    /// The library's protocols, ciphers, MACs, key exchanges, groups and features.
    public static var availability: TLSAvailability {
        TLSAvailability(
            version: runtimeVersion,
            protocols: names(gnutls_protocol_list()) { gnutls_protocol_get_name(gnutls_protocol_t(rawValue: $0)) },
            ciphers: names(gnutls_cipher_list()) { gnutls_cipher_get_name(gnutls_cipher_algorithm_t(rawValue: $0)) },
            macs: names(gnutls_mac_list()) { gnutls_mac_get_name(gnutls_mac_algorithm_t(rawValue: $0)) },
            keyExchanges: names(gnutls_kx_list()) { gnutls_kx_get_name(gnutls_kx_algorithm_t(rawValue: $0)) },
            groups: names(gnutls_group_list()) { gnutls_group_get_name(gnutls_group_t(rawValue: $0)) },
            features: features
        )
    }

    /// Reads a zero-terminated GnuTLS algorithm list and names each entry.
    private static func names<T>(
        _ list: UnsafePointer<T>?,
        _ name: (UInt32) -> UnsafePointer<CChar>?
    ) -> [String] where T: RawRepresentable, T.RawValue == UInt32 {
        guard var cursor = list else { return [] }
        var result: [String] = []
        while cursor.pointee.rawValue != 0 {
            if let text = name(cursor.pointee.rawValue) { result.append(String(cString: text)) }
            cursor += 1
        }
        return result
    }

    /// The features list.
    private static var features: [String] {
        var features = ["X509", "SNI", "ALPN", "STARTTLS"]
        var cache: OpaquePointer?
        if gnutls_priority_init(&cache, "NORMAL:%DUMBFW", nil) == GNUTLS_E_SUCCESS {
            features.append("ClientHello Padding")
            gnutls_priority_deinit(cache)
        }
        if gnutls_fips140_mode_enabled() != 0 { features.append("FIPS140") }
        return features
    }
}
