// SPDX-License-Identifier: Apache-2.0

/// One FETCH data item (RFC 3501 §6.4.5).
enum IMAPFetchItem: Sendable, Equatable {
    case flags
    case uid
    case internalDate
    case size
    case envelope
    case bodyStructure
    case body
    case rfc822
    case rfc822Header
    case rfc822Text
    /// `BODY[section]<origin.count>` or `BODY.PEEK[...]`; `label` is the response's name.
    case section(IMAPSection, label: [UInt8], peek: Bool, partial: (origin: Int, count: Int)?)

    static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.section(let a, let la, let pa, let xa), .section(let b, let lb, let pb, let xb)):
            a == b && la == lb && pa == pb && xa?.origin == xb?.origin && xa?.count == xb?.count
        case (.flags, .flags), (.uid, .uid), (.internalDate, .internalDate), (.size, .size), (.envelope, .envelope),
            (.bodyStructure, .bodyStructure), (.body, .body), (.rfc822, .rfc822), (.rfc822Header, .rfc822Header),
            (.rfc822Text, .rfc822Text):
            true
        default: false
        }
    }

    /// Whether fetching the item sets `\Seen`.
    var setsSeen: Bool {
        switch self {
        case .rfc822, .rfc822Text: true
        case .section(_, _, let peek, _): !peek
        default: false
        }
    }

    /// Parses one item, or a macro into its items.
    static func parse(_ atom: [UInt8]) -> [IMAPFetchItem]? {
        let upper = ASCII.uppercased(atom)
        switch String(decoding: upper, as: UTF8.self) {
        case "FLAGS": return [.flags]
        case "UID": return [.uid]
        case "INTERNALDATE": return [.internalDate]
        case "RFC822.SIZE": return [.size]
        case "ENVELOPE": return [.envelope]
        case "BODYSTRUCTURE": return [.bodyStructure]
        case "BODY": return [.body]
        case "RFC822": return [.rfc822]
        case "RFC822.HEADER": return [.rfc822Header]
        case "RFC822.TEXT": return [.rfc822Text]
        case "FAST": return [.flags, .internalDate, .size]
        case "ALL": return [.flags, .internalDate, .size, .envelope]
        case "FULL": return [.flags, .internalDate, .size, .envelope, .body]
        default: break
        }
        let peek: Bool
        let rest: ArraySlice<UInt8>
        if upper.starts(with: Array("BODY.PEEK[".utf8)) {
            peek = true
            rest = atom[10...]
        } else if upper.starts(with: Array("BODY[".utf8)) {
            peek = false
            rest = atom[5...]
        } else {
            return nil
        }
        guard let close = rest.lastIndex(of: UInt8(ascii: "]")) else { return nil }
        let sectionText = Array(rest[rest.startIndex..<close])
        guard let section = IMAPSection(sectionText) else { return nil }
        let after = rest[(close + 1)...]
        var partial: (Int, Int)?
        var label = Array("BODY[".utf8) + sectionText + [UInt8(ascii: "]")]
        if !after.isEmpty {
            guard after.first == UInt8(ascii: "<"), after.last == UInt8(ascii: ">") else { return nil }
            let numbers = after.dropFirst().dropLast().split(separator: ASCII.dot, omittingEmptySubsequences: false)
            guard numbers.count == 2, let origin = ASCII.number(numbers[0]), let count = ASCII.number(numbers[1]), count > 0 else {
                return nil
            }
            partial = (origin, count)
            label += Array("<\(origin)>".utf8)
        }
        return [.section(section, label: label, peek: peek, partial: partial)]
    }
}

