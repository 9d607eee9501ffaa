// SPDX-License-Identifier: Apache-2.0
import MailServers

/// What the API shows of one stored message, worked out once from its bytes (messages never
/// change, so ``MailpitStore`` keeps these by message id): the address fields, subject and
/// dates from the header (``MessageHeader``), the text and HTML bodies and the attachments from
/// the MIME structure (``MIMEPart``), the snippet and Mailpit's search text.
struct MessageDigest: Sendable {
    /// One attachment or inline part, with where it is in the MIME tree.
    struct Part: Sendable {
        /// Mailpit's part id: the path of child numbers, `1`, `2.1`…
        var partID: String
        var fileName: String
        var contentType: String
        var contentID: String
        /// The part's decoded bytes.
        var content: [UInt8]

        var json: MailpitAttachment {
            MailpitAttachment(
                partID: partID,
                fileName: fileName,
                contentType: contentType,
                contentID: contentID,
                size: content.count,
                checksums: .init(md5: "", sha1: "", sha256: "")
            )
        }
    }

    var id: String
    var messageID: String
    var from: MailpitAddress
    var to: [MailpitAddress]
    var cc: [MailpitAddress]
    var bcc: [MailpitAddress]
    var replyTo: [MailpitAddress]
    var returnPath: String
    var subject: String
    /// When the message arrived.
    var created: ZonedInstant
    /// The `Date:` header, or when the message arrived.
    var date: ZonedInstant
    var text: String
    var html: String
    var inline: [Part]
    var attachments: [Part]
    var snippet: String
    var size: Int
    var listUnsubscribe: String
    var listUnsubscribePost: String
    /// The search view, `read` left false (the caller sets it).
    var searchable: SearchableMessage
    /// The header fields, for `/headers`: Go's canonical names, values in order.
    var headers: [String: [String]]

    /// Works out the digest of a stored message.
    init(_ message: MailStore.StoredMessage) {
        let header = MessageHeader(parsing: message.bytes)
        id = message.id
        let fromAddresses = header.addresses("From")
        if let first = fromAddresses.first {
            from = Self.json(first)
        } else if let raw = header.text("From"), !raw.isEmpty {
            from = MailpitAddress(name: raw, address: "")
        } else {
            from = MailpitAddress(name: "", address: "")
        }
        to = header.addresses("To").map(Self.json)
        cc = header.addresses("Cc").map(Self.json)
        bcc = header.addresses("Bcc").map(Self.json)
        replyTo = header.addresses("Reply-To").map(Self.json)
        messageID = Self.trimAngles(header.text("Message-ID") ?? "")
        let returnPathHeader = Self.trimAngles(header.text("Return-Path") ?? "")
        returnPath = returnPathHeader.isEmpty ? from.address : returnPathHeader
        subject = header.text("Subject") ?? ""
        created = ZonedInstant(milliseconds: message.received * 1000, offsetMinutes: 0)
        date = header.text("Date").flatMap(MessageDate.parse) ?? created
        size = message.bytes.count
        listUnsubscribe = header.text("List-Unsubscribe") ?? ""
        listUnsubscribePost = header.text("List-Unsubscribe-Post") ?? ""

        var walk = PartWalk()
        walk.visit(MIMEPart(parsing: message.bytes), path: [], inRelated: false)
        text = walk.text ?? ""
        html = walk.html ?? ""
        inline = walk.inline
        attachments = walk.attachments
        snippet = Self.snippet(text: text, html: html)

        var headers: [String: [String]] = [:]
        for field in header.fields {
            headers[Self.canonicalName(field.name), default: []].append(String(decoding: field.value, as: UTF8.self))
        }
        self.headers = headers

        // Mailpit's search text: the address headers, subject and Return-Path, then the HTML as
        // text (or the text body), then the attachments' file names; cleaned.
        var search = ""
        for name in ["From", "Subject", "To", "Cc", "Bcc", "Reply-To", "Return-Path"] {
            search += (header.text(name) ?? "") + " "
        }
        let strippedHTML = HTMLText.strip(html)
        search += (strippedHTML.isEmpty ? text : strippedHTML) + " "
        for part in attachments { search += part.fileName + " " }
        func addressText(_ list: [MailpitAddress]) -> String {
            MailpitSearch.clean(list.map { $0.name + " " + $0.address }.joined(separator: " , "))
        }
        searchable = SearchableMessage(
            text: MailpitSearch.clean(search),
            to: addressText(to),
            from: addressText(fromAddresses.isEmpty ? [] : [from]),
            cc: addressText(cc),
            bcc: addressText(bcc),
            replyTo: addressText(replyTo),
            subject: subject.lowercased(),
            messageID: messageID.lowercased(),
            read: false,
            attachments: attachments.count,
            inline: inline.count,
            created: created.milliseconds,
            size: Int64(size)
        )
    }

