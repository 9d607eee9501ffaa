// SPDX-License-Identifier: Apache-2.0
import MailDomain
import Testing

/// The bytes of `text`.
private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The error `body` throws, or nil.
private func policyError<T>(_ body: () throws(PolicyError) -> T) -> PolicyError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

@Suite struct MTASTSRecordTests {
    @Test func theRFCExample() throws {
        let record = try MTASTSRecord.parse(bytes("v=STSv1; id=20160831085700Z;"))
        #expect(record == MTASTSRecord(id: "20160831085700Z"))
    }

    @Test(arguments: [
        "v=STSv1;id=abc", "v=STSv1; id=abc", "v=STSv1 ;\tid=abc ;", "v=STSv1;  id=abc;  ", "v=STSv1\t; id=abc",
    ])
    func whitespaceAroundSemicolons(_ text: String) throws {
        #expect(try MTASTSRecord.parse(bytes(text)).id == "abc")
    }

    @Test func extensionsAreKept() throws {
        let record = try MTASTSRecord.parse(bytes("v=STSv1; id=1; x-note=a.b/c; q_1=9"))
        #expect(record.extensions == ["x-note": "a.b/c", "q_1": "9"])
    }

    @Test(arguments: [
        ("id=1; v=STSv1", "does not start with v=STSv1"),
        (" v=STSv1; id=1", "does not start with v=STSv1"),
        ("v=stsv1; id=1", "does not start with v=STSv1"),
        ("v=STSv1", "no id field"),
        ("v=STSv1;", "no id field"),
        ("v=STSv1; id=", "field 2: id '' is not 1 to 32 letters and digits"),
        ("v=STSv1; id=2026-12-07", "field 2: id '2026-12-07' is not 1 to 32 letters and digits"),
        ("v=STSv1; id=123456789012345678901234567890123", "is not 1 to 32 letters and digits"),
        ("v=STSv1; id=1; id=2", "field 3: id given again (first in field 2)"),
        ("v=STSv1;; id=1", "field 2 is empty"),
        ("v=STSv1; id", "field 2 'id' is not name=value"),
        ("v=STSv1; id=1; v=STSv1", "field 3: a second version field"),
        ("v=STSv1; id=1; -x=1", "'-x' is not a field name"),
        ("v=STSv1; id=1; x=a b", "x value 'a b' is empty or has characters"),
        ("v=STSv1; id=1; x=", "x value '' is empty"),
    ])
    func badRecords(_ text: String, _ expected: String) throws {
        let error = try #require(policyError { () throws(PolicyError) in try MTASTSRecord.parse(bytes(text)) })
        #expect(error.description.hasPrefix("MTA-STS record"))
        #expect(error.description.contains(expected), "\(error)")
    }

    @Test func anOverlongRecordIsRefused() {
        let error = policyError { () throws(PolicyError) in
            try MTASTSRecord.parse(bytes("v=STSv1; id=1; x=" + String(repeating: "a", count: 5000)))
        }
        #expect(error?.description.contains("more than the 4096 allowed") == true)
    }

    @Test func selectDiscardsOtherRecords() throws {
        let records = [bytes("v=spf1 -all"), bytes("v=STSv1; id=42"), bytes("v=STSv10; id=9"), bytes("")]
        #expect(try MTASTSRecord.select(records) == MTASTSRecord(id: "42"))
        #expect(try MTASTSRecord.select([bytes("v=spf1 -all")]) == nil)
        #expect(try MTASTSRecord.select([]) == nil)
    }

    @Test func selectRefusesSeveralRecords() {
        let error = policyError { () throws(PolicyError) in
            try MTASTSRecord.select([bytes("v=STSv1; id=1"), bytes("v=STSv1; id=2")])
        }
        #expect(error?.description == "MTA-STS records: 2 records start with v=STSv1; exactly one is allowed")
    }

    @Test func selectParsesTheOneLeft() {
        let error = policyError { () throws(PolicyError) in try MTASTSRecord.select([bytes("v=STSv1; id=a-b")]) }
        #expect(error?.field == "id")
    }
}

