// SPDX-License-Identifier: Apache-2.0

import Foundation
import GnuTLSNIO
import ParleyTestSupport
import Testing

/// The committed test CA (fixtures/certs/ca.pem with ca-key.pem), or another pair of its files.
private func issuer(certificate: String = "ca", key: String = "ca-key") throws -> CertificateIssuer {
    try CertificateIssuer(certificate: fixture("\(certificate).pem"), key: fixture("\(key).pem"))
}

/// A file of fixtures/certs as named PEM text.
private func fixture(_ name: String) throws -> TLSConfiguration.PEMText {
    .init(try String(contentsOfFile: FixtureCertificates.path(name), encoding: .utf8), name: "fixtures/certs/\(name)")
}

/// The facts of each certificate of an issued chain, read back by `CertificateInfo.load`.
private func facts(_ credential: TLSConfiguration.PEMCredential) throws -> [CertificateInfo] {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("issued-\(UUID().uuidString).pem").path
    try credential.chain.text.write(toFile: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: file) }
    return try CertificateInfo.load(pemFile: file)
}

/// The names the tests issue for.
private let names = ["mail.example.test", "127.0.0.1", "::1"]

/// A handshake in memory between a server presenting `credential` and a client trusting `trust`
/// that verifies `hostname`.
private func handshake(
    _ credential: TLSConfiguration.PEMCredential,
    trust: String = "ca.pem",
    hostname: String
) throws -> (client: Recorder, server: Recorder) {
    let pair = try BackToBack(
        clientContext: try FixtureCertificates.clientContext(trustRoots: .file(FixtureCertificates.path(trust))),
        serverContext: try GnuTLSContext(configuration: .server(credential: credential)),
        serverHostname: hostname
    )
    defer { pair.finish() }
    try pair.connect()
    try pair.interact()
    return (pair.clientRecorder, pair.serverRecorder)
}

@Suite("CertificateIssuer")
struct CertificateIssuerTests {
    @Test("a certificate issued by the test CA verifies for each of its names", arguments: names)
    func verifiesForItsNames(_ hostname: String) throws {
        let credential = try issuer().issue(names: names)
        let (client, server) = try handshake(credential, hostname: hostname)
        #expect(client.errors.isEmpty)
        #expect(server.errors.isEmpty)
        let info = try #require(client.sessionInfo)
        #expect(info.verified)
        #expect(info.verificationProblems == [])
    }

    @Test("a name the certificate was not issued for fails verification with a host-name problem")
    func otherNameFails() throws {
        let (client, _) = try handshake(try issuer().issue(names: names), hostname: "other.example")
        let error = try #require(client.tlsErrors.first)
        #expect(error.kind == .verificationFailed)
        #expect(error.verificationProblems == ["host name mismatch"])
        #expect(client.sessionInfo == nil)
    }

    @Test("a client that trusts another certificate than the CA finds no signer")
    func unknownSigner() throws {
        let (client, _) = try handshake(try issuer().issue(names: names), trust: "self-signed.pem", hostname: names[0])
        let error = try #require(client.tlsErrors.first)
        #expect(error.kind == .verificationFailed)
        #expect(error.verificationProblems == ["signer not found"])
    }

    @Test("the leaf says what was asked: CN, names, issuer, validity, key, extensions' effect and signature")
    func leafFacts() throws {
        let ca = try issuer()
        let now = Date(timeIntervalSince1970: 1_800_000_000.75)  // 2027-01-15, within the CA's validity
        let credential = try ca.issue(names: names, now: now)
        let chain = try facts(credential)
        #expect(chain.count == 2)
        let leaf = try #require(chain.first)
        let caFacts = try #require(try CertificateInfo.load(pemFile: FixtureCertificates.path("ca.pem")).first)

        #expect(ca.subject == caFacts.subject)
        #expect(ca.subject.contains("CN=Parley Test CA"))
        #expect(leaf.subject == "CN=mail.example.test")
        #expect(leaf.subjectAlternativeNames == ["DNS:mail.example.test", "IP:127.0.0.1", "IP:::1"])
        #expect(leaf.issuer == caFacts.subject)
        #expect(leaf.notBefore == Date(timeIntervalSince1970: 1_800_000_000 - 3600))
        #expect(leaf.notAfter == Date(timeIntervalSince1970: 1_800_000_000 + 7 * 24 * 3600))
        #expect(leaf.notAfter <= caFacts.notAfter)
        #expect(leaf.publicKeyBits == 256)
        #expect(leaf.signatureAlgorithm == "ECDSA-SHA256")
        // 16 bytes, positive.
        #expect(leaf.serialNumber.count == 32)
        #expect(leaf.serialNumber.first.map { "01234567".contains($0) } == true)
        // The CA's own certificate follows the leaf.
        #expect(chain.last?.der == caFacts.der)
        #expect(credential.key.text.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
    }

