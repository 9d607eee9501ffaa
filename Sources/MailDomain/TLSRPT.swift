// SPDX-License-Identifier: Apache-2.0

/// The `_smtp._tls.DOMAIN` TXT record (RFC 8460 §3): where to send TLS reports,
/// `v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/v1`.
public struct TLSRPTRecord: Sendable, Hashable {
    /// The report URIs, in order: `mailto:` addresses and `https:` endpoints.
    public var rua: [String]
    /// Fields other than `v` and `rua`, by name as written.
    public var extensions: [String: String]

    /// The longest record text accepted.
    public static let maximumSize = 4096

    /// A record with these fields.
    public init(rua: [String], extensions: [String: String] = [:]) {
        self.rua = rua
        self.extensions = extensions
    }

    /// Parses one TXT record's text (its character-strings joined), RFC 8460 §3:
    /// `tlsrpt-version 1*(*WSP ";" *WSP tlsrpt-field) [";"]`, the version `v=TLSRPTv1` first,
    /// `rua` required: one or more URIs separated by "," (with optional WSP), each `mailto:` with
    /// an address or `https://` with a host; extension values visible ASCII except ";" and "=",
    /// no field given twice.
    ///
    /// - Parameter text: the record's bytes.
    /// - Returns: the record.
    /// - Throws: ``PolicyError`` naming the field and the URI ("TLS-RPT record: field 2: rua URI 1
    ///   'http://r.example/' is not mailto: or https:").
    public static func parse(_ text: [UInt8]) throws(PolicyError) -> TLSRPTRecord {
        let what = "TLS-RPT record"
        let fields = try PolicyBytes.recordFields(text, what: what, version: "v=TLSRPTv1", maximumSize: maximumSize)
        var rua: [String]?
        var extensions: [String: String] = [:]
        for field in fields {
            let name = PolicyBytes.string(field.name)
            if name == "rua" {
                var uris: [String] = []
                for (index, piece) in PolicyBytes.split(field.value, on: PolicyBytes.comma).enumerated() {
                    let uri = PolicyBytes.trimmed(piece)
                    if let problem = uriProblem(uri) {
                        throw PolicyError(
                            "\(what): field \(field.number): rua URI \(index + 1) \(PolicyBytes.quote(uri)) \(problem)",
                            field: "rua"
                        )
                    }
                    uris.append(PolicyBytes.string(uri))
                }
                rua = uris
            } else {
                extensions[name] = try PolicyBytes.extensionValue(field, name: name, what: what)
            }
        }
        guard let rua else {
            throw PolicyError("\(what): no rua field", field: "rua")
        }
        return TLSRPTRecord(rua: rua, extensions: extensions)
    }

    /// Chooses among the TXT records at `_smtp._tls.DOMAIN` (RFC 8460 §3): records that do not
    /// start with `v=TLSRPTv1` are discarded; none left means no reporting, several are an error,
    /// and the one left must parse.
    ///
    /// - Parameter records: each record's text (its character-strings joined).
    /// - Returns: the record, or nil when no record starts with `v=TLSRPTv1`.
    /// - Throws: ``PolicyError`` when several records start with `v=TLSRPTv1` or the one does not parse.
    public static func select(_ records: [[UInt8]]) throws(PolicyError) -> TLSRPTRecord? {
        guard let record = try PolicyBytes.selectOne(records, what: "TLS-RPT record", version: "v=TLSRPTv1") else {
            return nil
        }
        return try parse(record)
    }

    /// Why `uri` is not a report URI, or nil: `mailto:` followed by something with an "@" in it,
    /// or `https://` followed by a host (schemes in any case, RFC 3986 §3.1), visible ASCII only
    /// (RFC 8460 §3: "," and ";" in a URI are percent-encoded).
    static func uriProblem(_ uri: ArraySlice<UInt8>) -> String? {
        guard !uri.isEmpty else { return "is empty" }
        guard uri.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            return "has characters other than visible ASCII (encode them with %)"
        }
        let lower = PolicyBytes.lowercased(uri)[...]
        if lower.starts(with: "mailto:".utf8) {
            let address = lower.dropFirst(7)
            guard let at = address.firstIndex(of: 0x40), at != address.startIndex, at != address.index(before: address.endIndex)
            else {
                return "has no address (mailto:local@domain)"
            }
            return nil
        }
        if lower.starts(with: "https:".utf8) {
            guard lower.starts(with: "https://".utf8) else { return "has no host (https://host/...)" }
            let rest = lower.dropFirst(8)
            let host = rest.prefix { $0 != 0x2F && $0 != 0x3F && $0 != 0x23 }
            guard !host.isEmpty else { return "has no host (https://host/...)" }
            return nil
        }
        return "is not mailto: or https:"
    }
}
