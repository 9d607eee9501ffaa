// SPDX-License-Identifier: Apache-2.0
import MailServers
import ParleyTestSupport
import Testing

/// Messages the MIME and IMAP tests share (CRLF line endings).
enum MIMESamples {
    static func crlf(_ text: String) -> [UInt8] {
        Array(text.utf8).flatMap { $0 == 0x0A ? [0x0D, 0x0A] : [$0] }
    }

    static let alternative = crlf(
        """
        From: "Bob Example" <bob@example.org>
        To: alice@mail.test, Carol <carol@example.net>
        Subject: =?UTF-8?Q?Caf=C3=A9?= menu
        Date: Fri, 02 Jan 2026 10:00:00 +0100
        Message-ID: <alt@example.org>
        MIME-Version: 1.0
        Content-Type: multipart/alternative; boundary="b1"

        This is a multi-part message.
        --b1
        Content-Type: text/plain; charset=utf-8
        Content-Transfer-Encoding: quoted-printable

        Caf=C3=A9 au lait=
         for two
        --b1
        Content-Type: text/html; charset=utf-8

        <p>Caf&eacute;</p>
        --b1--
        epilogue

        """
    )

    static let mixed = crlf(
        """
        From: bob@example.org
        To: alice@mail.test
        Subject: report
        Content-Type: multipart/mixed; boundary=outer

        --outer
        Content-Type: text/plain

        See attached.
        --outer
        Content-Type: application/pdf; name="=?UTF-8?B?UmVwb3J0IOKCrC5wZGY=?="
        Content-Disposition: attachment;
         filename*0*=utf-8''R%C3%A9sum%C3%A9;
         filename*1=".pdf"
        Content-Transfer-Encoding: base64
        Content-ID: <att1@example.org>
        Content-Description: the report

        JVBERi0xLjQK
        aGVsbG8=
        --outer--

        """
    )

    static let forwarded = crlf(
        """
        From: bob@example.org
        Subject: Fwd: hello
        Content-Type: multipart/mixed; boundary="fw"

        --fw
        Content-Type: text/plain

        Forwarding.
        --fw
        Content-Type: message/rfc822

        From: Carol <carol@example.net>
        Subject: hello
        Content-Type: text/plain; charset=us-ascii

        Hi Bob.
        --fw--

        """
    )
}

@Suite("MIMEPart")
struct MIMEPartTests {
    @Test("a message without Content-Type is text/plain us-ascii 7bit")
    func defaults() {
        let part = MIMEPart(parsing: MIMESamples.crlf("Subject: hi\n\nline one\nline two\n"))
        #expect(part.type == "text")
        #expect(part.subtype == "plain")
        #expect(part.parameters == ["charset": "us-ascii"])
        #expect(part.transferEncoding == "7bit")
        #expect(part.body == bytes("line one\r\nline two\r\n"))
        #expect(part.bodyLines == 2)
        #expect(part.parts.isEmpty && part.message == nil)
        #expect(part.filename == nil)
    }

    @Test("multipart/alternative: two parts, preamble and epilogue dropped, quoted-printable decoded")
    func alternative() {
        let part = MIMEPart(parsing: MIMESamples.alternative)
        #expect(part.type == "multipart" && part.subtype == "alternative")
        #expect(part.parameters["boundary"] == "b1")
        #expect(part.parts.count == 2)
        let plain = part.parts[0]
        #expect(plain.type == "text" && plain.subtype == "plain" && plain.parameters == ["charset": "utf-8"])
        #expect(plain.transferEncoding == "quoted-printable")
        #expect(plain.body == bytes("Caf=C3=A9 au lait=\r\n for two"))
        #expect(plain.decodedBody() == Array("Café au lait for two".utf8))
        #expect(plain.bodyLines == 2)
        #expect(part.parts[1].subtype == "html")
        #expect(part.parts[1].body == bytes("<p>Caf&eacute;</p>"))
        #expect(part.parts[1].headerBytes == bytes("Content-Type: text/html; charset=utf-8\r\n\r\n"))
    }