    @Test("the validity asked for is kept, and never runs past the CA's end")
    func validityEndsWithTheCA() throws {
        let ca = try issuer()
        let caEnd = try #require(try CertificateInfo.load(pemFile: FixtureCertificates.path("ca.pem")).first).notAfter
        let short = try #require(
            try facts(ca.issue(names: ["a.test"], validity: .seconds(3600), now: Date(timeIntervalSince1970: 1_800_000_000))).first)
        #expect(short.notAfter == Date(timeIntervalSince1970: 1_800_000_000 + 3600))
        let late = try #require(
            try facts(ca.issue(names: ["a.test"], now: caEnd.addingTimeInterval(-24 * 3600))).first)
        #expect(late.notAfter == caEnd)
        #expect(late.notBefore == caEnd.addingTimeInterval(-25 * 3600))
    }

    @Test("each certificate has its own key and serial number, also when issued concurrently")
    func freshKeysAndSerials() async throws {
        let ca = try issuer()
        let credentials = try await withThrowingTaskGroup(of: TLSConfiguration.PEMCredential.self) { group in
            for index in 0..<8 {
                group.addTask { try ca.issue(names: ["host\(index).test"]) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let leaves = try credentials.map { try #require(try facts($0).first) }
        #expect(Set(leaves.map(\.serialNumber)).count == 8)
        #expect(Set(credentials.map(\.key.text)).count == 8)
    }

    @Test("a key that does not belong to the CA certificate is refused, naming both texts")
    func mismatchedKey() throws {
        #expect {
            try issuer(certificate: "ca", key: "server-key")
        } throws: { error in
            "\(error)".contains("the key fixtures/certs/server-key.pem does not belong to the certificate fixtures/certs/ca.pem")
        }
    }

    @Test("a leaf certificate is refused as a CA")
    func leafIsNoCA() throws {
        #expect {
            try issuer(certificate: "server", key: "server-key")
        } throws: { error in
            "\(error)".contains("fixtures/certs/server.pem is not a CA certificate")
        }
    }

    @Test("garbage in place of the certificate or the key is refused, naming the text")
    func garbage() throws {
        let key = try fixture("ca-key.pem")
        let certificate = try fixture("ca.pem")
        let junk = TLSConfiguration.PEMText("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", name: "junk.pem")
        #expect {
            try CertificateIssuer(certificate: junk, key: key)
        } throws: { error in
            "\(error)".contains("junk.pem is not a PEM certificate")
        }
        #expect {
            try CertificateIssuer(certificate: .init("hello", name: "hello.pem"), key: key)
        } throws: { error in
            "\(error)".contains("hello.pem is not a PEM certificate")
        }
        #expect {
            try CertificateIssuer(certificate: certificate, key: .init("hello", name: "hello-key.pem"))
        } throws: { error in
            "\(error)".contains("hello-key.pem is not an unencrypted PEM private key")
        }
    }

    @Test(
        "names that cannot go into a certificate are refused with the reason",
        arguments: [
            ([String](), "at least one name"),
            ([""], "must not be empty"),
            (["a.test", ""], "must not be empty"),
            (["mail example.test"], "outside printable ASCII"),
            (["bücher.test"], "outside printable ASCII"),
            (["a.test\r\n"], "outside printable ASCII"),
        ]
    )
    func badNames(_ names: [String], _ reason: String) throws {
        let ca = try issuer()
        #expect {
            try ca.issue(names: names)
        } throws: { error in
            (error as? GnuTLSError)?.kind == .configuration && "\(error)".contains(reason)
        }
    }

    @Test("a validity that is not positive, or a time the CA is not valid at, is refused")
    func badTimes() throws {
        let ca = try issuer()
        #expect {
            try ca.issue(names: ["a.test"], validity: .zero)
        } throws: { error in
            "\(error)".contains("validity must be positive")
        }
        #expect {
            try ca.issue(names: ["a.test"], now: Date(timeIntervalSince1970: 2_500_000_000))  // 2049
        } throws: { error in
            "\(error)".contains("is not valid at")
        }
    }
}