    /// The list entry.
    func summary(read: Bool) -> MailpitMessageSummary {
        MailpitMessageSummary(
            id: id,
            messageID: messageID,
            read: read,
            from: from,
            to: to,
            cc: cc,
            bcc: bcc,
            replyTo: replyTo,
            subject: subject,
            created: created.rfc3339,
            username: "",
            tags: [],
            size: size,
            attachments: attachments.count,
            snippet: snippet
        )
    }

    /// The full message.
    var message: MailpitMessage {
        MailpitMessage(
            id: id,
            messageID: messageID,
            read: true,
            from: from,
            to: to,
            cc: cc,
            bcc: bcc,
            replyTo: replyTo,
            returnPath: returnPath,
            subject: subject,
            listUnsubscribe: MailpitListUnsubscribe(
                header: listUnsubscribe,
                links: Self.unsubscribeLinks(listUnsubscribe),
                errors: "",
                headerPost: listUnsubscribePost
            ),
            date: date.rfc3339,
            tags: [],
            username: "",
            text: text,
            html: html,
            size: size,
            inline: inline.map(\.json),
            attachments: attachments.map(\.json)
        )
    }

    /// A part by its Mailpit part id.
    func part(_ partID: String) -> Part? {
        (inline + attachments).first { $0.partID == partID }
    }

    /// Walks the MIME tree as Mailpit's parser (enmime) sorts parts: the first text/plain and
    /// text/html that are not attachments are the bodies; parts marked `attachment` are
    /// attachments; other parts with a file name or Content-ID are inline when marked `inline`
    /// or inside multipart/related, attachments otherwise.
    struct PartWalk {
        var text: String?
        var html: String?
        var inline: [Part] = []
        var attachments: [Part] = []

        mutating func visit(_ part: MIMEPart, path: [Int], inRelated: Bool) {
            if part.isMultipart {
                let related = inRelated || part.subtype == "related"
                for (index, child) in part.parts.enumerated() {
                    visit(child, path: path + [index + 1], inRelated: related)
                }
                return
            }
            let isAttachment = part.disposition == "attachment"
            let fileName = part.filename ?? ""
            if part.type == "text" && !isAttachment && (part.subtype == "plain" || part.subtype == "html") {
                if part.subtype == "plain" && text == nil && fileName.isEmpty {
                    text = TextDecoding.string(part.decodedBody(), charset: part.charset)
                    return
                }
                if part.subtype == "html" && html == nil && fileName.isEmpty {
                    html = TextDecoding.string(part.decodedBody(), charset: part.charset)
                    return
                }
            }
            let contentID = part.contentID.map(MessageDigest.trimAngles) ?? ""
            guard isAttachment || !fileName.isEmpty || !contentID.isEmpty else { return }
            let item = Part(
                partID: path.isEmpty ? "0" : path.map(String.init).joined(separator: "."),
                fileName: fileName.isEmpty ? contentID : fileName,
                contentType: part.type + "/" + part.subtype,
                contentID: contentID,
                content: part.decodedBody()
            )
            if !isAttachment && (part.disposition == "inline" || inRelated) {
                inline.append(item)
            } else {
                attachments.append(item)
            }
        }
    }

    /// An address as the API shows it.
    static func json(_ address: MailAddress) -> MailpitAddress {
        MailpitAddress(name: address.displayName, address: address.address)
    }

    /// The text without surrounding `<` and `>` (Go's `strings.Trim(s, "<>")`).
    static func trimAngles(_ text: String) -> String {
        var slice = Substring(text.trimmingBlanks)
        while slice.first == "<" || slice.first == ">" { slice = slice.dropFirst() }
        while slice.last == "<" || slice.last == ">" { slice = slice.dropLast() }
        return String(slice)
    }

