// SPDX-License-Identifier: Apache-2.0
import MailServers

/// The mail store as Mailpit's API sees it: every message once (whatever mailboxes show it),
/// newest first, read when any mailbox shows it `\Seen`. Digests are worked out on first use and
/// kept by message id (stored messages never change); ids no longer stored are dropped from the
/// cache as lists notice them.
final class MailpitStore: Sendable {
    let store: MailStore
    private let digests = Locked<[String: MessageDigest]>([:])
    /// How many messages the API deleted since it started (Mailpit's `MessagesDeleted`).
    let deleted = Locked(0)

    init(store: MailStore) {
        self.store = store
    }

    /// One message with its read state.
    struct Entry: Sendable {
        var digest: MessageDigest
        var read: Bool

        var searchable: SearchableMessage {
            var view = digest.searchable
            view.read = read
            return view
        }
    }

    /// Every message, newest first.
    func entries() -> [Entry] {
        let all = store.allMessages()
        let known = digests.withLock { $0 }
        var fresh: [String: MessageDigest] = [:]
        let result = all.map { item -> Entry in
            if let digest = known[item.message.id] {
                fresh[item.message.id] = digest
                return Entry(digest: digest, read: item.seen)
            }
            let digest = MessageDigest(item.message)
            fresh[item.message.id] = digest
            return Entry(digest: digest, read: item.seen)
        }
        digests.withLock { $0 = fresh }
        return result
    }

    /// One message by id, or the newest for `latest` (the newest matching `search`, when given).
    func entry(_ id: String, search: MailpitSearch? = nil) -> Entry? {
        if id == "latest" {
            return entries().first { search?.matches($0.searchable) ?? true }
        }
        guard let message = store.message(id: id) else { return nil }
        let digest =
            digests.withLock { $0[id] }
            ?? {
                let made = MessageDigest(message)
                digests.withLock { $0[id] = made }
                return made
            }()
        let read = store.allMessages().first { $0.message.id == id }?.seen ?? false
        return Entry(digest: digest, read: read)
    }

    /// A page of messages, optionally those matching a search, as Mailpit's list and search
    /// answer.
    func summary(search: MailpitSearch?, page: RequestInput.Page) -> MailpitMessagesSummary {
        let all = entries()
        let unread = all.count { !$0.read }
        let matching = search.map { search in all.filter { search.matches($0.searchable) } } ?? all
        let pageEntries = matching.dropFirst(page.start).prefix(page.limit)
        return MailpitMessagesSummary(
            total: all.count,
            unread: unread,
            count: pageEntries.count,
            messagesCount: matching.count,
            messagesUnread: matching.count { !$0.read },
            start: page.start,
            tags: [],
            messages: pageEntries.map { $0.digest.summary(read: $0.read) }
        )
    }

    /// Sets the read state of messages: by id, those matching a search, or all.
    func setRead(_ read: Bool, ids: [String], search: MailpitSearch?) {
        let chosen: Set<String>
        if !ids.isEmpty {
            chosen = Set(ids)
        } else if let search {
            chosen = Set(entries().filter { search.matches($0.searchable) }.map(\.digest.id))
        } else {
            chosen = Set(store.allMessages().map(\.message.id))
        }
        store.setSeen(ids: chosen, read)
    }

    /// Deletes messages by id, or all of them.
    @discardableResult
    func delete(ids: [String]?) -> Int {
        let count = store.deleteMessages(ids: ids.map(Set.init))
        deleted.withLock { $0 += count }
        digests.withLock { cache in
            if let ids { for id in ids { cache[id] = nil } } else { cache = [:] }
        }
        return count
    }

    /// Deletes the messages matching a search.
    @discardableResult
    func delete(matching search: MailpitSearch) -> Int {
        let ids = entries().filter { search.matches($0.searchable) }.map(\.digest.id)
        guard !ids.isEmpty else { return 0 }
        return delete(ids: ids)
    }
}