    @Test("multipart/mixed with an attachment: RFC 2231 and RFC 2047 names, base64 decoded")
    func attachment() {
        let part = MIMEPart(parsing: MIMESamples.mixed)
        #expect(part.parts.count == 2)
        #expect(part.parts[0].parameters == [:], "an explicit text/plain without charset gets none")
        let pdf = part.parts[1]
        #expect(pdf.type == "application" && pdf.subtype == "pdf")
        #expect(pdf.disposition == "attachment")
        #expect(pdf.dispositionParameters == ["filename": "Résumé.pdf"])
        #expect(pdf.filename == "Résumé.pdf")
        #expect(pdf.parameters["name"] == "=?UTF-8?B?UmVwb3J0IOKCrC5wZGY=?=")
        #expect(pdf.contentID == "<att1@example.org>")
        #expect(pdf.description == "the report")
        #expect(pdf.decodedBody() == bytes("%PDF-1.4\nhello"))
        var unnamed = pdf
        unnamed.dispositionParameters = [:]
        #expect(unnamed.filename == "Report €.pdf")
    }

    @Test("message/rfc822 encloses a parsed message")
    func enclosedMessage() {
        let part = MIMEPart(parsing: MIMESamples.forwarded)
        #expect(part.parts.count == 2)
        let rfc822 = part.parts[1]
        #expect(rfc822.type == "message" && rfc822.subtype == "rfc822")
        let inner = rfc822.message
        #expect(inner?.header.text("Subject") == "hello")
        #expect(inner?.body == bytes("Hi Bob."))
        #expect(inner?.parameters == ["charset": "us-ascii"])
    }

    @Test("nested multiparts with a boundary that is a prefix of another")
    func nestedBoundaries() {
        let message = MIMESamples.crlf(
            """
            Content-Type: multipart/mixed; boundary=a

            --a
            Content-Type: multipart/alternative; boundary=ab

            --ab
            one
            --ab
            two
            --ab--
            --a
            three
            --a--
            """
        )
        let part = MIMEPart(parsing: message)
        #expect(part.parts.count == 2)
        #expect(part.parts[0].parts.map(\.body) == [bytes("one"), bytes("two")])
        #expect(part.parts[1].body == bytes("three"))
        #expect(part.parts[1].headerBytes.isEmpty)
    }

    @Test("multipart/digest parts default to message/rfc822")
    func digest() {
        let message = MIMESamples.crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nbody\n--d--\n")
        let part = MIMEPart(parsing: message)
        #expect(part.parts.first?.type == "message")
        #expect(part.parts.first?.message?.header.text("Subject") == "one")
    }

    @Test("broken input: no boundary, no closing delimiter, garbage type, bare LF")
    func broken() {
        let noBoundary = MIMEPart(parsing: MIMESamples.crlf("Content-Type: multipart/mixed\n\n--x\nhi\n"))
        #expect(noBoundary.type == "multipart" && noBoundary.parts.isEmpty)
        let unclosed = MIMEPart(parsing: bytes("Content-Type: multipart/mixed; boundary=x\n\n--x\nhi\n--x\nthere"))
        #expect(unclosed.parts.map(\.body) == [bytes("hi"), bytes("there")])
        let garbage = MIMEPart(parsing: bytes("Content-Type: ;;==\"\n\nbody"))
        #expect(garbage.type == "text" && garbage.subtype == "plain")
        let empty = MIMEPart(parsing: [])
        #expect(empty.body.isEmpty && empty.type == "text")
        #expect(MIMEPart(parsing: bytes("Content-Transfer-Encoding: base64\n\n!!!")).decodedBody().isEmpty)
        #expect(
            MIMEPart(parsing: bytes("Content-Transfer-Encoding: quoted-printable\n\na=ZZ=4")).decodedBody() == bytes("a=ZZ=4")
        )
    }

    @Test("nesting stops at the maximum depth and parts at the maximum count")
    func bounds() {
        var deep = bytes("deepest")
        for level in 0..<40 {
            deep = bytes("Content-Type: multipart/mixed; boundary=l\(level)\r\n\r\n--l\(level)\r\n") + deep + bytes("\r\n--l\(level)--\r\n")
        }
        var part = MIMEPart(parsing: deep)
        var depth = 0
        while let child = part.parts.first {
            part = child
            depth += 1
        }
        #expect(depth == MIMEPart.maximumDepth)
        let many =
            bytes("Content-Type: multipart/mixed; boundary=m\r\n\r\n") + Array(repeating: bytes("--m\r\nx\r\n"), count: 3000).flatMap { $0 }
        #expect(MIMEPart(parsing: many).parts.count == MIMEPart.maximumParts - 1)
    }
}
