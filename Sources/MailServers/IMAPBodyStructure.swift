// SPDX-License-Identifier: Apache-2.0

/// IMAP's views of a parsed message: ENVELOPE, BODY and BODYSTRUCTURE (RFC 3501 §7.4.2), and
/// the sections of `BODY[section]` (RFC 3501 §6.4.5).
extension MIMEPart {
    /// The ENVELOPE of a message: date, subject, from, sender, reply-to, to, cc, bcc,
    /// in-reply-to, message-id; sender and reply-to default to from.
    public var imapEnvelope: [UInt8] {
        func addresses(_ name: String) -> [UInt8]? {
            guard header.value(name) != nil else { return nil }
            let list = header.addresses(name)
            guard !list.isEmpty else { return nil }
            // `"(" 1*address ")"`: the addresses follow each other without spaces.
            return [UInt8(ascii: "(")]
                + list.flatMap { address in
                    IMAPWrite.list([
                        IMAPWrite.nstring(address.name),
                        Array("NIL".utf8),
                        IMAPWrite.string(address.mailbox),
                        IMAPWrite.nstring(address.host),
                    ])
                } + [UInt8(ascii: ")")]
        }
        let nilBytes = Array("NIL".utf8)
        let from = addresses("From")
        return IMAPWrite.list([
            IMAPWrite.nstring(header.value("Date")),
            IMAPWrite.nstring(header.value("Subject")),
            from ?? nilBytes,
            addresses("Sender") ?? from ?? nilBytes,
            addresses("Reply-To") ?? from ?? nilBytes,
            addresses("To") ?? nilBytes,
            addresses("Cc") ?? nilBytes,
            addresses("Bcc") ?? nilBytes,
            IMAPWrite.nstring(header.value("In-Reply-To")),
            IMAPWrite.nstring(header.value("Message-ID")),
        ])
    }

    /// BODYSTRUCTURE (with extension data) or BODY (without).
    ///
    /// - Parameter extensible: whether to add the extension data (BODYSTRUCTURE).
    public func imapBodyStructure(extensible: Bool) -> [UInt8] {
        let space = [ASCII.space]
        let nilBytes = Array("NIL".utf8)
        if isMultipart {
            var out: [UInt8] = [UInt8(ascii: "(")]
            if parts.isEmpty {
                // The grammar needs one part at least: an empty text part, as other servers do.
                out += MIMEPart(parsing: []).imapBodyStructure(extensible: extensible)
            }
            for part in parts {
                out += part.imapBodyStructure(extensible: extensible)
            }
            out += space + IMAPWrite.string(subtype)
            if extensible {
                out += space + Self.parameterList(parameters)
                out += space + dispositionList
                out += space + languageList
                out += space + IMAPWrite.nstring(header.value("Content-Location"))
            }
            return out + [UInt8(ascii: ")")]
        }
        var fields: [[UInt8]] = [
            IMAPWrite.string(type),
            IMAPWrite.string(subtype),
            Self.parameterList(parameters),
            contentID.map { IMAPWrite.string($0) } ?? nilBytes,
            header.value("Content-Description").map(IMAPWrite.string) ?? nilBytes,
            IMAPWrite.string(transferEncoding),
            Array("\(body.count)".utf8),
        ]
        if let enclosed = message, type == "message" {
            fields.append(enclosed.imapEnvelope)
            fields.append(enclosed.imapBodyStructure(extensible: extensible))
            fields.append(Array("\(bodyLines)".utf8))
        } else if type == "text" {
            fields.append(Array("\(bodyLines)".utf8))
        }
        if extensible {
            fields.append(IMAPWrite.nstring(header.value("Content-MD5")))
            fields.append(dispositionList)
            fields.append(languageList)
            fields.append(IMAPWrite.nstring(header.value("Content-Location")))
        }
        return IMAPWrite.list(fields)
    }

    /// `("name" "value" ...)` sorted by name, or NIL; a value that is not ASCII goes out as an
    /// RFC 2047 encoded word, as clients expect there.
    static func parameterList(_ parameters: [String: String]) -> [UInt8] {
        guard !parameters.isEmpty else { return Array("NIL".utf8) }
        return IMAPWrite.list(
            parameters.keys.sorted().flatMap { name in
                let value = Array(parameters[name]!.utf8)
                let shown = value.allSatisfy { $0 < 0x80 } ? value : Array("=?UTF-8?B?".utf8) + Base64.encode(value) + Array("?=".utf8)
                return [IMAPWrite.string(Array(name.utf8)), IMAPWrite.string(shown)]
            }
        )
    }

    /// `("attachment" ("filename" "a.pdf"))`, or NIL.
    var dispositionList: [UInt8] {
        guard let disposition else { return Array("NIL".utf8) }
        return IMAPWrite.list([IMAPWrite.string(disposition), Self.parameterList(dispositionParameters)])
    }

