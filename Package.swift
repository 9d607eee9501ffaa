// swift-tools-version:6.0
// SPDX-License-Identifier: Apache-2.0
import PackageDescription

/// Settings every Swift target shares: Swift 6 language mode plus the upcoming features the
/// NIO family turns on.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioEmbedded = Target.Dependency.product(name: "NIOEmbedded", package: "swift-nio")
let nioTLS = Target.Dependency.product(name: "NIOTLS", package: "swift-nio")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let nioConcurrency = Target.Dependency.product(name: "NIOConcurrencyHelpers", package: "swift-nio")

let package = Package(
    name: "parley",
    products: [
        .executable(name: "parley", targets: ["parley"]),
        .library(name: "NetworkStream", targets: ["NetworkStream"]),
        .library(name: "MailServers", targets: ["MailServers"]),
        .library(name: "MailAPI", targets: ["MailAPI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/JohnSundell/Plot.git", from: "0.14.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // C libraries found with pkg-config; header-only shims.
        .systemLibrary(
            name: "CGnuTLS",
            pkgConfig: "gnutls",
            providers: [.apt(["libgnutls28-dev"]), .brew(["gnutls"])]
        ),
        // libunbound by name: its pkg-config file requires libevent's, which the library does not need.
        .systemLibrary(name: "CUnbound", providers: [.apt(["libunbound-dev"]), .brew(["unbound"])]),
        .systemLibrary(
            name: "CPCRE2",
            pkgConfig: "libpcre2-8",
            providers: [.apt(["libpcre2-dev"]), .brew(["pcre2"])]
        ),

        // TLS as a NIO channel handler, and byte-oriented regular expressions.
        .target(name: "GnuTLSNIO", dependencies: ["CGnuTLS", nioCore, nioTLS, nioConcurrency], swiftSettings: swiftSettings),
        .target(name: "Patterns", dependencies: ["CPCRE2"], swiftSettings: swiftSettings),

        // The connection engine.
        .target(
            name: "NetworkStream",
            dependencies: ["GnuTLSNIO", "Patterns", nioCore, nioPosix, nioConcurrency],
            swiftSettings: swiftSettings
        ),

        // The fake mail servers (`parley serve`, embedded servers, tests), with the test PKI built
        // in; they depend on the TLS handler and NIO only.
        .target(
            name: "MailServers",
            dependencies: ["GnuTLSNIO", nioCore, nioPosix, logging],
            swiftSettings: swiftSettings
        ),

        // The local mail server's HTTP API (Mailpit's API v1) over the mail store, on Hummingbird.
        .target(
            name: "MailAPI",
            dependencies: [
                "MailServers", hummingbird, nioCore, logging,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // What a mail domain publishes (MX, DANE, MTA-STS, TLS-RPT), looked up with libunbound;
        // the MTA-STS policy fetched with NIOHTTP1 over the TLS handler.
        .target(
            name: "MailDomain",
            dependencies: [
                "CUnbound", "CGnuTLS", "GnuTLSNIO", nioCore, nioPosix, nioConcurrency,
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // Scenario model and loader (the only module that imports Yams).
        .target(
            name: "Scenario",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),

        // Runs scenarios on the engine and emits events.
        .target(
            name: "Runner",
            dependencies: ["Scenario", "NetworkStream", "GnuTLSNIO", "Patterns", "MailDomain", nioCore, nioPosix],
            swiftSettings: swiftSettings
        ),

        // `parley record`: the STARTTLS-aware recording proxy and the files generated from a recording.
        .target(
            name: "Recording",
            dependencies: ["Runner", "Scenario", "Patterns", "GnuTLSNIO", nioCore, nioPosix, nioConcurrency],
            swiftSettings: swiftSettings
        ),

        // The runner's embedded servers, played by the fake mail servers.
        .target(
            name: "MailServerProvider",
            dependencies: ["Runner", "Scenario", "MailServers", "GnuTLSNIO", logging],
            swiftSettings: swiftSettings
        ),

        // Event consumers: console transcript, machine reports, and the HTML report (built with Plot).
        .target(
            name: "Reporting",
            dependencies: [
                "Runner", "Scenario", .product(name: "Plot", package: "Plot"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),

        // Command line: ArgumentParser commands and their testable frontends.
        .target(
            name: "ParleyCLI",
            dependencies: [
                "Reporting", "Runner", "Scenario", "MailServers", "MailServerProvider", "MailAPI", "NetworkStream", "GnuTLSNIO",
                "Patterns", "Recording",
                nioPosix, logging,
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "parley", dependencies: ["ParleyCLI"], swiftSettings: swiftSettings),

        // libFuzzer targets (ci/fuzz builds them with -sanitize=fuzzer; a plain build makes
        // programs that replay input files).
        .target(name: "FuzzSupport", path: "Fuzz/FuzzSupport", swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzScenarioLoader", dependencies: ["FuzzSupport", "Scenario"], path: "Fuzz/FuzzScenarioLoader",
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzServerSessions", dependencies: ["FuzzSupport", "MailServers"], path: "Fuzz/FuzzServerSessions",
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzReplyFraming", dependencies: ["FuzzSupport", "Patterns", "Scenario"], path: "Fuzz/FuzzReplyFraming",
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzAuthInfo", dependencies: ["FuzzSupport", "NetworkStream"], path: "Fuzz/FuzzAuthInfo", swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzExternalTLSLog",
            dependencies: ["FuzzSupport", "NetworkStream"],
            path: "Fuzz/FuzzExternalTLSLog",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FuzzIMAPCommands", dependencies: ["FuzzSupport", "MailServers"], path: "Fuzz/FuzzIMAPCommands",
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzMIME", dependencies: ["FuzzSupport", "MailServers"], path: "Fuzz/FuzzMIME", swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzMailpitSearch", dependencies: ["FuzzSupport", "MailAPI"], path: "Fuzz/FuzzMailpitSearch",
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzDNSRecords", dependencies: ["FuzzSupport", "MailDomain"], path: "Fuzz/FuzzDNSRecords",
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzClientHello", dependencies: ["FuzzSupport", "GnuTLSNIO"], path: "Fuzz/FuzzClientHello",
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzRecordingProxy", dependencies: ["FuzzSupport", "Recording", "Runner", "Scenario"], path: "Fuzz/FuzzRecordingProxy",
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzMTASTS", dependencies: ["FuzzSupport", "MailDomain"], path: "Fuzz/FuzzMTASTS", swiftSettings: swiftSettings),
        .executableTarget(
            name: "FuzzProbeEscapes", dependencies: ["FuzzSupport", "ParleyCLI"], path: "Fuzz/FuzzProbeEscapes",
            swiftSettings: swiftSettings),

        // Tests: one target per library target, and the helpers they share.
        .target(
            name: "ParleyTestSupport",
            dependencies: ["GnuTLSNIO", "MailServers"],
            path: "Tests/ParleyTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GnuTLSNIOTests",
            dependencies: ["GnuTLSNIO", "ParleyTestSupport", nioCore, nioEmbedded, nioPosix],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MailDomainTests",
            dependencies: [
                "MailDomain", "GnuTLSNIO", "ParleyTestSupport", "MailServers", nioCore, nioPosix,
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RecordingTests",
            dependencies: [
                "Recording", "Runner", "Scenario", "Patterns", "GnuTLSNIO", "MailServers", "ParleyTestSupport", nioCore, nioPosix,
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "PatternsTests", dependencies: ["Patterns", "ParleyTestSupport"], swiftSettings: swiftSettings),
        .testTarget(
            name: "NetworkStreamTests",
            dependencies: [
                "NetworkStream", "MailServers", "ParleyTestSupport", "GnuTLSNIO", nioCore, nioPosix, nioEmbedded, nioConcurrency,
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MailServersTests",
            dependencies: ["MailServers", "ParleyTestSupport", "GnuTLSNIO", nioCore, nioPosix, nioEmbedded],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ScenarioTests",
            dependencies: ["Scenario", "Runner", "MailServerProvider", "ParleyTestSupport"],
            exclude: ["Malformed"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RunnerTests",
            dependencies: ["Runner", "Scenario", "MailServers", "MailServerProvider", "ParleyTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ReportingTests",
            dependencies: ["Reporting", "Runner", "Scenario", "ParleyTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MailAPITests",
            dependencies: [
                "MailAPI", "MailServers", nioCore, nioPosix, logging, .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ParleyCLITests",
            dependencies: [
                "ParleyCLI", "MailServers", "ParleyTestSupport", "GnuTLSNIO", "NetworkStream",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
