// SPDX-License-Identifier: Apache-2.0
import Foundation

/// The on-disk mirror of a ``MailStore`` in Maildir++ layout, so that other mail tools (mutt,
/// Dovecot, a shell) can read what `parley serve --maildir DIR` received:
///
/// ```
/// DIR/alice/{cur,new,tmp}            INBOX
/// DIR/alice/.Archive.2026/{cur,...}  the mailbox Archive/2026
/// ```
///
/// Each message is one file in `cur/` named `RECEIVED.ID_UID.parley:2,FLAGS` (the Maildir info
/// letters D, F, R, S, T for `\Draft`, `\Flagged`, `\Answered`, `\Seen`, `\Deleted`; keywords are
/// kept in memory only). A `.` inside a mailbox level is written `%2E`. Files are written to `tmp/`
/// first and renamed into `cur/`, as the Maildir convention requires. Loading accepts any
/// Maildir file name (messages other tools put in `new/` or `cur/` are taken in, oldest first).
struct Maildir: Sendable {
    /// What went wrong reading or creating the folder.
    struct Error: Swift.Error, CustomStringConvertible {
        var description: String
    }

    /// The folder.
    let root: String

    /// Opens (creating when missing) the folder.
    init(root: String) throws {
        self.root = root
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw Error(description: "cannot create the maildir folder \(root): \(error.localizedDescription)")
        }
    }

    // MARK: - Layout

    /// The folder of a mailbox.
    func folder(user: String, mailbox: String) -> String {
        let account = root + "/" + Self.safe(user)
        guard MailStore.key(mailbox) != "INBOX" else { return account }
        let encoded = mailbox.split(separator: "/").map { $0.replacingOccurrences(of: ".", with: "%2E") }
        return account + "/." + encoded.joined(separator: ".")
    }

    /// A user name as a folder name (no slash, no leading dot).
    static func safe(_ user: String) -> String {
        var name = user.replacingOccurrences(of: "/", with: "%2F")
        if name.hasPrefix(".") { name = "%2E" + name.dropFirst() }
        return name
    }

    /// The file name of a message in a mailbox.
    static func fileName(_ message: MailStore.StoredMessage, _ entry: MailStore.Entry) -> String {
        "\(message.received).\(message.id)_\(entry.uid).parley:2,\(infoLetters(entry.flags))"
    }

    /// The Maildir info letters of flags, in ASCII order as the convention requires.
    static func infoLetters(_ flags: [String]) -> String {
        let letters: [(String, Character)] = [
            (MailStore.Flag.draft, "D"), (MailStore.Flag.flagged, "F"), (MailStore.Flag.answered, "R"),
            (MailStore.Flag.seen, "S"), (MailStore.Flag.deleted, "T"),
        ]
        return String(letters.filter { flags.contains($0.0) }.map(\.1))
    }

    /// Flags from Maildir info letters.
    static func flags(fromInfo info: Substring) -> [String] {
        var flags: [String] = []
        for letter in info {
            switch letter {
            case "D": flags.append(MailStore.Flag.draft)
            case "F": flags.append(MailStore.Flag.flagged)
            case "R": flags.append(MailStore.Flag.answered)
            case "S": flags.append(MailStore.Flag.seen)
            case "T": flags.append(MailStore.Flag.deleted)
            default: continue
            }
        }
        return flags.sorted()
    }

    // MARK: - Writing (failures are logged by nobody: the store in memory is the truth)

    /// Makes an account's INBOX folder.
    func createAccount(_ user: String) throws {
        try makeMaildir(folder(user: user, mailbox: "INBOX"))
    }

    /// Makes a mailbox's folder.
    func createMailbox(_ name: String, user: String) throws {
        try makeMaildir(folder(user: user, mailbox: name))
    }

    /// Removes a mailbox's folder.
    func deleteMailbox(_ name: String, user: String) {
        try? FileManager.default.removeItem(atPath: folder(user: user, mailbox: name))
    }

    /// Renames a mailbox's folder and those below it.
    func renameMailbox(_ old: String, to new: String, user: String) {
        let manager = FileManager.default
        let account = root + "/" + Self.safe(user)
        if MailStore.key(old) == "INBOX" {
            // INBOX's messages move; INBOX stays.
            let target = folder(user: user, mailbox: new)
            try? makeMaildir(target)
            for sub in ["cur", "new"] {
                for file in (try? manager.contentsOfDirectory(atPath: account + "/" + sub)) ?? [] {
                    try? manager.moveItem(atPath: account + "/" + sub + "/" + file, toPath: target + "/cur/" + file)
                }
            }
            return
        }
        let oldFolder = folder(user: user, mailbox: old)
        let oldName = String(oldFolder.dropFirst(account.count + 1))
        let newName = String(folder(user: user, mailbox: new).dropFirst(account.count + 1))
        for entry in (try? manager.contentsOfDirectory(atPath: account)) ?? [] where entry == oldName || entry.hasPrefix(oldName + ".") {
            try? manager.moveItem(atPath: account + "/" + entry, toPath: account + "/" + newName + entry.dropFirst(oldName.count))
        }
    }

    /// Writes a message file (tmp/ then cur/).
    func write(_ message: MailStore.StoredMessage, entry: MailStore.Entry, user: String, mailbox: String) throws {
        let base = folder(user: user, mailbox: mailbox)
        try makeMaildir(base)
        let name = Self.fileName(message, entry)
        let temporary = base + "/tmp/" + name
        guard FileManager.default.createFile(atPath: temporary, contents: Data(message.bytes)) else {
            throw Error(description: "cannot write \(temporary)")
        }
        try FileManager.default.moveItem(atPath: temporary, toPath: base + "/cur/" + name)
    }

    /// Removes a message file.
    func remove(entry: MailStore.Entry, user: String, mailbox: String) {
        if let path = find(entry: entry, user: user, mailbox: mailbox) {
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// Renames a message file after a flag change.
    func rename(_ old: MailStore.Entry, to new: MailStore.Entry, user: String, mailbox: String) {
        guard let path = find(entry: old, user: user, mailbox: mailbox) else { return }
        let directory = String(path[..<path.lastIndex(of: "/")!])
        let file = path[path.index(after: path.lastIndex(of: "/")!)...]
        let stem = file.range(of: ":2,").map { file[..<$0.lowerBound] } ?? file
        try? FileManager.default.moveItem(atPath: path, toPath: directory + "/" + stem + ":2," + Self.infoLetters(new.flags))
    }

    /// The file of an entry: the one whose name carries `ID_UID.`.
    private func find(entry: MailStore.Entry, user: String, mailbox: String) -> String? {
        let base = folder(user: user, mailbox: mailbox)
        let marker = ".\(entry.messageID)_\(entry.uid)."
        for sub in ["cur", "new"] {
            let directory = base + "/" + sub
            if let file = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).first(where: { $0.contains(marker) }) {
                return directory + "/" + file
            }
        }
        return nil
    }

    /// Creates `cur`, `new` and `tmp` under a folder.
    private func makeMaildir(_ base: String) throws {
        do {
            for sub in ["cur", "new", "tmp"] {
                try FileManager.default.createDirectory(atPath: base + "/" + sub, withIntermediateDirectories: true)
            }
        } catch {
            throw Error(description: "cannot create the maildir \(base): \(error.localizedDescription)")
        }
    }

    // MARK: - Loading

    /// Reads every account folder into the store's state. Each file gets a new UID in its
    /// mailbox; a file this program wrote keeps its message id. Files are renamed to this
    /// program's naming, so later flag changes find them.
    func load(into state: inout MailStore.State) throws {
        let manager = FileManager.default
        let accounts: [String]
        do {
            accounts = try manager.contentsOfDirectory(atPath: root).sorted()
        } catch {
            throw Error(description: "cannot read the maildir folder \(root): \(error.localizedDescription)")
        }
        for user in accounts where !user.hasPrefix(".") {
            let accountFolder = root + "/" + user
            guard manager.fileExists(atPath: accountFolder + "/cur") else { continue }
            let name = user.replacingOccurrences(of: "%2F", with: "/").replacingOccurrences(of: "%2E", with: ".")
            if state.accounts[name.lowercased()] == nil {
                MailStore.addAccount(&state, name: name, password: nil)
            }
            var mailboxes = [("INBOX", accountFolder)]
            for entry in ((try? manager.contentsOfDirectory(atPath: accountFolder)) ?? []).sorted() where entry.hasPrefix(".") {
                guard manager.fileExists(atPath: accountFolder + "/" + entry + "/cur") else { continue }
                let levels = entry.dropFirst().split(separator: ".").map { $0.replacingOccurrences(of: "%2E", with: ".") }
                mailboxes.append((levels.joined(separator: "/"), accountFolder + "/" + entry))
            }
            for (mailbox, folder) in mailboxes {
                try loadMailbox(mailbox, folder: folder, user: name.lowercased(), state: &state)
            }
        }
    }

    /// Reads one mailbox folder.
    private func loadMailbox(_ mailbox: String, folder: String, user: String, state: inout MailStore.State) throws {
        let manager = FileManager.default
        // The mailbox and the levels above it (Maildir++ keeps `.a.b` without `.a`).
        var prefix = ""
        for level in mailbox.split(separator: "/") {
            prefix += prefix.isEmpty ? String(level) : "/" + level
            if state.accounts[user]!.mailboxes[MailStore.key(prefix)] == nil {
                state.accounts[user]!.mailboxes[MailStore.key(prefix)] = MailStore.newMailbox(prefix, &state)
            }
        }
        var files: [(sub: String, name: String)] = []
        for sub in ["new", "cur"] {
            for name in (try? manager.contentsOfDirectory(atPath: folder + "/" + sub)) ?? [] where !name.hasPrefix(".") {
                files.append((sub, name))
            }
        }
        files.sort { $0.name < $1.name }
        for (sub, name) in files {
            let path = folder + "/" + sub + "/" + name
            guard let data = manager.contents(atPath: path) else { continue }
            let stem = name.range(of: ":2,").map { name[..<$0.lowerBound] } ?? name[...]
            let info = name.range(of: ":2,").map { name[$0.upperBound...] } ?? ""
            let received = Int64(stem.prefix { $0.isNumber }) ?? MailStore.now()
            var id = MailStore.newID()
            if stem.hasSuffix(".parley"), let dot = stem.firstIndex(of: "."), let underscore = stem.lastIndex(of: "_"), dot < underscore {
                let candidate = String(stem[stem.index(after: dot)..<underscore])
                if candidate.count == 22, state.messages[candidate] == nil { id = candidate }
            }
            let message = MailStore.StoredMessage(id: id, bytes: Array(data), received: received, envelope: nil)
            if state.messages[id] == nil {
                state.messages[id] = message
                state.order.append(id)
            }
            var account = state.accounts[user]!
            let entry = MailStore.insert(
                into: &account,
                state: &state,
                mailbox: mailbox,
                messageID: id,
                flags: Self.flags(fromInfo: info)
            )
            state.accounts[user] = account
            let target = folder + "/cur/" + Self.fileName(message, entry)
            if target != path { try? manager.moveItem(atPath: path, toPath: target) }
        }
    }
}