    /// Content-Language as a list of strings, or NIL.
    var languageList: [UInt8] {
        guard let value = header.value("Content-Language") else { return Array("NIL".utf8) }
        let tags = value.split { $0 == UInt8(ascii: ",") || $0 == ASCII.space }.map { Array($0) }
        guard !tags.isEmpty else { return Array("NIL".utf8) }
        return tags.count == 1 ? IMAPWrite.string(tags[0]) : IMAPWrite.list(tags.map(IMAPWrite.string))
    }

    /// The part at a part path (`[1, 2]` for `BODY[1.2]`), following RFC 3501 §6.4.5: part 1 of
    /// a message that is not multipart is its body; the parts of a message/rfc822 part are those
    /// of the enclosed message.
    func part(at path: [Int]) -> MIMEPart? {
        var current = self
        for (index, number) in path.enumerated() {
            if index > 0, let enclosed = current.message {
                current = enclosed
            }
            if current.isMultipart {
                guard number >= 1, number <= current.parts.count else { return nil }
                current = current.parts[number - 1]
            } else if number != 1 {
                return nil
            }
        }
        return current
    }
}

/// A `BODY[section]` specifier.
struct IMAPSection: Sendable, Equatable {
    /// What of the part is wanted.
    enum Text: Sendable, Equatable {
        /// All of it: the whole message, or a part's body.
        case all
        case header
        case headerFields([[UInt8]])
        case headerFieldsNot([[UInt8]])
        case text
        case mime
    }

    var path: [Int]
    var text: Text

    /// Parses the text between the brackets (`1.2.HEADER.FIELDS (From To)`), or nil.
    init?(_ bytes: [UInt8]) {
        var rest = bytes[...]
        var path: [Int] = []
        while let first = rest.first, (0x30...0x39).contains(first) {
            let digits = rest.prefix { (0x30...0x39).contains($0) }
            guard let number = ASCII.number(digits), number > 0 else { return nil }
            path.append(number)
            rest = rest.dropFirst(digits.count)
            if rest.first == ASCII.dot {
                rest = rest.dropFirst()
                guard !rest.isEmpty else { return nil }
            } else {
                break
            }
        }
        self.path = path
        let upper = ASCII.uppercased(rest)
        if upper.isEmpty {
            text = .all
        } else if upper == Array("HEADER".utf8) {
            text = .header
        } else if upper == Array("TEXT".utf8) {
            text = .text
        } else if upper == Array("MIME".utf8), !path.isEmpty {
            text = .mime
        } else if upper.starts(with: Array("HEADER.FIELDS".utf8)) {
            var tokens = IMAPTokens(segments: [.text(Array(rest))])
            guard let keyword = tokens.keyword(), let names = tokens.astringList(), !names.isEmpty, tokens.atEnd else {
                return nil
            }
            let lowered = names.map { ASCII.uppercased($0) }
            switch keyword {
            case Array("HEADER.FIELDS".utf8): text = .headerFields(lowered)
            case Array("HEADER.FIELDS.NOT".utf8): text = .headerFieldsNot(lowered)
            default: return nil
            }
        } else {
            return nil
        }
    }

    /// The section's bytes in a message (nil when the part does not exist).
    func bytes(of message: [UInt8], root: MIMEPart) -> [UInt8]? {
        guard !path.isEmpty else {
            switch text {
            case .all: return message
            case .text: return root.body
            case .mime: return nil
            default: return Self.headerBytes(root.headerBytes, text)
            }
        }
        guard let part = root.part(at: path) else { return nil }
        switch text {
        case .all: return part.body
        case .mime: return part.headerBytes
        case .text: return (part.message ?? part).body
        default: return Self.headerBytes((part.message ?? part).headerBytes, text)
        }
    }

    /// A header section, all of it or the chosen fields (with the blank line after).
    static func headerBytes(_ header: [UInt8], _ text: Text) -> [UInt8] {
        let (names, keep): ([[UInt8]], Bool)
        switch text {
        case .headerFields(let list): (names, keep) = (list, true)
        case .headerFieldsNot(let list): (names, keep) = (list, false)
        default: return header
        }
        var out: [UInt8] = []
        var keeping = false
        var index = 0
        while index < header.count {
            var end = index
            while end < header.count && header[end] != ASCII.lf { end += 1 }
            let line = header[index..<min(end + 1, header.count)]
            if let first = line.first, first == ASCII.space || first == MessageHeader.tab {
                if keeping { out += line }
            } else if let colon = line.firstIndex(of: MessageHeader.colon) {
                let name = ASCII.uppercased(MailAddress.trim(Array(line[line.startIndex..<colon])))
                keeping = names.contains(name) == keep
                if keeping { out += line }
            } else {
                keeping = false
            }
            index = end + 1
        }
        return out + ASCII.crlf
    }
}
