// SPDX-License-Identifier: Apache-2.0

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Musl)
    internal import Musl
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Where a ``DomainResolver`` sends its questions and how it validates the answers.
public struct ResolverConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// The trust anchor used when none is configured and the file exists (Debian's dns-root-data).
    public static let defaultTrustAnchorFile = "/usr/share/dns/root.key"

    /// A recursive resolver to forward every question to: "127.0.3.1", "127.0.3.1:53", "::1",
    /// "[::1]:5353". `nil`: the system's resolvers (`/etc/resolv.conf`) and `/etc/hosts`.
    public var forwarder: String?
    /// DS or DNSKEY records in zone-file format that DNSSEC validation starts from. `nil`:
    /// ``defaultTrustAnchorFile`` when it exists, else no validation (answers are `unvalidated`).
    public var trustAnchorFile: String?
    /// Local data in unbound's `local-data` form ("mx.t. IN A 127.0.0.1"), answered without
    /// asking any server.
    public var localData: [String] = []
    /// Local zones in unbound's `local-zone` form, NAME TYPE ("parley.test static"): in a
    /// static zone, names without local data are answered NXDOMAIN (or NOERROR with no data when
    /// the name has data of another type) instead of being asked upstream.
    public var localZones: [String] = []
    /// The deadline of each look-up.
    public var timeout: Duration = .seconds(10)

    /// A configuration with these settings.
    public init(
        forwarder: String? = nil,
        trustAnchorFile: String? = nil,
        localData: [String] = [],
        timeout: Duration = .seconds(10),
        localZones: [String] = []
    ) {
        self.forwarder = forwarder
        self.trustAnchorFile = trustAnchorFile
        self.localData = localData
        self.timeout = timeout
        self.localZones = localZones
    }

    /// The configuration the command line asks for: `--resolver`/`--trust-anchor` win over
    /// `PARLEY_RESOLVER` / `PARLEY_TRUST_ANCHOR` in `environment`; empty values count as unset.
    public static func from(resolver: String?, trustAnchor: String?, environment: [String: String])
        -> ResolverConfiguration
    {
        func value(_ option: String?, _ variable: String) -> String? {
            if let option, !option.isEmpty { return option }
            if let fromEnvironment = environment[variable], !fromEnvironment.isEmpty { return fromEnvironment }
            return nil
        }
        return ResolverConfiguration(
            forwarder: value(resolver, "PARLEY_RESOLVER"),
            trustAnchorFile: value(trustAnchor, "PARLEY_TRUST_ANCHOR")
        )
    }

    /// The trust anchor file validation uses: ``trustAnchorFile``, else the default one when it
    /// exists, else `nil` (no validation).
    public var effectiveTrustAnchorFile: String? {
        if let trustAnchorFile { return trustAnchorFile }
        return access(Self.defaultTrustAnchorFile, R_OK) == 0 ? Self.defaultTrustAnchorFile : nil
    }

    /// "127.0.3.1:53 (trust anchor /tmp/x.key)", "system resolver (trust anchor
    /// /usr/share/dns/root.key)", "system resolver (no trust anchor: answers are not validated)".
    public var description: String {
        let server = self.forwarder ?? "system resolver"
        if let anchor = self.effectiveTrustAnchorFile {
            return "\(server) (trust anchor \(anchor))"
        }
        return "\(server) (no trust anchor: answers are not validated)"
    }

    /// The forwarder in libunbound's "address@port" form.
    ///
    /// - Throws: ``DomainLookupError`` when the text is not an IP address with an optional port.
    static func unboundForwarder(_ text: String) throws(DomainLookupError) -> String {
        func invalid(_ why: String) -> DomainLookupError {
            DomainLookupError("invalid resolver address \"\(text)\": \(why) (expected 127.0.3.1, 127.0.3.1:53, ::1 or [::1]:5353)")
        }
        var host = text
        var port: String?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw invalid("no closing ']'") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw invalid("text after ']' that is not :PORT") }
                port = String(rest.dropFirst())
            }
            guard host.contains(":") else { throw invalid("brackets around an address that is not IPv6") }
        } else if text.filter({ $0 == ":" }).count == 1 {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            host = String(parts[0])
            port = String(parts[1])
        }
        if let port {
            guard let number = Int(port), port.allSatisfy(\.isASCII), (1...65535).contains(number), !port.hasPrefix("+")
            else { throw invalid("port \"\(port)\" is not a number from 1 to 65535") }
        }
        var scratch = [UInt8](repeating: 0, count: 16)
        let family = host.contains(":") ? AF_INET6 : AF_INET
        guard inet_pton(family, host, &scratch) == 1 else {
            throw invalid("\"\(host)\" is not an IP address")
        }
        return port.map { "\(host)@\($0)" } ?? host
    }
}
