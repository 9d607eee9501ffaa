// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailDomain
import NIOCore
import NIOPosix
import Testing

/// The resolver against libunbound's local data: no DNS server is asked.
@Suite struct DomainResolverTests {
    /// The root zone's KSK-2017 as a DS record, so that validation is on whatever the machine has
    /// in /usr/share/dns; answers from local data are then `insecure` (not signed), never
    /// `unvalidated`.
    static let rootAnchor: String = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("parley-root-\(getpid()).ds").path
        let ds = ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n"
        _ = FileManager.default.createFile(atPath: path, contents: Data(ds.utf8))
        return path
    }()

    /// A zone of test domains. The forwarder is a closed port, so a question that escaped the
    /// local zone would fail rather than reach the network.
    static func configuration(timeout: Duration = .seconds(10)) -> ResolverConfiguration {
        ResolverConfiguration(
            forwarder: "127.0.0.1:9",
            trustAnchorFile: Self.rootAnchor,
            localData: [
                "good.parley.test. IN MX 20 MX2.good.parley.test.",
                "good.parley.test. IN MX 10 mx1.good.parley.test.",
                "good.parley.test. IN MX 20 mx0.good.parley.test.",
                "mx1.good.parley.test. IN A 127.0.2.1",
                "mx1.good.parley.test. IN AAAA ::1",
                "mx2.good.parley.test. IN A 127.0.2.2",
                "mx0.good.parley.test. IN TXT \"no address here\"",
                "null.parley.test. IN MX 0 .",
                "nullplus.parley.test. IN MX 0 .",
                "nullplus.parley.test. IN MX 10 mx1.good.parley.test.",
                "implicit.parley.test. IN A 127.0.2.9",
                "noaddress.parley.test. IN TXT \"v=spf1 -all\"",
                "_25._tcp.mx1.good.parley.test. IN TLSA 3 1 1 639b4c7b54684e47aa92a903f1bea42f9e260e2398462f468853701377391937",
                "_mta-sts.good.parley.test. IN TXT \"v=STSv1; \" \"id=20260101\"",
            ],
            timeout: timeout,
            localZones: ["parley.test. static"]
        )
    }

    @Test func mxHostsComeInPreferenceOrderTiesByNameWithTheirAddresses() async throws {
        let resolver = try DomainResolver(Self.configuration())
        let answer = try await resolver.mx("Good.Parley.Test.")
        #expect(answer.name == "good.parley.test")
        #expect(answer.type == "MX")
        #expect(answer.code == .noError)
        #expect(answer.dnssec == .insecure)
        #expect(Set(answer.records.map(\.exchange)) == ["mx0.good.parley.test", "mx1.good.parley.test", "mx2.good.parley.test"])

        let resolution = try await resolver.resolveMX("good.parley.test")
        guard case .hosts(let hosts, let dnssec) = resolution else {
            Issue.record("expected hosts, got \(resolution)")
            return
        }
        #expect(dnssec == .insecure)
        #expect(hosts.map(\.name) == ["mx1.good.parley.test", "mx0.good.parley.test", "mx2.good.parley.test"])
        #expect(hosts.map(\.preference) == [10, 20, 20])
        #expect(hosts[0].addresses == ["127.0.2.1", "::1"])
        #expect(hosts[0].addressDNSSEC == .insecure)
        #expect(hosts[1].addresses == [], "an MX host without an address is listed with none")
        #expect(hosts[2].addresses == ["127.0.2.2"])
        #expect(hosts.allSatisfy { !$0.implicit })
    }

    @Test func aNullMXMeansNoMailAndBesideOtherRecordsIsAFailure() async throws {
        let resolver = try DomainResolver(Self.configuration())
        let null = try await resolver.mx("null.parley.test")
        #expect(null.records == [MXRecord(preference: 0, exchange: "")])
        #expect(null.records.first?.isNull == true)
        #expect(try await resolver.resolveMX("null.parley.test") == .nullMX(dnssec: .insecure))

        let mixed = try await resolver.resolveMX("nullplus.parley.test")
        guard case .failed(let why) = mixed else {
            Issue.record("expected a failure, got \(mixed)")
            return
        }
        #expect(why.contains("null MX beside 1 other MX record"))
        #expect(why.contains("RFC 7505"))
    }

    @Test func aDomainWithoutMXButWithAnAddressIsItsOwnImplicitMX() async throws {
        let resolver = try DomainResolver(Self.configuration())
        let answer = try await resolver.mx("implicit.parley.test")
        #expect(answer.code == .noError)
        #expect(answer.records.isEmpty)
        let resolution = try await resolver.resolveMX("implicit.parley.test")
        #expect(
            resolution
                == .hosts(
                    [
                        MXHost(
                            name: "implicit.parley.test", preference: 0, addresses: ["127.0.2.9"], addressDNSSEC: .insecure,
                            implicit: true)
                    ], dnssec: .insecure))
    }

    @Test func aDomainWithoutMXAndWithoutAnAddressHasNoImplicitMX() async throws {
        let resolver = try DomainResolver(Self.configuration())
        let resolution = try await resolver.resolveMX("noaddress.parley.test")
        guard case .failed(let why) = resolution else {
            Issue.record("expected a failure, got \(resolution)")
            return
        }
        #expect(why.contains("no MX records and no address"))
    }

    /// In a static local zone, libunbound answers a name with no local data NXDOMAIN.
    @Test func aNameWithoutDataInAStaticZoneIsNXDOMAIN() async throws {
        let resolver = try DomainResolver(Self.configuration())
        let answer = try await resolver.mx("nosuch.parley.test")
        #expect(answer.code == .nxDomain)
        #expect(answer.records.isEmpty)
        #expect(answer.dnssec == .insecure)
        #expect(try await resolver.resolveMX("nosuch.parley.test") == .noSuchDomain)
        let addresses = try await resolver.addresses("nosuch.parley.test")
        #expect(addresses.code == .nxDomain)
        #expect(addresses.records.isEmpty)
    }

    @Test func tlsaAndTXTLookUps() async throws {
        let resolver = try DomainResolver(Self.configuration())
        let tlsa = try await resolver.tlsa(host: "mx1.good.parley.test", port: 25)
        #expect(tlsa.name == "_25._tcp.mx1.good.parley.test")
        #expect(tlsa.type == "TLSA")
        #expect(tlsa.records.map(\.description) == ["3 1 1 639b4c7b54684e47aa92a903f1bea42f9e260e2398462f468853701377391937"])
        #expect(tlsa.records.first?.usableForSMTP == true)

        let none = try await resolver.tlsa(host: "mx2.good.parley.test", port: 25)
        #expect(none.code == .nxDomain)
        #expect(none.records.isEmpty)

        let txt = try await resolver.txt("_mta-sts.good.parley.test")
        #expect(txt.records == [Array("v=STSv1; id=20260101".utf8)], "the character-strings are concatenated")
        let noTXT = try await resolver.txt("mx1.good.parley.test")
        #expect(noTXT.code == .noError)
        #expect(noTXT.records.isEmpty)
    }

    @Test func answersAreCachedAndConcurrentAskersShareOneLookUp() async throws {
        let resolver = try DomainResolver(Self.configuration())
        async let first = resolver.mx("good.parley.test")
        async let second = resolver.mx("good.parley.test")
        let (one, two) = try await (first, second)
        #expect(one == two)
        #expect(resolver.lookupCount == 1)
        let third = try await resolver.mx("good.parley.test")
        #expect(third == one)
        #expect(resolver.lookupCount == 1)
        _ = try await resolver.addresses("mx1.good.parley.test")
        #expect(resolver.lookupCount == 3, "A and AAAA are two questions")
    }

    @Test func aForwarderThatNeverAnswersGivesTheTimeoutWithinTheDeadline() async throws {
        // A UDP socket that is bound but never read: questions go in and nothing comes back.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let silent = try await DatagramBootstrap(group: group)
            .channelOption(.autoRead, value: false)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(silent.localAddress?.port)
        var configuration = ResolverConfiguration(
            forwarder: "127.0.0.1:\(port)", trustAnchorFile: Self.rootAnchor, timeout: .milliseconds(500))
        configuration.localZones = []
        let resolver = try DomainResolver(configuration)
        let clock = ContinuousClock()
        let start = clock.now
        await #expect(throws: DomainLookupError("DNS look-up of MX good.parley.example timed out after 0.5 s")) {
            try await resolver.mx("good.parley.example")
        }
        #expect(clock.now - start < .seconds(5), "the deadline is kept, with room for a loaded machine")
        // Asked once: the failure is cached too.
        await #expect(throws: DomainLookupError.self) { try await resolver.mx("good.parley.example") }
        #expect(resolver.lookupCount == 1)
        try await silent.close()
        try await group.shutdownGracefully()
    }

    @Test func badConfigurationsAndNamesAreClearErrors() async throws {
        #expect(throws: DomainLookupError.self) { _ = try DomainResolver(ResolverConfiguration(forwarder: "dns.example")) }
        do {
            _ = try DomainResolver(ResolverConfiguration(forwarder: "127.0.0.1:99999"))
            Issue.record("a port out of range was accepted")
        } catch {
            #expect(error.description.contains("port \"99999\""))
        }
        do {
            _ = try DomainResolver(ResolverConfiguration(forwarder: "127.0.0.1", trustAnchorFile: "/nonexistent/root.key"))
            Issue.record("a missing trust anchor was accepted")
        } catch {
            #expect(error.description == "cannot read trust anchor /nonexistent/root.key: No such file or directory")
        }
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("parley-garbage-\(getpid()).key").path
        _ = FileManager.default.createFile(atPath: garbage, contents: Data("this is no trust anchor\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: garbage) }
        do {
            _ = try DomainResolver(ResolverConfiguration(forwarder: "127.0.0.1", trustAnchorFile: garbage))
            Issue.record("a trust anchor file without records was accepted")
        } catch {
            #expect(error.description.hasPrefix("cannot read trust anchor \(garbage): libunbound: "))
        }
        do {
            _ = try DomainResolver(
                ResolverConfiguration(forwarder: "127.0.0.1", trustAnchorFile: Self.rootAnchor, localData: ["this is not a record"]))
            Issue.record("bad local data was accepted")
        } catch {
            #expect(
                error.description
                    == "libunbound: local data \"this is not a record\" is not a resource record in zone-file form (NAME [TTL] [CLASS] TYPE RDATA)"
            )
        }
        let resolver = try DomainResolver(Self.configuration())
        await #expect(throws: DomainLookupError("domain name \"a..b\" has an empty label")) { try await resolver.mx("a..b") }
        await #expect(throws: DomainLookupError.self) { try await resolver.mx("bad name.test") }
        await #expect(throws: DomainLookupError.self) { try await resolver.mx(String(repeating: "a", count: 64) + ".test") }
        await #expect(throws: DomainLookupError.self) { try await resolver.tlsa(host: "mx.test", port: 0) }
        #expect(resolver.lookupCount == 0)
    }

    @Test func forwarderForms() throws {
        for good in ["127.0.3.1", "127.0.3.1:53", "::1", "[::1]:5353", "[::1]"] {
            #expect(throws: Never.self) { _ = try DomainResolver(ResolverConfiguration(forwarder: good, trustAnchorFile: Self.rootAnchor)) }
        }
        for bad in ["", "127.0.3.1:", "127.0.3.1:+53", "[127.0.0.1]:53", "[::1", "[::1]x", "1.2.3.4.5", "host:53"] {
            #expect(throws: DomainLookupError.self, "\(bad)") {
                _ = try DomainResolver(ResolverConfiguration(forwarder: bad, trustAnchorFile: Self.rootAnchor))
            }
        }
    }

    @Test func theCommandLineWinsOverTheEnvironment() {
        let environment = ["PARLEY_RESOLVER": "127.0.0.53", "PARLEY_TRUST_ANCHOR": "/env.key"]
        let fromEnvironment = ResolverConfiguration.from(resolver: nil, trustAnchor: nil, environment: environment)
        #expect(fromEnvironment.forwarder == "127.0.0.53")
        #expect(fromEnvironment.trustAnchorFile == "/env.key")
        let fromOptions = ResolverConfiguration.from(resolver: "127.0.3.1:53", trustAnchor: "/tmp/x.key", environment: environment)
        #expect(fromOptions == ResolverConfiguration(forwarder: "127.0.3.1:53", trustAnchorFile: "/tmp/x.key"))
        #expect(fromOptions.description == "127.0.3.1:53 (trust anchor /tmp/x.key)")
        let none = ResolverConfiguration.from(resolver: "", trustAnchor: nil, environment: [:])
        #expect(none.forwarder == nil)
        #expect(none.description.hasPrefix("system resolver ("))
    }
}
