// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import MailAPI

@Suite("Mailpit's search syntax as a value")
struct MailpitSearchTests {
    typealias Term = MailpitSearch.Term

    @Test("words, phrases and prefixes")
    func parsing() {
        #expect(MailpitSearch(parsing: "john doe").terms == [Term(.text("john")), Term(.text("doe"))])
        #expect(MailpitSearch(parsing: "\"John  Doe\"").terms == [Term(.text("john doe"))])
        #expect(
            MailpitSearch(parsing: "subject:\"Big News\" from:<Alice@x.test>").terms == [
                Term(.subject("big news")), Term(.from("alice@x.test")),
            ])
        #expect(
            MailpitSearch(parsing: "TO:bob cc:c bcc:d reply-to:e addressed:f message-id:<m@x>").terms == [
                Term(.to("bob")), Term(.cc("c")), Term(.bcc("d")), Term(.replyTo("e")), Term(.addressed("f")),
                Term(.messageID("m@x")),
            ])
        #expect(
            MailpitSearch(parsing: "is:read is:unread is:tagged has:attachment has:inlines tag:x").terms == [
                Term(.read(true)), Term(.read(false)), Term(.tagged), Term(.hasAttachment), Term(.hasInline), Term(.tag("x")),
            ])
    }

    @Test("negation with - or !, and what is ignored")
    func negationAndIgnored() {
        #expect(
            MailpitSearch(parsing: "-from:admin !is:read !\"two words\"").terms == [
                Term(negated: true, .from("admin")), Term(negated: true, .read(true)), Term(negated: true, .text("two words")),
            ])
        // A lone - is a word; terms without a letter or digit and empty prefixes are dropped.
        #expect(MailpitSearch(parsing: "- !! ... from: subject:").terms == [])
        #expect(MailpitSearch(parsing: "").terms == [])
        #expect(MailpitSearch(parsing: "\"unclosed phrase").terms == [Term(.text("unclosed phrase"))])
    }

    @Test("dates and sizes")
    func datesAndSizes() {
        let day = Int64(1_775_001_600_000)  // 2026-04-01T00:00:00Z
        #expect(
            MailpitSearch(parsing: "after:2026-04-01 before:2026/04/01 after:04/01/2026").terms == [
                Term(.after(day)), Term(.before(day)), Term(.after(day)),
            ])
        #expect(MailpitSearch(parsing: "after:2026-04-01T01:00:00+01:00").terms == [Term(.after(day))])
        #expect(MailpitSearch(parsing: "before:\"2026-04-01 00:00:30\"").terms == [Term(.before(day + 30_000))])
        #expect(MailpitSearch(parsing: "after:yesterday before:2026-13-01").terms == [])
        #expect(
            MailpitSearch(parsing: "larger:2kb smaller:1.5M larger:300 smaller:lots").terms == [
                Term(.larger(2048)), Term(.smaller(1_572_864)), Term(.larger(300)), Term(.text("smaller:lots")),
            ])
        // Found by FuzzMailpitSearch: 15 digits of megabytes overflowed Int64 and trapped.
        #expect(MailpitSearch(parsing: "smaller:066666666666666>M").terms == [Term(.text("smaller:066666666666666 m"))])
        #expect(MailpitSearch(parsing: "larger:999999999999999").terms == [Term(.larger(999_999_999_999_999))])
    }

    @Test("matching follows Mailpit: substrings, case-insensitive, all terms")
    func matching() {
        let message = SearchableMessage(
            text: MailpitSearch.clean("Alice <alice@x.test> Quarterly Report bob@x.test Hello, the numbers are in."),
            to: "bob bob@x.test",
            from: "alice alice@x.test",
            subject: "quarterly report",
            messageID: "r-1@x.test",
            read: true,
            attachments: 0,
            created: 1_000,
            size: 500
        )
        func matches(_ query: String) -> Bool { MailpitSearch(parsing: query).matches(message) }
        #expect(matches("QUARTERLY"))
        #expect(matches("\"numbers are in\""))
        #expect(matches("numbers in"))
        #expect(!matches("\"in numbers\""))
        #expect(matches("from:alice to:bob subject:report is:read"))
        #expect(!matches("is:unread"))
        #expect(matches("!is:unread -has:attachment"))
        #expect(matches("addressed:bob@x"))
        #expect(!matches("tag:anything"))
        #expect(matches("-tag:anything"))
        #expect(matches("message-id:r-1"))
        #expect(matches("larger:499 smaller:501"))
        #expect(!matches("after:1970-01-02"))
        #expect(matches(""))
    }

    @Test("clean is Mailpit's cleanString")
    func clean() {
        #expect(MailpitSearch.clean("  A\t<b@c>, \"D\"; (e)\r\nF  ") == "a b@c d e f")
        #expect(MailpitSearch.clean("\u{FEFF}x") == "x")
    }
}