extension IMAPServerSession {
    /// FETCH and UID FETCH.
    mutating func fetch(account: String, byUID: Bool, tokens: inout IMAPTokens, out: inout Output) {
        out.expunge = byUID
        guard let view else { return }
        guard let set = tokens.atom().flatMap(IMAPSequenceSet.init) else {
            out.status = "BAD invalid sequence set"
            return
        }
        var atoms: [[UInt8]] = []
        if tokens.open() {
            while !tokens.close() {
                guard let atom = tokens.atom() else {
                    out.status = "BAD invalid fetch items"
                    return
                }
                atoms.append(atom)
            }
        } else if let atom = tokens.atom() {
            atoms.append(atom)
        }
        // CHANGEDSINCE and other modifiers are not supported; extra tokens are ignored.
        var items: [IMAPFetchItem] = []
        for atom in atoms {
            guard let parsed = IMAPFetchItem.parse(atom) else {
                out.status = "BAD unsupported fetch item"
                return
            }
            items += parsed
        }
        guard !items.isEmpty else {
            out.status = "BAD missing fetch items"
            return
        }
        if byUID && !items.contains(.uid) {
            items.insert(.uid, at: 0)
        }
        var chosen = messages(set, byUID: byUID)
        // Reading a body sets \Seen (RFC 3501 §6.4.5), and the changed flags are reported.
        var seenSet: Set<UInt32> = []
        if !view.readOnly, items.contains(where: \.setsSeen) {
            let unseen = Set(chosen.filter { !$0.entry.flags.contains(MailStore.Flag.seen) }.map(\.entry.uid))
            if !unseen.isEmpty,
                let changed = try? options.store.setFlags(
                    user: account,
                    mailbox: view.name,
                    uids: unseen,
                    flags: [MailStore.Flag.seen],
                    mode: .add
                )
            {
                let byID = Dictionary(changed.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
                chosen = chosen.map { selected in
                    byID[selected.entry.uid].map { Selected(sequenceNumber: selected.sequenceNumber, entry: $0, message: selected.message) }
                        ?? selected
                }
                seenSet = unseen
            }
        }
        var updated = view
        var reply: [UInt8] = []
        for selected in chosen {
            var messageItems = items
            if seenSet.contains(selected.entry.uid) && !messageItems.contains(.flags) {
                messageItems.append(.flags)
            }
            var parsed: MIMEPart?
            var parts: [[UInt8]] = []
            for item in messageItems {
                parts.append(Self.render(item, selected: selected, view: view, parsed: &parsed))
            }
            if messageItems.contains(.flags) { updated.noteFlags(selected.entry) }
            reply +=
                Array("* \(selected.sequenceNumber) FETCH (".utf8) + Array(parts.joined(separator: [ASCII.space]))
                + ASCII.line(")")
        }
        self.view = updated
        out.untagged = reply
        out.status = "OK \(byUID ? "UID FETCH" : "FETCH") completed"
    }

    /// One item of a FETCH response.
    static func render(
        _ item: IMAPFetchItem,
        selected: Selected,
        view: IMAPMailboxView,
        parsed: inout MIMEPart?
    ) -> [UInt8] {
        let bytes = selected.message.bytes
        func structure() -> MIMEPart {
            if let parsed { return parsed }
            let part = MIMEPart(parsing: bytes)
            parsed = part
            return part
        }
        func labelled(_ label: String, _ value: [UInt8]) -> [UInt8] {
            Array(label.utf8) + [ASCII.space] + value
        }
        switch item {
        case .flags:
            return labelled("FLAGS", Array("(\(view.shownFlags(selected.entry).joined(separator: " ")))".utf8))
        case .uid:
            return Array("UID \(selected.entry.uid)".utf8)
        case .internalDate:
            return Array("INTERNALDATE \"\(MailDate.imap(selected.message.received))\"".utf8)
        case .size:
            return Array("RFC822.SIZE \(bytes.count)".utf8)
        case .envelope:
            return labelled("ENVELOPE", structure().imapEnvelope)
        case .bodyStructure:
            return labelled("BODYSTRUCTURE", structure().imapBodyStructure(extensible: true))
        case .body:
            return labelled("BODY", structure().imapBodyStructure(extensible: false))
        case .rfc822:
            return labelled("RFC822", IMAPWrite.literal(bytes))
        case .rfc822Header:
            return labelled("RFC822.HEADER", IMAPWrite.literal(Array(bytes[..<structure().header.bodyOffset])))
        case .rfc822Text:
            return labelled("RFC822.TEXT", IMAPWrite.literal(structure().body))
        case .section(let section, let label, _, let partial):
            var data: [UInt8]
            if section.path.isEmpty && section.text == .all {
                data = bytes
            } else {
                data = section.bytes(of: bytes, root: structure()) ?? []
            }
            if let partial {
                let start = min(partial.origin, data.count)
                data = Array(data[start..<min(data.count, start + partial.count)])
            }
            return label + [ASCII.space] + IMAPWrite.literal(data)
        }
    }
}