@Suite struct MTASTSPolicyTests {
    /// RFC 8461 §3.2's example.
    static let example =
        "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
        + "mx: backupmx.example.com\r\nmax_age: 604800\r\n"

    @Test func theRFCExample() throws {
        let policy = try MTASTSPolicy.parse(bytes(Self.example))
        #expect(policy.version == "STSv1")
        #expect(policy.mode == .enforce)
        #expect(policy.mx == ["mail.example.com", "*.example.net", "backupmx.example.com"])
        #expect(policy.maxAge == 604800)
        #expect(policy.extensions.isEmpty)
    }

    @Test(arguments: [
        "version: STSv1\nmode: testing\nmx: a.example\nmax_age: 86400\n",  // LF
        "version: STSv1\r\nmode: testing\r\nmx: a.example\r\nmax_age: 86400",  // CRLF, last line unended
        "version:STSv1\nmode:\ttesting  \nmx:   a.example\t\nmax_age: 86400\r\n",  // WSP after ':' and at the end
        "version: STSv1\r\nmode: testing\nmx: a.example\r\n\r\nmax_age: 86400\n\n",  // mixed, blank lines
        "max_age: 86400\nmx: A.Example\nmode: TESTING\nversion: STSv1\n",  // any order, case in values
    ])
    func lineEndsAndWhitespace(_ text: String) throws {
        let policy = try MTASTSPolicy.parse(bytes(text))
        #expect(policy == MTASTSPolicy(mode: .testing, mx: ["a.example"], maxAge: 86400))
    }

    @Test func unknownFieldsAreKeptAsExtensions() throws {
        let policy = try MTASTSPolicy.parse(bytes("version: STSv1\nmode: none\nmax_age: 0\nnote: a: b; c=d\nnote: second\n"))
        #expect(policy.mode == .none)
        #expect(policy.mx.isEmpty)
        #expect(policy.maxAge == 0)
        #expect(policy.extensions == ["note": "a: b; c=d"])
    }

    @Test(arguments: [
        ("version: STSv1\nmode: enforce\nmode: enforcing\n", "policy line 3: mode given again (first on line 2)", 3),
        (
            "version: STSv1\nmx: a.example\nmode: enforcing\nmax_age: 1\n",
            "policy line 3: mode 'enforcing' is not enforce, testing or none", 3
        ),
        ("version: STSv2\n", "policy line 1: version 'STSv2' is not STSv1", 1),
        ("version: STSv1\nversion: STSv1\n", "policy line 2: version given again (first on line 1)", 2),
        ("version: STSv1\nmode: none\nmax_age: 31557601\n", "policy line 3: max_age 31557601 is more than 31557600", 3),
        ("version: STSv1\nmode: none\nmax_age: -1\n", "policy line 3: max_age '-1' is not a number of seconds", 3),
        ("version: STSv1\nmode: none\nmax_age: 12345678901\n", "policy line 3: max_age '12345678901' is not a number", 3),
        ("version: STSv1\nmode: none\nmax_age: 1 day\n", "policy line 3: max_age '1 day' is not a number", 3),
        ("version: STSv1\nmode: none\nmax_age: \n", "policy line 3: max_age '' is not a number", 3),
        ("version: STSv1\nmode: none\nmax_age: 1\nmax_age: 2\n", "policy line 4: max_age given again (first on line 3)", 4),
        ("version: STSv1\nmode enforce\n", "policy line 2: 'mode enforce' is not 'key: value'", 2),
        ("version: STSv1\nmode : enforce\n", "policy line 2: 'mode ' is not a field name (no space is allowed before the ':'", 2),
        ("version: STSv1\n  mode: enforce\n", "policy line 2: '  mode' is not a field name", 2),
        ("version: STSv1\nmode: enf\rorce\n", "policy line 2: a CR that does not end the line", 2),
        ("version: STSv1\nmode: none\nmax_age: 1\nx: \u{1}\n", "policy line 4: the control byte '\\x01'", 4),
        ("version: STSv1\nmode: testing\nmax_age: 1\nmx: *.*.example\n", "policy line 4: mx '*.*.example' has a '*'", 4),
        ("version: STSv1\nmode: testing\nmax_age: 1\nmx: mail*.example\n", "policy line 4: mx 'mail*.example' has a '*'", 4),
        ("version: STSv1\nmode: testing\nmax_age: 1\nmx: *.\n", "policy line 4: mx '*.' is empty", 4),
        ("version: STSv1\nmode: testing\nmax_age: 1\nmx: a..example\n", "policy line 4: mx 'a..example' has an empty label", 4),
        ("version: STSv1\nmode: testing\nmax_age: 1\nmx: -a.example\n", "starts or ends with '-'", 4),
        ("version: STSv1\nmode: testing\nmax_age: 1\nmx: a_b.example\n", "characters other than letters, digits and '-'", 4),
        ("version: STSv1\nmode: testing\nmax_age: 1\nmx: bücher.example\n", "is not ASCII", 4),
    ])
    func badLines(_ text: String, _ expected: String, _ line: Int) throws {
        let error = try #require(policyError { () throws(PolicyError) in try MTASTSPolicy.parse(bytes(text)) })
        #expect(error.description.contains(expected), "\(error)")
        #expect(error.description.hasPrefix("policy line \(line): "))
        #expect(error.line == line)
    }

