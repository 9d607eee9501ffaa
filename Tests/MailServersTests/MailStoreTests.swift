// SPDX-License-Identifier: Apache-2.0
import Foundation
import MailServers
import ParleyTestSupport
import Testing

@Suite("The mail store: accounts, mailboxes, messages by reference, observers, Maildir")
struct MailStoreTests {
    static let message = bytes("From: a@example\r\nTo: alice@mail.test\r\nSubject: one\r\n\r\nbody\r\n")

    @Test("a delivery to two local users is stored once and shown in both INBOXes; unknown recipients are not local")
    func deliveryByReference() throws {
        let store = try MailStore(users: ["alice": "a", "Bob": "b"])
        #expect(store.localUser(forRecipient: bytes("ALICE@mail.test")) == "alice")
        #expect(store.localUser(forRecipient: bytes("bob@elsewhere.test")) == "Bob")
        #expect(store.localUser(forRecipient: bytes("carol@mail.test")) == nil)
        let id = store.deliver(Self.message, envelope: nil, to: ["alice", "Bob"])
        #expect(try store.mailbox(user: "alice", name: "inbox").entries.map(\.messageID) == [id])
        #expect(try store.mailbox(user: "bob", name: "INBOX").entries.map(\.uid) == [1])
        #expect(store.allMessages().count == 1)
        // Expunged from one INBOX, it stays in the other; from both, it is gone.
        try store.setFlags(user: "alice", mailbox: "INBOX", uids: [1], flags: [MailStore.Flag.deleted], mode: .add)
        #expect(try store.expunge(user: "alice", mailbox: "INBOX") == [1])
        #expect(store.message(id: id) != nil)
        #expect(try store.expunge(user: "Bob", mailbox: "INBOX", uids: [1], requireDeletedFlag: false) == [1])
        #expect(store.message(id: id) == nil)
        #expect(store.allMessages().isEmpty)
    }

    @Test("logins: the password must match unless any login is accepted, which makes the account")
    func logins() throws {
        let strict = try MailStore(users: ["alice": "secret"])
        #expect(strict.authenticate(user: bytes("alice"), password: bytes("secret")) == "alice")
        #expect(strict.authenticate(user: bytes("ALICE"), password: bytes("secret")) == "alice")
        #expect(strict.authenticate(user: bytes("alice"), password: bytes("wrong")) == nil)
        #expect(strict.authenticate(user: [0xFF], password: bytes("x")) == nil)
        let open = try MailStore(acceptsAnyLogin: true)
        #expect(open.authenticate(user: bytes("zed"), password: bytes("anything")) == "zed")
        #expect(open.localUser(forRecipient: bytes("yan@mail.test")) == "yan")
        open.deliver(Self.message, envelope: nil, to: ["yan"])
        #expect(open.userNames == ["yan", "zed"])
    }

    @Test("mailboxes: create with missing parents, rename with children, INBOX renamed keeps INBOX, delete, subscribe")
    func mailboxes() throws {
        let store = try MailStore(users: ["u": "p"])
        try store.createMailbox(user: "u", name: "Archive/2026")
        #expect(try store.mailboxes(user: "u").map(\.name) == ["INBOX", "Archive", "Archive/2026"])
        #expect(throws: MailStore.Failure.mailboxExists("Archive")) { try store.createMailbox(user: "u", name: "Archive") }
        #expect(throws: MailStore.Failure.self) { try store.createMailbox(user: "u", name: "bad/*") }
        try store.renameMailbox(user: "u", from: "Archive", to: "Old")
        #expect(try store.mailboxes(user: "u").map(\.name) == ["INBOX", "Old", "Old/2026"])
        store.deliver(Self.message, envelope: nil, to: ["u"])
        try store.renameMailbox(user: "u", from: "INBOX", to: "Saved")
        #expect(try store.mailbox(user: "u", name: "INBOX").entries.isEmpty)
        #expect(try store.mailbox(user: "u", name: "Saved").entries.count == 1)
        #expect(throws: MailStore.Failure.notAllowed("INBOX cannot be deleted")) { try store.deleteMailbox(user: "u", name: "inbox") }
        try store.deleteMailbox(user: "u", name: "Saved")
        #expect(store.allMessages().isEmpty)
        try store.setSubscribed(user: "u", name: "Old", false)
        #expect(try store.mailbox(user: "u", name: "Old").subscribed == false)
    }