@Suite("Request input: query strings, pages, bodies")
struct RequestInputTests {
    @Test("query strings decode + and %XX; malformed escapes stay")
    func queryItems() {
        let items = RequestInput.queryItems("query=subject%3A%22a+b%22&start=&x&bad=%zz%4")
        #expect(items.map(\.name) == ["query", "start", "x", "bad"])
        #expect(items.map(\.value) == ["subject:\"a b\"", "", "", "%zz%4"])
        #expect(RequestInput.value("query", in: "q=1&query=%C3%A9") == "é")
    }

    @Test("start and limit as Mailpit reads them, bounded")
    func page() {
        #expect(RequestInput.page("", maximumLimit: 100) == .init(start: 0, limit: 50))
        #expect(RequestInput.page("start=5&limit=7", maximumLimit: 100) == .init(start: 5, limit: 7))
        #expect(RequestInput.page("start=-1&limit=-1", maximumLimit: 100) == .init(start: 0, limit: 50))
        #expect(RequestInput.page("limit=0", maximumLimit: 100) == .init(start: 0, limit: 100))
        #expect(RequestInput.page("limit=99999999999999999999", maximumLimit: 100) == .init(start: 0, limit: 50))
        #expect(RequestInput.page("limit=5000", maximumLimit: 100) == .init(start: 0, limit: 100))
    }

    @Test("PUT and DELETE bodies, field names in any case")
    func bodies() throws {
        #expect(try RequestInput.setRead(Array("{\"IDs\":[\"a\"],\"Read\":true}".utf8)) == .init(read: true, ids: ["a"], search: ""))
        #expect(
            try RequestInput.setRead(Array("{\"ids\":null,\"read\":false,\"search\":\"x\",\"extra\":1}".utf8))
                == .init(read: false, ids: [], search: "x"))
        #expect(throws: RequestInput.BadRequest.self) { try RequestInput.setRead([]) }
        #expect(throws: RequestInput.BadRequest.self) { try RequestInput.setRead(Array("{\"Read\":\"yes\"}".utf8)) }
        #expect(throws: RequestInput.BadRequest.self) { try RequestInput.setRead(Array("[true]".utf8)) }
        #expect(RequestInput.deleteIDs([]) == nil)
        #expect(RequestInput.deleteIDs(Array(" {} ".utf8)) == nil)
        #expect(RequestInput.deleteIDs(Array("{\"IDs\":[]}".utf8)) == nil)
        #expect(RequestInput.deleteIDs(Array("{\"IDs\":[\"a\",\"b\"]}".utf8)) == ["a", "b"])
        // Not the JSON Mailpit expects: everything, as Mailpit does.
        #expect(RequestInput.deleteIDs(Array("{\"IDs\":[1]}".utf8)) == nil)
        #expect(RequestInput.deleteIDs(Array("ids=a&ids=b".utf8)) == nil)
    }
}

@Suite("Dates and message digests")
struct MessageDigestTests {
    @Test("Date headers, with their offsets, as RFC 3339")
    func dates() {
        #expect(MessageDate.parse("Fri, 02 Jan 2026 10:00:00 +1000")?.rfc3339 == "2026-01-02T10:00:00.000+10:00")
        #expect(MessageDate.parse("2 Jan 26 10:00 GMT")?.rfc3339 == "2026-01-02T10:00:00.000Z")
        #expect(MessageDate.parse("Thu, 1 Jan 2026 23:59:59 -0430 (EST-ish)")?.rfc3339 == "2026-01-01T23:59:59.000-04:30")
        #expect(MessageDate.parse("Thu, 1 Jan 2026 23:59:59 -0430")?.milliseconds == 1_767_328_199_000)
        #expect(MessageDate.parse("yesterday") == nil)
        #expect(MessageDate.parse("32 Jan 2026 10:00:00") == nil)
        #expect(ZonedInstant(milliseconds: 1_767_312_000_123, offsetMinutes: 0).rfc3339 == "2026-01-02T00:00:00.123Z")
    }

    @Test("header names as Go canonicalises them")
    func canonicalNames() {
        #expect(MessageDigest.canonicalName(Array("message-ID".utf8)) == "Message-Id")
        #expect(MessageDigest.canonicalName(Array("x-MULTI-part".utf8)) == "X-Multi-Part")
        #expect(MessageDigest.canonicalName(Array("odd name".utf8)) == "odd name")
    }

    @Test("snippets and HTML text")
    func snippets() {
        #expect(MessageDigest.snippet(text: "  a\r\n b  ", html: "") == "a b")
        #expect(MessageDigest.snippet(text: "text", html: "<p>Hi&nbsp;<b>there</b></p><script>x()</script>") == "Hi there")
        let long = String(repeating: "é", count: 150)
        #expect(MessageDigest.snippet(text: long, html: "") == String(repeating: "é", count: 100) + "...")
        #expect(HTMLText.strip("<STYLE>a{}</STYLE>x &lt;y&gt; &#65;&#x42; <unclosed") == "x <y> AB")
    }
}