    @Test(arguments: [
        ("mode: enforce\nmx: a.example\nmax_age: 1\n", "policy: no version field"),
        ("version: STSv1\nmx: a.example\nmax_age: 1\n", "policy: no mode field"),
        ("version: STSv1\nmode: testing\nmx: a.example\n", "policy: no max_age field"),
        ("version: STSv1\nMode: enforce\nmx: a.example\nmax_age: 1\n", "policy: no mode field (line 2 has it in other letters"),
        ("version: STSv1\nmode: enforce\nmax_age: 1\n", "policy: mode enforce (line 2) needs at least one mx field"),
        ("version: STSv1\nmode: testing\nmax_age: 1\nMX: a.example\n", "policy: mode testing (line 2) needs at least one mx field (line 4"),
        ("", "policy: no version field"),
    ])
    func missingFields(_ text: String, _ expected: String) throws {
        let error = try #require(policyError { () throws(PolicyError) in try MTASTSPolicy.parse(bytes(text)) })
        #expect(error.description.contains(expected), "\(error)")
    }

    @Test func theSizeIsBounded() {
        var text = "version: STSv1\nmode: none\nmax_age: 1\n"
        while text.utf8.count <= 65536 { text += "note: " + String(repeating: "x", count: 100) + "\n" }
        let error = policyError { () throws(PolicyError) in try MTASTSPolicy.parse(bytes(text)) }
        #expect(error?.description.hasSuffix("more than the 65536 allowed") == true)
    }

    @Test func invalidUTF8InAValueIsNamed() {
        let body = bytes("version: STSv1\nmode: none\nmax_age: 1\nnote: ") + [0xFF, 0xFE] + bytes("\n")
        let error = policyError { () throws(PolicyError) in try MTASTSPolicy.parse(body) }
        #expect(error?.description == "policy line 4: the value of note is not UTF-8")
    }
}

@Suite struct MXPatternTests {
    let policy = MTASTSPolicy(mode: .enforce, mx: ["mail.example.com", "*.example.net", "backup.example.org."], maxAge: 86400)

    @Test func exactMatch() {
        #expect(policy.pattern(covering: "mail.example.com") == "mail.example.com")
        #expect(!policy.covers("mail2.example.com"))
        #expect(!policy.covers("example.com"))
        #expect(!policy.covers("x.mail.example.com"))
    }

    @Test func aWildcardCoversExactlyOneLeftmostLabel() {
        #expect(policy.pattern(covering: "mx1.example.net") == "*.example.net")
        #expect(!policy.covers("a.b.example.net"))
        #expect(!policy.covers("example.net"))
        #expect(!policy.covers(".example.net"))
        #expect(!policy.covers("xexample.net"))
    }

