// SPDX-License-Identifier: Apache-2.0

import Foundation
import ParleyTestSupport
import Testing

@testable import GnuTLSNIO

@Suite("A context's certificate facts")
struct CertificateInfoCacheTests {
    static let sample = CertificateInfo(
        subject: "CN=a",
        issuer: "CN=b",
        subjectAlternativeNames: [],
        notBefore: Date(timeIntervalSince1970: 0),
        notAfter: Date(timeIntervalSince1970: 1),
        sha256Fingerprint: "00",
        serialNumber: "01"
    )

    @Test("the same DER bytes are parsed once; a failed parse is not kept; at most 64 are kept")
    func parsesOncePerCertificate() throws {
        let context = try FixtureCertificates.clientContext()
        var parses = 0
        let parse = { () -> CertificateInfo? in
            parses += 1
            return Self.sample
        }
        #expect(context.certificateInfo(der: [1, 2, 3], parse: parse) == Self.sample)
        #expect(context.certificateInfo(der: [1, 2, 3], parse: parse) == Self.sample)
        #expect(parses == 1)
        #expect(context.certificateInfo(der: [9]) { nil } == nil)
        #expect(context.certificateInfo(der: [9], parse: parse) == Self.sample)
        #expect(parses == 2)
        // 64 kept at most: filling past the bound starts over, so [1, 2, 3] is parsed again.
        for byte in 10..<80 {
            _ = context.certificateInfo(der: [UInt8(byte)], parse: parse)
        }
        parses = 0
        _ = context.certificateInfo(der: [1, 2, 3], parse: parse)
        #expect(parses == 1)
    }
}