    /// Go's canonical MIME header key (`textproto.CanonicalMIMEHeaderKey`): the first letter and
    /// each letter after a hyphen upper-case, the rest lower-case (`Message-Id`); a name with a
    /// byte outside the token set stays as written.
    static func canonicalName(_ name: [UInt8]) -> String {
        let valid = name.allSatisfy { byte in
            byte > 0x20 && byte < 0x7F && !"()<>@,;:\\\"/[]?={} ".utf8.contains(byte)
        }
        guard valid else { return String(decoding: name, as: UTF8.self) }
        var upper = true
        var out: [UInt8] = []
        for byte in name {
            var byte = byte
            if upper && byte >= 0x61 && byte <= 0x7A { byte -= 0x20 } else if !upper && byte >= 0x41 && byte <= 0x5A { byte += 0x20 }
            out.append(byte)
            upper = byte == UInt8(ascii: "-")
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Mailpit's snippet: the HTML as text when there is HTML, else the text; blanks collapsed;
    /// the first 200 bytes and `...` when longer.
    static func snippet(text: String, html: String) -> String {
        let source = html.trimmingBlanks.isEmpty ? text : HTMLText.strip(html)
        let collapsed = source.replacingBOM.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
        guard collapsed.utf8.count > 200 else { return collapsed }
        var cut = ""
        for character in collapsed {
            guard cut.utf8.count + character.utf8.count <= 200 else { break }
            cut.append(character)
        }
        return cut + "..."
    }

    /// The `<https://…>` and `<mailto:…>` links of a List-Unsubscribe header.
    static func unsubscribeLinks(_ header: String) -> [String] {
        var links: [String] = []
        var rest = Substring(header)
        while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
            let link = String(rest[rest.index(after: open)..<close]).trimmingBlanks
            if !link.isEmpty { links.append(link) }
            rest = rest[rest.index(after: close)...]
        }
        return links
    }
}

extension String {
    /// U+FEFF replaced with a blank (Mailpit does so before collapsing blanks).
    var replacingBOM: String {
        String(map { $0 == "\u{FEFF}" ? " " : $0 })
    }
}

/// Body bytes as text, by charset: UTF-8 and US-ASCII (and unknown charsets, with replacement
/// characters) as UTF-8, ISO-8859-1 and Windows-1252 byte by byte.
enum TextDecoding {
    static func string(_ bytes: [UInt8], charset: String?) -> String {
        switch charset ?? "utf-8" {
        case "iso-8859-1", "latin1", "iso_8859-1", "windows-1252", "cp1252":
            String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        default:
            String(decoding: bytes, as: UTF8.self)
        }
    }
}

/// HTML as plain text, roughly: tags removed (`<script>` and `<style>` with their content), a
/// few entities decoded, blanks where block tags were. For the snippet and the search text.
enum HTMLText {
    static func strip(_ html: String) -> String {
        let scalars = Array(html.unicodeScalars)
        var out = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            guard scalars[index] == "<" else {
                out.append(scalars[index])
                index += 1
                continue
            }
            var end = index
            if let element = ["script", "style"].first(where: { startsWith(scalars, at: index + 1, $0) }) {
                // Skip to the closing tag (or the end: each byte is scanned once either way).
                end = index + 1
                while end < scalars.count, !(scalars[end] == "<" && startsWith(scalars, at: end + 1, "/" + element)) {
                    end += 1
                }
            }
            while end < scalars.count, scalars[end] != ">" { end += 1 }
            out.append(" ")
            index = end + 1
        }
        return decodeEntities(String(out)).split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// Whether `scalars` has `word` (ASCII, compared case-insensitively) at `offset`.
    static func startsWith(_ scalars: [Unicode.Scalar], at offset: Int, _ word: String) -> Bool {
        let wanted = Array(word.unicodeScalars)
        guard offset + wanted.count <= scalars.count else { return false }
        for (position, scalar) in wanted.enumerated() {
            var value = scalars[offset + position].value
            if value >= 0x41 && value <= 0x5A { value += 0x20 }
            guard value == scalar.value else { return false }
        }
        return true
    }

    /// `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#39;`, `&nbsp;` and numeric references.
    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = Substring(text)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            guard let semicolon = after.prefix(10).firstIndex(of: ";") else {
                out.append("&")
                rest = after
                continue
            }
            let name = String(after[..<semicolon])
            let named = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " "]
            if let value = named[name] {
                out += value
            } else if name.hasPrefix("#"),
                let number = name.hasPrefix("#x") || name.hasPrefix("#X")
                    ? UInt32(name.dropFirst(2), radix: 16) : UInt32(name.dropFirst()), let scalar = Unicode.Scalar(number)
            {
                out.unicodeScalars.append(scalar)
            } else {
                out += "&" + name + ";"
            }
            rest = after[after.index(after: semicolon)...]
        }
        return out + rest
    }
}
