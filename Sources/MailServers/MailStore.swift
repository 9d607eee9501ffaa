// SPDX-License-Identifier: Apache-2.0
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The mail that one `parley serve` process holds: accounts, each with its mailboxes (INBOX and
/// whatever IMAP creates), and the messages in them. SMTP delivers into it, IMAP and POP3 read and
/// change it, the HTTP API lists and deletes; every protocol sees the others' changes at once.
///
/// A message is stored once (``StoredMessage``, with a store-wide ``StoredMessage/id``) and shown in
/// mailboxes by reference (``Entry``: a UID and flags per mailbox), so IMAP COPY and a delivery to
/// several local users do not copy bytes. A message no mailbox refers to any more is dropped.
///
/// Every method is safe to call from any thread; it holds the store's lock only for the call.
/// Observers (``observe(_:)``) learn of changes after the lock is released, so that an IMAP IDLE
/// can tell its client at once.
public final class MailStore: Sendable {
    /// One message as received: bytes with CRLF line endings, when it arrived, and the SMTP
    /// envelope when SMTP delivered it.
    public struct StoredMessage: Sendable, Equatable, Identifiable {
        /// A store-wide identifier (22 letters and digits, as Mailpit's), stable for the
        /// message's life; POP3 UIDL and the HTTP API use it.
        public let id: String
        /// The message, CRLF line endings (trace headers added by SMTP included).
        public let bytes: [UInt8]
        /// Seconds since 1970 when the message arrived (IMAP INTERNALDATE, Mailpit's Created).
        public let received: Int64
        /// The SMTP envelope; nil for a message IMAP APPEND stored.
        public let envelope: Envelope?
    }

    /// The SMTP envelope of a delivered message.
    public struct Envelope: Sendable, Equatable {
        /// MAIL FROM's reverse path (empty for the null path).
        public var mailFrom: [UInt8]
        /// The RCPT TO forward paths that were accepted.
        public var recipients: [[UInt8]]

        /// Creates an envelope.
        public init(mailFrom: [UInt8], recipients: [[UInt8]]) {
            self.mailFrom = mailFrom
            self.recipients = recipients
        }
    }

    /// A message as one mailbox shows it.
    public struct Entry: Sendable, Equatable {
        /// The UID, unique and ascending within the mailbox's ``Mailbox/uidValidity``.
        public let uid: UInt32
        /// The flags (system flags with their backslash, such as `\Seen`, and keywords), sorted.
        public var flags: [String]
        /// The message's ``StoredMessage/id``.
        public let messageID: String
    }

    /// A mailbox as a snapshot: what IMAP SELECT and STATUS report.
    public struct Mailbox: Sendable, Equatable {
        /// The name (`INBOX`, or as created; `/` separates levels).
        public let name: String
        /// The UIDVALIDITY value.
        public let uidValidity: UInt32
        /// The UID the next message will get.
        public var uidNext: UInt32
        /// The messages, in ascending UID order (message sequence number = index + 1).
        public var entries: [Entry]
        /// Whether the mailbox is subscribed (LSUB).
        public var subscribed: Bool
    }

    /// What changed, for observers.
    public struct Change: Sendable, Equatable {
        /// The account.
        public let user: String
        /// The mailbox (nil when the account's list of mailboxes changed, or all were touched).
        public let mailbox: String?
    }

    /// A refusal: what IMAP answers NO with, and the HTTP API with 404.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// No such account.
        case noSuchUser(String)
        /// No such mailbox.
        case noSuchMailbox(String)
        /// The mailbox exists already.
        case mailboxExists(String)
        /// INBOX cannot be deleted or renamed away in this way, or a name is not acceptable.
        case notAllowed(String)

        public var description: String {
            switch self {
            case .noSuchUser(let name): "no such user: \(name)"
            case .noSuchMailbox(let name): "no such mailbox: \(name)"
            case .mailboxExists(let name): "mailbox already exists: \(name)"
            case .notAllowed(let why): why
            }
        }
    }

    /// How ``setFlags(user:mailbox:uids:flags:mode:)`` changes the flags.
    public enum FlagMode: Sendable, Equatable {
        /// Replace the flags (IMAP `FLAGS`).
        case replace
        /// Add the flags (`+FLAGS`).
        case add
        /// Remove the flags (`-FLAGS`).
        case remove
    }

    /// An observer's handle; ``cancel()`` stops the calls.
    public final class Observation: Sendable {
        private let store: MailStore
        private let id: Int

        fileprivate init(store: MailStore, id: Int) {
            self.store = store
            self.id = id
        }

        /// Stops calling the observer; calling it again does nothing.
        public func cancel() {
            _ = store.observers.withLock { $0.removeValue(forKey: id) }
        }
    }

    /// One account.
    struct Account: Sendable {
        var password: String?
        /// Mailboxes by their key (``MailStore/key(_:)``).
        var mailboxes: [String: Mailbox]
    }

    /// Everything behind the lock.
    struct State: Sendable {
        /// Accounts by lower-cased user name.
        var accounts: [String: Account] = [:]
        /// The user names as given, by lower-cased name.
        var displayNames: [String: String] = [:]
        /// The messages by id.
        var messages: [String: StoredMessage] = [:]
        /// Message ids in arrival order (the HTTP API lists newest first).
        var order: [String] = []
        /// How many mailbox entries refer to each message.
        var references: [String: Int] = [:]
        /// The next UIDVALIDITY handed out.
        var nextUIDValidity: UInt32
    }

    /// Whether any user name and password log in (the account is created on first use) and
    /// every recipient is local.
    public let acceptsAnyLogin: Bool
    /// The state.
    let state: Locked<State>
    /// The observers by id.
    fileprivate let observers = Locked<[Int: @Sendable (Change) -> Void]>([:])
    /// The next observer id.
    private let nextObserver = Locked(0)
    /// Where the store is mirrored on disk, if anywhere.
    let maildir: Maildir?

    /// Creates a store with accounts.
    ///
    /// - Parameters:
    ///   - users: user name to password.
    ///   - acceptsAnyLogin: whether any login succeeds (and any recipient is local).
    ///   - maildir: a folder to keep the store in, Maildir++ layout (one folder per account);
    ///     messages already there are loaded.
    /// - Throws: ``Maildir/Error`` when the folder cannot be read or created.
    public init(users: [String: String] = [:], acceptsAnyLogin: Bool = false, maildir: String? = nil) throws {
        self.acceptsAnyLogin = acceptsAnyLogin
        var state = State(nextUIDValidity: UInt32(truncatingIfNeeded: max(Self.now(), 1)))
        for (name, password) in users {
            Self.addAccount(&state, name: name, password: password)
        }
        if let maildir {
            let disk = try Maildir(root: maildir)
            try disk.load(into: &state)
            for name in users.keys {
                try disk.createAccount(name)
            }
            self.maildir = disk
        } else {
            self.maildir = nil
        }
        self.state = Locked(state)
    }

    /// Creates an in-memory store whose accounts each hold `inbox` in their INBOX (the fake
    /// servers' sample mailbox).
    ///
    /// - Parameters:
    ///   - users: user name to password.
    ///   - inbox: the messages every INBOX starts with.
    public convenience init(users: [String: String], inbox: [[UInt8]]) {
        // Without a maildir nothing can throw.
        try! self.init(users: users)
        let received = Self.now()
        for message in inbox {
            deliver(message, envelope: nil, to: Array(users.keys), received: received)
        }
    }

    // MARK: - Accounts

    /// The user names, as given, sorted.
    public var userNames: [String] {
        state.withLock { $0.displayNames.values.sorted() }
    }

    /// Whether anyone can log in: some account exists, or any login is accepted.
    public var hasAccounts: Bool {
        acceptsAnyLogin || state.withLock { !$0.accounts.isEmpty }
    }

    /// Adds an account (or changes its password), with an empty INBOX.
    public func addUser(_ name: String, password: String) {
        state.withLock { Self.addAccount(&$0, name: name, password: password) }
        try? maildir?.createAccount(name)
    }

    /// Checks a login. In accept-any-login mode every login succeeds and creates its account.
    ///
    /// - Parameters:
    ///   - user: the user name bytes.
    ///   - password: the password bytes.
    /// - Returns: the account's name as stored, or nil when the login fails.
    public func authenticate(user: [UInt8], password: [UInt8]) -> String? {
        guard let name = String(validating: user, as: UTF8.self), !name.isEmpty else { return nil }
        let created = state.withLock { state -> Bool? in
            if let account = state.accounts[name.lowercased()] {
                guard acceptsAnyLogin || account.password.map({ Array($0.utf8) == password }) == true else { return nil }
                return false
            }
            guard acceptsAnyLogin else { return nil }
            Self.addAccount(&state, name: name, password: nil)
            return true
        }
        guard let created else { return nil }
        if created { try? maildir?.createAccount(name) }
        return state.withLock { $0.displayNames[name.lowercased()] }
    }

    /// The account a recipient address is delivered to: the user whose name is the whole address
    /// or its local part (case-insensitive). In accept-any-login mode every address with a local
    /// part is local (its account is created on delivery).
    ///
    /// - Parameter recipient: a forward path without angle brackets, such as `alice@mail.test`.
    /// - Returns: the account's name, or nil when the address is not local.
    public func localUser(forRecipient recipient: [UInt8]) -> String? {
        guard let address = String(validating: recipient, as: UTF8.self), !address.isEmpty else { return nil }
        let localPart = address.split(separator: "@", maxSplits: 1).first.map(String.init) ?? address
        return state.withLock { state in
            for candidate in [address.lowercased(), localPart.lowercased()] {
                if let name = state.displayNames[candidate] { return name }
            }
            return acceptsAnyLogin && !localPart.isEmpty ? localPart : nil
        }
    }

    // MARK: - Delivery and messages

    /// Stores a message in the INBOX of each user (creating accounts in accept-any-login mode).
    ///
    /// - Parameters:
    ///   - bytes: the message with CRLF line endings.
    ///   - envelope: the SMTP envelope, if SMTP delivered it.
    ///   - users: the accounts (as ``localUser(forRecipient:)`` returned them).
    ///   - received: seconds since 1970 (default: now).
    /// - Returns: the message's id.
    @discardableResult
    public func deliver(_ bytes: [UInt8], envelope: Envelope?, to users: [String], received: Int64? = nil) -> String {
        let message = StoredMessage(id: Self.newID(), bytes: bytes, received: received ?? Self.now(), envelope: envelope)
        var written: [(String, Entry)] = []
        let changed = state.withLock { state -> [Change] in
            state.messages[message.id] = message
            state.order.append(message.id)
            var changes: [Change] = []
            for user in Set(users.map { $0.lowercased() }).sorted() {
                if state.accounts[user] == nil {
                    guard acceptsAnyLogin else { continue }
                    Self.addAccount(&state, name: users.first { $0.lowercased() == user } ?? user, password: nil)
                }
                let entry = Self.insert(&state, user: user, mailbox: "INBOX", messageID: message.id, flags: [])!
                written.append((state.displayNames[user] ?? user, entry))
                changes.append(Change(user: state.displayNames[user] ?? user, mailbox: "INBOX"))
            }
            if state.references[message.id, default: 0] == 0 {
                // No local user: nothing refers to it (the caller checked recipients already).
                state.messages[message.id] = nil
                state.order.removeAll { $0 == message.id }
            }
            return changes
        }
        for (user, entry) in written {
            try? maildir?.write(message, entry: entry, user: user, mailbox: "INBOX")
        }
        notify(changed)
        return message.id
    }

    /// A message by id.
    public func message(id: String) -> StoredMessage? {
        state.withLock { $0.messages[id] }
    }

    /// Every message, newest first, with whether any mailbox shows it `\Seen`.
    public func allMessages() -> [(message: StoredMessage, seen: Bool)] {
        state.withLock { state in
            var seen: Set<String> = []
            for account in state.accounts.values {
                for mailbox in account.mailboxes.values {
                    for entry in mailbox.entries where entry.flags.contains(Flag.seen) {
                        seen.insert(entry.messageID)
                    }
                }
            }
            return state.order.reversed().compactMap { id in state.messages[id].map { ($0, seen.contains(id)) } }
        }
    }

    /// Removes messages from every mailbox (the HTTP API's delete).
    ///
    /// - Parameter ids: the message ids; nil removes every message.
    /// - Returns: how many messages were removed.
    @discardableResult
    public func deleteMessages(ids: Set<String>?) -> Int {
        var removedFiles: [(String, String, Entry)] = []
        let (count, changes) = state.withLock { state -> (Int, [Change]) in
            let doomed = ids.map { $0.intersection(state.messages.keys) } ?? Set(state.messages.keys)
            var changes: [Change] = []
            for (user, var account) in state.accounts {
                for (key, var mailbox) in account.mailboxes {
                    let before = mailbox.entries.count
                    for entry in mailbox.entries where doomed.contains(entry.messageID) {
                        removedFiles.append((state.displayNames[user] ?? user, mailbox.name, entry))
                    }
                    mailbox.entries.removeAll { doomed.contains($0.messageID) }
                    if mailbox.entries.count != before {
                        changes.append(Change(user: state.displayNames[user] ?? user, mailbox: mailbox.name))
                        account.mailboxes[key] = mailbox
                    }
                }
                state.accounts[user] = account
            }
            for id in doomed {
                state.messages[id] = nil
                state.references[id] = nil
            }
            state.order.removeAll { doomed.contains($0) }
            return (doomed.count, changes)
        }
        for (user, mailbox, entry) in removedFiles {
            maildir?.remove(entry: entry, user: user, mailbox: mailbox)
        }
        notify(changes)
        return count
    }

    /// Sets or clears `\Seen` on a message in every mailbox that shows it (the HTTP API's read
    /// state).
    public func setSeen(ids: Set<String>, _ seen: Bool) {
        var changes: [Change] = []
        var rewritten: [(String, String, Entry, Entry)] = []
        state.withLock { state in
            for (user, var account) in state.accounts {
                for (key, var mailbox) in account.mailboxes {
                    var touched = false
                    for index in mailbox.entries.indices where ids.contains(mailbox.entries[index].messageID) {
                        let old = mailbox.entries[index]
                        var flags = Set(old.flags)
                        if seen { flags.insert(Flag.seen) } else { flags.remove(Flag.seen) }
                        guard flags != Set(old.flags) else { continue }
                        mailbox.entries[index].flags = flags.sorted()
                        rewritten.append((state.displayNames[user] ?? user, mailbox.name, old, mailbox.entries[index]))
                        touched = true
                    }
                    if touched {
                        account.mailboxes[key] = mailbox
                        changes.append(Change(user: state.displayNames[user] ?? user, mailbox: mailbox.name))
                    }
                }
                state.accounts[user] = account
            }
        }
        for (user, mailbox, old, new) in rewritten {
            maildir?.rename(old, to: new, user: user, mailbox: mailbox)
        }
        notify(changes)
    }

    // MARK: - Mailboxes

    /// The account's mailboxes, sorted by name (INBOX first).
    ///
    /// - Throws: ``Failure/noSuchUser(_:)``.
    public func mailboxes(user: String) throws(Failure) -> [Mailbox] {
        let result = state.withLock { state -> [Mailbox]? in
            state.accounts[user.lowercased()].map { Array($0.mailboxes.values) }
        }
        guard let result else { throw .noSuchUser(user) }
        return result.sorted { lhs, rhs in
            if lhs.name == "INBOX" { return rhs.name != "INBOX" }
            if rhs.name == "INBOX" { return false }
            return lhs.name < rhs.name
        }
    }

    /// A mailbox's current state.
    ///
    /// - Throws: ``Failure/noSuchUser(_:)``, ``Failure/noSuchMailbox(_:)``.
    public func mailbox(user: String, name: String) throws(Failure) -> Mailbox {
        let result: Result<Mailbox, Failure> = state.withLock { state in
            guard let account = state.accounts[user.lowercased()] else { return .failure(.noSuchUser(user)) }
            guard let mailbox = account.mailboxes[Self.key(name)] else { return .failure(.noSuchMailbox(name)) }
            return .success(mailbox)
        }
        return try result.get()
    }

    /// Creates a mailbox (and, as RFC 3501 §6.3.3 allows, the levels above it that are missing).
    ///
    /// - Throws: ``Failure/mailboxExists(_:)``, ``Failure/noSuchUser(_:)``, ``Failure/notAllowed(_:)``.
    public func createMailbox(user: String, name: String) throws(Failure) {
        let trimmed = name.hasSuffix("/") ? String(name.dropLast()) : name
        guard Self.acceptableName(trimmed) else { throw .notAllowed("unacceptable mailbox name: \(name)") }
        try mutate(user: user, change: nil) { (account: inout Account, state: inout State) throws(Failure) in
            guard account.mailboxes[Self.key(trimmed)] == nil else { throw .mailboxExists(trimmed) }
            var prefix = ""
            for level in trimmed.split(separator: "/") {
                prefix += prefix.isEmpty ? String(level) : "/" + level
                if account.mailboxes[Self.key(prefix)] == nil {
                    account.mailboxes[Self.key(prefix)] = Self.newMailbox(prefix, &state)
                }
            }
        }
        try? maildir?.createMailbox(trimmed, user: displayName(user))
    }

    /// Deletes a mailbox and the references to its messages.
    ///
    /// - Throws: ``Failure/notAllowed(_:)`` for INBOX, ``Failure/noSuchMailbox(_:)``.
    public func deleteMailbox(user: String, name: String) throws(Failure) {
        guard Self.key(name) != "INBOX" else { throw .notAllowed("INBOX cannot be deleted") }
        var removed: Mailbox?
        try mutate(user: user, change: name) { (account: inout Account, state: inout State) throws(Failure) in
            guard let mailbox = account.mailboxes.removeValue(forKey: Self.key(name)) else { throw .noSuchMailbox(name) }
            for entry in mailbox.entries { Self.release(&state, entry.messageID) }
            removed = mailbox
        }
        if let removed { maildir?.deleteMailbox(removed.name, user: displayName(user)) }
    }

    /// Renames a mailbox (and those below it). Renaming INBOX moves its messages to the new
    /// mailbox and leaves INBOX empty (RFC 3501 §6.3.5).
    ///
    /// - Throws: ``Failure/noSuchMailbox(_:)``, ``Failure/mailboxExists(_:)``, ``Failure/notAllowed(_:)``.
    public func renameMailbox(user: String, from old: String, to new: String) throws(Failure) {
        guard Self.acceptableName(new) else { throw .notAllowed("unacceptable mailbox name: \(new)") }
        try mutate(user: user, change: nil) { (account: inout Account, state: inout State) throws(Failure) in
            guard let source = account.mailboxes[Self.key(old)] else { throw .noSuchMailbox(old) }
            guard account.mailboxes[Self.key(new)] == nil else { throw .mailboxExists(new) }
            if Self.key(old) == "INBOX" {
                var moved = Self.newMailbox(new, &state)
                moved.entries = source.entries
                moved.uidNext = source.uidNext
                account.mailboxes[Self.key(new)] = moved
                var inbox = source
                inbox.entries = []
                account.mailboxes["INBOX"] = inbox
                return
            }
            let prefix = old + "/"
            for (key, mailbox) in account.mailboxes where mailbox.name == old || mailbox.name.hasPrefix(prefix) {
                account.mailboxes[key] = nil
                let renamed = new + mailbox.name.dropFirst(old.count)
                account.mailboxes[Self.key(renamed)] = Mailbox(
                    name: renamed,
                    uidValidity: mailbox.uidValidity,
                    uidNext: mailbox.uidNext,
                    entries: mailbox.entries,
                    subscribed: mailbox.subscribed
                )
            }
        }
        maildir?.renameMailbox(old, to: new, user: displayName(user))
    }

    /// Subscribes or unsubscribes a mailbox.
    ///
    /// - Throws: ``Failure/noSuchMailbox(_:)``.
    public func setSubscribed(user: String, name: String, _ subscribed: Bool) throws(Failure) {
        try mutate(user: user, change: nil) { (account: inout Account, _: inout State) throws(Failure) in
            guard account.mailboxes[Self.key(name)] != nil else { throw .noSuchMailbox(name) }
            account.mailboxes[Self.key(name)]!.subscribed = subscribed
        }
    }

    // MARK: - Messages in a mailbox

    /// Adds a message to a mailbox (IMAP APPEND).
    ///
    /// - Parameters:
    ///   - user: the account.
    ///   - mailbox: the mailbox name.
    ///   - bytes: the message.
    ///   - flags: its flags.
    ///   - received: its internal date, seconds since 1970 (default: now).
    /// - Returns: the mailbox's UIDVALIDITY and the new message's UID (APPENDUID, RFC 4315).
    /// - Throws: ``Failure/noSuchMailbox(_:)`` (IMAP answers NO [TRYCREATE]).
    @discardableResult
    public func append(
        user: String,
        mailbox: String,
        bytes: [UInt8],
        flags: [String] = [],
        received: Int64? = nil
    ) throws(Failure) -> (uidValidity: UInt32, uid: UInt32) {
        let message = StoredMessage(id: Self.newID(), bytes: bytes, received: received ?? Self.now(), envelope: nil)
        var result: (UInt32, Entry)?
        try mutate(user: user, change: mailbox) { (account: inout Account, state: inout State) throws(Failure) in
            guard let box = account.mailboxes[Self.key(mailbox)] else { throw .noSuchMailbox(mailbox) }
            state.messages[message.id] = message
            state.order.append(message.id)
            let entry = Self.insert(into: &account, state: &state, mailbox: box.name, messageID: message.id, flags: flags)
            result = (box.uidValidity, entry)
        }
        let (validity, entry) = result!
        try? maildir?.write(message, entry: entry, user: displayName(user), mailbox: mailbox)
        return (validity, entry.uid)
    }

    /// Changes the flags of messages (IMAP STORE).
    ///
    /// - Parameters:
    ///   - uids: the UIDs; those not in the mailbox are ignored.
    ///   - flags: the flags.
    ///   - mode: replace, add or remove.
    /// - Returns: the entries after the change, in UID order.
    /// - Throws: ``Failure/noSuchMailbox(_:)``.
    @discardableResult
    public func setFlags(
        user: String,
        mailbox: String,
        uids: Set<UInt32>,
        flags: [String],
        mode: FlagMode
    ) throws(Failure) -> [Entry] {
        var changed: [Entry] = []
        var renames: [(Entry, Entry)] = []
        try mutate(user: user, change: mailbox) { (account: inout Account, _: inout State) throws(Failure) in
            guard var box = account.mailboxes[Self.key(mailbox)] else { throw .noSuchMailbox(mailbox) }
            for index in box.entries.indices where uids.contains(box.entries[index].uid) {
                let old = box.entries[index]
                var set = Set(old.flags)
                switch mode {
                case .replace: set = Set(flags)
                case .add: set.formUnion(flags)
                case .remove: set.subtract(flags)
                }
                box.entries[index].flags = set.sorted()
                changed.append(box.entries[index])
                if old != box.entries[index] { renames.append((old, box.entries[index])) }
            }
            account.mailboxes[Self.key(mailbox)] = box
        }
        for (old, new) in renames {
            maildir?.rename(old, to: new, user: displayName(user), mailbox: mailbox)
        }
        return changed
    }

    /// Copies messages to another mailbox (IMAP COPY), keeping their flags.
    ///
    /// - Returns: the target's UIDVALIDITY and the source and new UIDs, in order (COPYUID).
    /// - Throws: ``Failure/noSuchMailbox(_:)`` for either mailbox.
    public func copy(
        user: String,
        from source: String,
        uids: Set<UInt32>,
        to target: String
    ) throws(Failure) -> (uidValidity: UInt32, sourceUIDs: [UInt32], targetUIDs: [UInt32]) {
        var result: (UInt32, [UInt32], [Entry]) = (0, [], [])
        try mutate(user: user, change: target) { (account: inout Account, state: inout State) throws(Failure) in
            guard let from = account.mailboxes[Self.key(source)] else { throw .noSuchMailbox(source) }
            guard let to = account.mailboxes[Self.key(target)] else { throw .noSuchMailbox(target) }
            var sourceUIDs: [UInt32] = []
            var created: [Entry] = []
            for entry in from.entries where uids.contains(entry.uid) {
                let new = Self.insert(
                    into: &account,
                    state: &state,
                    mailbox: to.name,
                    messageID: entry.messageID,
                    flags: entry.flags.filter { $0 != Flag.recent }
                )
                sourceUIDs.append(entry.uid)
                created.append(new)
            }
            result = (to.uidValidity, sourceUIDs, created)
        }
        for entry in result.2 {
            if let message = message(id: entry.messageID) {
                try? maildir?.write(message, entry: entry, user: displayName(user), mailbox: target)
            }
        }
        return (result.0, result.1, result.2.map(\.uid))
    }

    /// Removes messages flagged `\Deleted` (IMAP EXPUNGE, CLOSE, POP3's UPDATE state).
    ///
    /// - Parameters:
    ///   - uids: only these UIDs (UID EXPUNGE, RFC 4315), or every `\Deleted` message when nil.
    ///   - requireDeletedFlag: whether only messages flagged `\Deleted` go (false: every UID given).
    /// - Returns: the removed UIDs in ascending order.
    /// - Throws: ``Failure/noSuchMailbox(_:)``.
    @discardableResult
    public func expunge(
        user: String,
        mailbox: String,
        uids: Set<UInt32>? = nil,
        requireDeletedFlag: Bool = true
    ) throws(Failure) -> [UInt32] {
        var removed: [Entry] = []
        try mutate(user: user, change: mailbox) { (account: inout Account, state: inout State) throws(Failure) in
            guard var box = account.mailboxes[Self.key(mailbox)] else { throw .noSuchMailbox(mailbox) }
            box.entries.removeAll { entry in
                let chosen = (uids?.contains(entry.uid) ?? true) && (!requireDeletedFlag || entry.flags.contains(Flag.deleted))
                if chosen { removed.append(entry) }
                return chosen
            }
            for entry in removed { Self.release(&state, entry.messageID) }
            account.mailboxes[Self.key(mailbox)] = box
        }
        for entry in removed {
            maildir?.remove(entry: entry, user: displayName(user), mailbox: mailbox)
        }
        return removed.map(\.uid)
    }

    // MARK: - Observers

    /// Calls `observer` after every change, on the thread that made it (outside the store's lock).
    ///
    /// - Parameter observer: the callback; keep it short and hop to your own event loop.
    /// - Returns: the handle that stops the calls.
    public func observe(_ observer: @escaping @Sendable (Change) -> Void) -> Observation {
        let id = nextObserver.withLock { value -> Int in
            value += 1
            return value
        }
        observers.withLock { $0[id] = observer }
        return Observation(store: self, id: id)
    }

    /// Calls the observers.
    private func notify(_ changes: [Change]) {
        guard !changes.isEmpty else { return }
        let callbacks = observers.withLock { Array($0.values) }
        for change in changes {
            for callback in callbacks { callback(change) }
        }
    }

    // MARK: - Helpers

    /// Runs `body` on an account under the lock, then tells the observers.
    private func mutate(
        user: String,
        change mailbox: String?,
        _ body: (inout Account, inout State) throws(Failure) -> Void
    ) throws(Failure) {
        let result: Result<String, Failure> = state.withLock { state in
            let key = user.lowercased()
            guard var account = state.accounts[key] else { return .failure(.noSuchUser(user)) }
            do throws(Failure) {
                try body(&account, &state)
            } catch {
                return .failure(error)
            }
            state.accounts[key] = account
            return .success(state.displayNames[key] ?? user)
        }
        let name = try result.get()
        notify([Change(user: name, mailbox: mailbox.map { Self.key($0) == "INBOX" ? "INBOX" : $0 })])
    }

    /// The user name as given when the account was made.
    private func displayName(_ user: String) -> String {
        state.withLock { $0.displayNames[user.lowercased()] } ?? user
    }

    /// The dictionary key of a mailbox name: INBOX in any case is INBOX (RFC 3501 §5.1); other
    /// names are case-sensitive.
    static func key(_ name: String) -> String {
        name.uppercased() == "INBOX" ? "INBOX" : name
    }

    /// Whether a mailbox name can be created: not empty, no empty level, no control bytes, no
    /// wildcard, and (for Maildir) no dot-led level.
    static func acceptableName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255 else { return false }
        let levels = name.split(separator: "/", omittingEmptySubsequences: false)
        return levels.allSatisfy { level in
            !level.isEmpty && !level.hasPrefix(".") && !level.contains("%") && !level.contains("*")
                && !level.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
        }
    }

    /// Adds an account with an empty INBOX, or sets an existing one's password.
    static func addAccount(_ state: inout State, name: String, password: String?) {
        let key = name.lowercased()
        if state.accounts[key] != nil {
            state.accounts[key]!.password = password
            return
        }
        let inbox = newMailbox("INBOX", &state)
        state.accounts[key] = Account(password: password, mailboxes: ["INBOX": inbox])
        state.displayNames[key] = name
    }

    /// A new empty mailbox with the next UIDVALIDITY.
    static func newMailbox(_ name: String, _ state: inout State) -> Mailbox {
        let validity = state.nextUIDValidity
        state.nextUIDValidity &+= 1
        if state.nextUIDValidity == 0 { state.nextUIDValidity = 1 }
        return Mailbox(name: name, uidValidity: validity, uidNext: 1, entries: [], subscribed: true)
    }

    /// Adds a reference to a message to a user's mailbox.
    static func insert(_ state: inout State, user: String, mailbox: String, messageID: String, flags: [String]) -> Entry? {
        guard var account = state.accounts[user] else { return nil }
        let entry = insert(into: &account, state: &state, mailbox: mailbox, messageID: messageID, flags: flags)
        state.accounts[user] = account
        return entry
    }

    /// Adds a reference to a message to an account's mailbox (which must exist).
    static func insert(into account: inout Account, state: inout State, mailbox: String, messageID: String, flags: [String]) -> Entry {
        let key = key(mailbox)
        var box = account.mailboxes[key]!
        let entry = Entry(uid: box.uidNext, flags: Array(Set(flags)).sorted(), messageID: messageID)
        box.entries.append(entry)
        box.uidNext += 1
        account.mailboxes[key] = box
        state.references[messageID, default: 0] += 1
        return entry
    }

    /// Drops one reference to a message, and the message with its last one.
    static func release(_ state: inout State, _ messageID: String) {
        let count = state.references[messageID, default: 1] - 1
        if count <= 0 {
            state.references[messageID] = nil
            state.messages[messageID] = nil
            state.order.removeAll { $0 == messageID }
        } else {
            state.references[messageID] = count
        }
    }

    /// Seconds since 1970.
    public static func now() -> Int64 {
        Int64(time(nil))
    }

    /// A new message id: 22 random letters and digits.
    static func newID() -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".unicodeScalars)
        var generator = SystemRandomNumberGenerator()
        var text = ""
        for _ in 0..<22 {
            text.unicodeScalars.append(alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))])
        }
        return text
    }

    /// The IMAP system flags.
    public enum Flag {
        public static let seen = "\\Seen"
        public static let answered = "\\Answered"
        public static let flagged = "\\Flagged"
        public static let deleted = "\\Deleted"
        public static let draft = "\\Draft"
        public static let recent = "\\Recent"
    }
}