    @Test func caseAndTrailingDots() {
        #expect(policy.covers("MAIL.Example.COM"))
        #expect(policy.covers("mail.example.com."))
        #expect(policy.covers("MX1.EXAMPLE.NET."))
        #expect(policy.pattern(covering: "backup.example.org") == "backup.example.org.")
        #expect(policy.covers("backup.example.org."))
        #expect(!policy.covers(""))
        #expect(!policy.covers("."))
    }

    @Test func parsedPatternsAreLowerCased() throws {
        let parsed = try MTASTSPolicy.parse(bytes("version: STSv1\nmode: enforce\nmx: *.Example.NET\nmax_age: 1\n"))
        #expect(parsed.mx == ["*.example.net"])
        #expect(parsed.pattern(covering: "Mx.example.net") == "*.example.net")
    }
}

@Suite struct TLSRPTRecordTests {
    @Test func theRFCExamples() throws {
        #expect(try TLSRPTRecord.parse(bytes("v=TLSRPTv1; rua=mailto:reports@example.com")).rua == ["mailto:reports@example.com"])
        #expect(
            try TLSRPTRecord.parse(bytes("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt")).rua == [
                "https://reporting.example.com/v1/tlsrpt"
            ])
        let both = try TLSRPTRecord.parse(bytes("v=TLSRPTv1; rua=mailto:a@b.example , https://r.example/x;"))
        #expect(both.rua == ["mailto:a@b.example", "https://r.example/x"])
        #expect(both.extensions.isEmpty)
    }

    @Test func extensionsAreKept() throws {
        let record = try TLSRPTRecord.parse(bytes("v=TLSRPTv1;rua=MAILTO:a@b.example;ext=1"))
        #expect(record == TLSRPTRecord(rua: ["MAILTO:a@b.example"], extensions: ["ext": "1"]))
    }

    @Test(arguments: [
        ("v=TLSRPTv1", "TLS-RPT record: no rua field"),
        ("v=TLSRPTv1; ext=1", "TLS-RPT record: no rua field"),
        ("v=TLSRPTv2; rua=mailto:a@b", "TLS-RPT record: does not start with v=TLSRPTv1"),
        ("rua=mailto:a@b; v=TLSRPTv1", "TLS-RPT record: does not start with v=TLSRPTv1"),
        ("v=TLSRPTv1; rua=http://r.example/x", "TLS-RPT record: field 2: rua URI 1 'http://r.example/x' is not mailto: or https:"),
        ("v=TLSRPTv1; rua=mailto:a@b,ftp://x", "TLS-RPT record: field 2: rua URI 2 'ftp://x' is not mailto: or https:"),
        ("v=TLSRPTv1; rua=mailto:nobody", "rua URI 1 'mailto:nobody' has no address"),
        ("v=TLSRPTv1; rua=https:/x", "rua URI 1 'https:/x' has no host"),
        ("v=TLSRPTv1; rua=https:///x", "rua URI 1 'https:///x' has no host"),
        ("v=TLSRPTv1; rua=", "rua URI 1 '' is empty"),
        ("v=TLSRPTv1; rua=mailto:a@b,", "rua URI 2 '' is empty"),
        ("v=TLSRPTv1; rua=mailto:a@b; rua=mailto:c@d", "field 3: rua given again (first in field 2)"),
    ])
    func badRecords(_ text: String, _ expected: String) throws {
        let error = try #require(policyError { () throws(PolicyError) in try TLSRPTRecord.parse(bytes(text)) })
        #expect(error.description.contains(expected), "\(error)")
    }

    @Test func select() throws {
        #expect(try TLSRPTRecord.select([bytes("v=STSv1; id=1"), bytes("v=TLSRPTv1;rua=mailto:a@b")])?.rua == ["mailto:a@b"])
        #expect(try TLSRPTRecord.select([bytes("v=TLSRPTv10;rua=mailto:a@b")]) == nil)
        let error = policyError { () throws(PolicyError) in
            try TLSRPTRecord.select([bytes("v=TLSRPTv1;rua=mailto:a@b"), bytes("v=TLSRPTv1 ; rua=mailto:c@d")])
        }
        #expect(error?.description == "TLS-RPT records: 2 records start with v=TLSRPTv1; exactly one is allowed")
    }
}
