// SPDX-License-Identifier: Apache-2.0

/// What one IMAP session has told its client about the selected mailbox: the UID of each message
/// sequence number and the flags last reported. Given the store's current mailbox it yields the
/// untagged responses that bring the client up to date (RFC 3501 §7.3-7.4, §5.2).
struct IMAPMailboxView: Sendable, Equatable {
    /// The mailbox name as the store spells it.
    var name: String
    /// Whether EXAMINE selected it.
    var readOnly: Bool
    /// The mailbox's UIDVALIDITY.
    var uidValidity: UInt32
    /// The UID of each message sequence number (index + 1), ascending.
    private(set) var uids: [UInt32]
    /// The flags last reported, by UID.
    private(set) var flags: [UInt32: [String]]
    /// Messages that arrived while this session had the mailbox selected (`\Recent` for it).
    private(set) var recent: Set<UInt32> = []

    /// A view of a mailbox just selected.
    init(mailbox: MailStore.Mailbox, readOnly: Bool) {
        name = mailbox.name
        self.readOnly = readOnly
        uidValidity = mailbox.uidValidity
        uids = mailbox.entries.map(\.uid)
        flags = Dictionary(mailbox.entries.map { ($0.uid, $0.flags) }, uniquingKeysWith: { a, _ in a })
    }

    /// How many messages the client believes there are.
    var count: Int { uids.count }

    /// The largest UID the client knows of (0 when none).
    var largestUID: UInt32 { uids.last ?? 0 }

    /// The sequence number of a UID, or nil.
    func sequenceNumber(of uid: UInt32) -> Int? {
        // Binary search: UIDs ascend.
        var low = 0
        var high = uids.count - 1
        while low <= high {
            let middle = (low + high) / 2
            if uids[middle] == uid { return middle + 1 }
            if uids[middle] < uid { low = middle + 1 } else { high = middle - 1 }
        }
        return nil
    }

    /// The flags to show for a message: the stored ones, plus `\Recent` when it is recent here.
    func shownFlags(_ entry: MailStore.Entry) -> [String] {
        recent.contains(entry.uid) ? [MailStore.Flag.recent] + entry.flags : entry.flags
    }

    /// Records flags as reported (after FETCH FLAGS or STORE), so that they are not reported again.
    mutating func noteFlags(_ entry: MailStore.Entry) {
        if flags[entry.uid] != nil { flags[entry.uid] = entry.flags }
    }

    /// Brings the view up to `mailbox` and returns the untagged responses that say so: EXPUNGE
    /// for each message gone (highest sequence number first, so that each number is still right
    /// when the client reads it), then EXISTS and RECENT when messages arrived, then FETCH FLAGS
    /// for messages whose flags changed.
    ///
    /// - Parameters:
    ///   - mailbox: the store's mailbox now.
    ///   - expunge: whether EXPUNGE may be sent now (not during FETCH, STORE or SEARCH, RFC 3501
    ///     §7.4.1); when not, messages gone stay in the view until a later update.
    /// - Returns: the responses, CRLF-terminated lines.
    mutating func update(to mailbox: MailStore.Mailbox, expunge: Bool) -> [UInt8] {
        var out: [UInt8] = []
        let current = Dictionary(mailbox.entries.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
        if expunge {
            for index in uids.indices.reversed() where current[uids[index]] == nil {
                out += ASCII.line("* \(index + 1) EXPUNGE")
                flags[uids[index]] = nil
                recent.remove(uids[index])
                uids.remove(at: index)
            }
        }
        let known = largestUID
        let arrived = mailbox.entries.filter { $0.uid > known }
        if !arrived.isEmpty {
            for entry in arrived {
                uids.append(entry.uid)
                flags[entry.uid] = entry.flags
                recent.insert(entry.uid)
            }
            out += ASCII.line("* \(uids.count) EXISTS")
            out += ASCII.line("* \(recent.count) RECENT")
        }
        for (index, uid) in uids.enumerated() {
            guard let entry = current[uid], entry.uid <= known, flags[uid] != entry.flags else { continue }
            flags[uid] = entry.flags
            let shown = shownFlags(entry).joined(separator: " ")
            out += ASCII.line("* \(index + 1) FETCH (FLAGS (\(shown)))")
        }
        return out
    }
}