    @Test("append, copy and flags: UIDs ascend per mailbox, COPY keeps flags, APPENDUID and COPYUID facts")
    func appendCopyFlags() throws {
        let store = try MailStore(users: ["u": "p"])
        try store.createMailbox(user: "u", name: "Work")
        let first = try store.append(user: "u", mailbox: "INBOX", bytes: Self.message, flags: ["\\Seen", "$label"], received: 100)
        let second = try store.append(user: "u", mailbox: "INBOX", bytes: Self.message)
        #expect(first.uid == 1 && second.uid == 2 && first.uidValidity == second.uidValidity)
        let copied = try store.copy(user: "u", from: "INBOX", uids: [1, 2, 9], to: "Work")
        #expect(copied.sourceUIDs == [1, 2] && copied.targetUIDs == [1, 2])
        #expect(try store.mailbox(user: "u", name: "Work").entries.first?.flags == ["$label", "\\Seen"])
        let changed = try store.setFlags(user: "u", mailbox: "Work", uids: [1], flags: ["\\Seen"], mode: .remove)
        #expect(changed.map(\.flags) == [["$label"]])
        #expect(throws: MailStore.Failure.noSuchMailbox("Nope")) { try store.append(user: "u", mailbox: "Nope", bytes: []) }
        #expect(store.allMessages().filter(\.seen).count == 1)
        store.setSeen(ids: Set(store.allMessages().map(\.message.id)), true)
        #expect(store.allMessages().allSatisfy { $0.seen })
    }

    @Test("observers hear of every change, and not after cancel")
    func observers() throws {
        let store = try MailStore(users: ["u": "p"])
        let heard = Locked<[MailStore.Change]>([])
        let observation = store.observe { change in heard.withLock { $0.append(change) } }
        store.deliver(Self.message, envelope: nil, to: ["u"])
        try store.createMailbox(user: "u", name: "X")
        observation.cancel()
        store.deliver(Self.message, envelope: nil, to: ["u"])
        #expect(heard.withLock { $0.map { "\($0.user) \($0.mailbox ?? "-")" } } == ["u INBOX", "u -"])
    }

    @Test("--maildir: messages land as Maildir files other tools read (Python's mailbox), flags in the info, and load again")
    func maildir() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("parley-maildir-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try MailStore(users: ["alice": "a"], maildir: root)
        let id = store.deliver(Self.message, envelope: nil, to: ["alice"], received: 1_700_000_000)
        try store.createMailbox(user: "alice", name: "Archive/2026")
        _ = try store.copy(user: "alice", from: "INBOX", uids: [1], to: "Archive/2026")
        try store.setFlags(user: "alice", mailbox: "INBOX", uids: [1], flags: [MailStore.Flag.seen, MailStore.Flag.flagged], mode: .add)
        let cur = try FileManager.default.contentsOfDirectory(atPath: root + "/alice/cur")
        #expect(cur == ["1700000000.\(id)_1.parley:2,FS"])
        #expect(FileManager.default.contents(atPath: root + "/alice/cur/" + cur[0]) == Data(Self.message))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/alice/.Archive.2026/cur").count == 1)

        // Another mail tool reads it: Python's mailbox.Maildir, with Maildir++ folders.
        let python = try ExternalProcess(
            [
                "/usr/bin/python3", "-c",
                "import mailbox,sys; m=mailbox.Maildir(sys.argv[1]+'/alice', create=False); "
                    + "print(len(m), [x['Subject'] for x in m], sorted(m.list_folders()), [x.get_flags() for x in m])",
                root,
            ])
        #expect(try await python.waitForExit(seconds: 20) == 0)
        #expect(String(decoding: python.stdout, as: UTF8.self) == "1 ['one'] ['Archive.2026'] ['FS']\n", "\(python.transcript)")

        // A new store on the same folder has the same mail (message ids kept), and a file
        // another tool dropped in new/ is taken in.
        try Data(bytes("Subject: dropped\r\n\r\nx\r\n")).write(to: URL(fileURLWithPath: root + "/alice/new/1800000000.M1P2.host"))
        let again = try MailStore(users: ["alice": "a"], maildir: root)
        let inbox = try again.mailbox(user: "alice", name: "INBOX").entries
        #expect(inbox.count == 2)
        #expect(inbox[0].messageID == id && inbox[0].flags == [MailStore.Flag.flagged, MailStore.Flag.seen])
        #expect(try again.mailboxes(user: "alice").map(\.name) == ["INBOX", "Archive", "Archive/2026"])
        #expect(again.message(id: inbox[1].messageID)?.received == 1_800_000_000)
    }
}
