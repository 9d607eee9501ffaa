// SPDX-License-Identifier: Apache-2.0

/// One host mail for a domain goes to.
public struct MXHost: Sendable, Hashable {
    /// The host name, lowercased, without the trailing dot.
    public var name: String
    /// The MX preference (0 for the implicit MX).
    public var preference: UInt16
    /// Its A then AAAA addresses in text form; empty when it has none.
    public var addresses: [String]
    /// The weaker DNSSEC state of its A and AAAA answers.
    public var addressDNSSEC: DNSSECStatus
    /// Whether this is the implicit MX (RFC 5321 §5.1): the domain itself, for lack of MX records.
    public var implicit: Bool

    /// A host with these fields.
    public init(name: String, preference: UInt16, addresses: [String], addressDNSSEC: DNSSECStatus, implicit: Bool) {
        self.name = name
        self.preference = preference
        self.addresses = addresses
        self.addressDNSSEC = addressDNSSEC
        self.implicit = implicit
    }
}

/// Where mail for a domain goes, by RFC 5321 §5.1 and RFC 7505.
public enum MXResolution: Sendable, Hashable {
    /// The hosts in preference order (ties by name, so runs repeat); `dnssec` is the MX RRset's.
    case hosts([MXHost], dnssec: DNSSECStatus)
    /// RFC 7505: one MX "." — the domain accepts no mail.
    case nullMX(dnssec: DNSSECStatus)
    /// NXDOMAIN.
    case noSuchDomain
    /// SERVFAIL, a bogus answer (with why), a null MX beside other MX records (RFC 7505 §3),
    /// or no MX and no address (no implicit MX).
    case failed(String)

    /// One line for a transcript.
    public var summary: String {
        switch self {
        case .hosts(let hosts, let dnssec):
            let list = hosts.map { host in
                let addresses = host.addresses.isEmpty ? "no address" : host.addresses.joined(separator: ", ")
                return host.implicit
                    ? "\(host.name) (implicit MX: \(addresses))" : "\(host.preference) \(host.name) (\(addresses))"
            }
            return "MX (\(dnssec.rawValue)): " + list.joined(separator: "; ")
        case .nullMX(let dnssec):
            return "null MX (\(dnssec.rawValue)): the domain accepts no mail (RFC 7505)"
        case .noSuchDomain:
            return "no such domain (NXDOMAIN)"
        case .failed(let why):
            return "MX resolution failed: \(why)"
        }
    }
}

extension DomainResolver {
    /// Where mail for `domain` goes: its MX hosts with their addresses, a null MX, or, when it
    /// has no MX records (NOERROR, no data), the implicit MX (RFC 5321 §5.1): the domain itself,
    /// `implicit: true`, when it has an address.
    ///
    /// - Throws: ``DomainLookupError`` when a look-up cannot be made or passes its deadline.
    public func resolveMX(_ domain: String) async throws(DomainLookupError) -> MXResolution {
        let answer = try await self.mx(domain)
        if answer.dnssec == .bogus {
            return .failed("the MX answer for \(answer.name) is bogus: \(answer.whyBogus ?? "no reason given")")
        }
        switch answer.code {
        case .noError:
            break
        case .nxDomain:
            return .noSuchDomain
        default:
            return .failed("the MX look-up of \(answer.name) gave \(answer.code)")
        }
        if answer.records.isEmpty {
            let addresses = try await self.addresses(answer.name)
            if addresses.dnssec == .bogus {
                return .failed(
                    "\(answer.name) has no MX records and its address answer is bogus: \(addresses.whyBogus ?? "no reason given")"
                )
            }
            guard !addresses.records.isEmpty else {
                return .failed(
                    "\(answer.name) has no MX records and no address (\(addresses.code)), so no implicit MX: it accepts no mail"
                )
            }
            let host = MXHost(
                name: answer.name, preference: 0, addresses: addresses.records, addressDNSSEC: addresses.dnssec,
                implicit: true)
            return .hosts([host], dnssec: answer.dnssec)
        }
        if answer.records.contains(where: \.isNull) {
            guard answer.records.count == 1 else {
                return .failed(
                    "\(answer.name) has a null MX beside \(answer.records.count - 1) other MX record\(answer.records.count == 2 ? "" : "s"), which RFC 7505 §3 forbids"
                )
            }
            return .nullMX(dnssec: answer.dnssec)
        }
        var seen = Set<MXRecord>()
        let records = answer.records.filter { seen.insert($0).inserted }.sorted {
            ($0.preference, $0.exchange) < ($1.preference, $1.exchange)
        }
        // Ask for every host's addresses at once; the loop below then reads them from the cache.
        await withTaskGroup(of: Void.self) { group in
            for record in records {
                group.addTask { _ = try? await self.addresses(record.exchange) }
            }
        }
        var hosts: [MXHost] = []
        for record in records {
            let addresses = try await self.addresses(record.exchange)
            hosts.append(
                MXHost(
                    name: record.exchange, preference: record.preference, addresses: addresses.records,
                    addressDNSSEC: addresses.dnssec, implicit: false))
        }
        return .hosts(hosts, dnssec: answer.dnssec)
    }
}
