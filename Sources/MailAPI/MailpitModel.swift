// SPDX-License-Identifier: Apache-2.0

// The JSON shapes of Mailpit's API v1, with its field names: `MessagesSummary`,
// `MessageSummary`, `Message`, `Attachment` and `AppInformation` in Mailpit's
// `internal/storage/structs.go`, `server/apiv1/messages.go` and `internal/stats/stats.go`.
// Go's `*mail.Address` is `{"Name","Address"}`; its `time.Time` is RFC 3339.

/// `{"Name": …, "Address": …}`.
public struct MailpitAddress: Codable, Sendable, Equatable {
    public var name: String
    public var address: String

    public init(name: String, address: String) {
        self.name = name
        self.address = address
    }

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case address = "Address"
    }
}

/// One message in a list (`MessageSummary`).
public struct MailpitMessageSummary: Codable, Sendable, Equatable {
    public var id: String
    public var messageID: String
    public var read: Bool
    public var from: MailpitAddress
    public var to: [MailpitAddress]
    public var cc: [MailpitAddress]
    public var bcc: [MailpitAddress]
    public var replyTo: [MailpitAddress]
    public var subject: String
    public var created: String
    public var username: String
    public var tags: [String]
    public var size: Int
    public var attachments: Int
    public var snippet: String

    enum CodingKeys: String, CodingKey {
        case id = "ID"
        case messageID = "MessageID"
        case read = "Read"
        case from = "From"
        case to = "To"
        case cc = "Cc"
        case bcc = "Bcc"
        case replyTo = "ReplyTo"
        case subject = "Subject"
        case created = "Created"
        case username = "Username"
        case tags = "Tags"
        case size = "Size"
        case attachments = "Attachments"
        case snippet = "Snippet"
    }
}

/// A page of messages (`MessagesSummary`): the list's and the search's answer.
public struct MailpitMessagesSummary: Codable, Sendable, Equatable {
    public var total: Int
    public var unread: Int
    /// Mailpit's legacy field: the number of messages on this page.
    public var count: Int
    public var messagesCount: Int
    public var messagesUnread: Int
    public var start: Int
    public var tags: [String]
    public var messages: [MailpitMessageSummary]

    enum CodingKeys: String, CodingKey {
        case total
        case unread
        case count
        case messagesCount = "messages_count"
        case messagesUnread = "messages_unread"
        case start
        case tags
        case messages
    }
}

/// An attachment or inline part (`Attachment`).
public struct MailpitAttachment: Codable, Sendable, Equatable {
    public struct Checksums: Codable, Sendable, Equatable {
        public var md5: String
        public var sha1: String
        public var sha256: String

        enum CodingKeys: String, CodingKey {
            case md5 = "MD5"
            case sha1 = "SHA1"
            case sha256 = "SHA256"
        }
    }

    public var partID: String
    public var fileName: String
    public var contentType: String
    public var contentID: String
    public var size: Int
    public var checksums: Checksums

    enum CodingKeys: String, CodingKey {
        case partID = "PartID"
        case fileName = "FileName"
        case contentType = "ContentType"
        case contentID = "ContentID"
        case size = "Size"
        case checksums = "Checksums"
    }
}

/// The List-Unsubscribe summary Mailpit includes in a message.
public struct MailpitListUnsubscribe: Codable, Sendable, Equatable {
    public var header: String
    public var links: [String]
    public var errors: String
    public var headerPost: String

    enum CodingKeys: String, CodingKey {
        case header = "Header"
        case links = "Links"
        case errors = "Errors"
        case headerPost = "HeaderPost"
    }
}

/// One message in full (`Message`). `Read` is not in Mailpit's current `Message` (it was in
/// earlier versions, and clients written then, such as the `mailpit-api-client` package on PyPI,
/// require it); it is always true, as opening a message marks it read.
public struct MailpitMessage: Codable, Sendable, Equatable {
    public var id: String
    public var messageID: String
    public var read: Bool
    public var from: MailpitAddress
    public var to: [MailpitAddress]
    public var cc: [MailpitAddress]
    public var bcc: [MailpitAddress]
    public var replyTo: [MailpitAddress]
    public var returnPath: String
    public var subject: String
    public var listUnsubscribe: MailpitListUnsubscribe
    public var date: String
    public var tags: [String]
    public var username: String
    public var text: String
    public var html: String
    public var size: Int
    public var inline: [MailpitAttachment]
    public var attachments: [MailpitAttachment]

    enum CodingKeys: String, CodingKey {
        case id = "ID"
        case messageID = "MessageID"
        case read = "Read"
        case from = "From"
        case to = "To"
        case cc = "Cc"
        case bcc = "Bcc"
        case replyTo = "ReplyTo"
        case returnPath = "ReturnPath"
        case subject = "Subject"
        case listUnsubscribe = "ListUnsubscribe"
        case date = "Date"
        case tags = "Tags"
        case username = "Username"
        case text = "Text"
        case html = "HTML"
        case size = "Size"
        case inline = "Inline"
        case attachments = "Attachments"
    }
}

/// `GET /api/v1/info` (`AppInformation`).
public struct MailpitAppInformation: Codable, Sendable, Equatable {
    public struct RuntimeStats: Codable, Sendable, Equatable {
        public var uptime: Int
        public var memory: Int
        public var messagesDeleted: Int
        public var smtpAccepted: Int
        public var smtpAcceptedSize: Int
        public var smtpRejected: Int
        public var smtpIgnored: Int

        enum CodingKeys: String, CodingKey {
            case uptime = "Uptime"
            case memory = "Memory"
            case messagesDeleted = "MessagesDeleted"
            case smtpAccepted = "SMTPAccepted"
            case smtpAcceptedSize = "SMTPAcceptedSize"
            case smtpRejected = "SMTPRejected"
            case smtpIgnored = "SMTPIgnored"
        }
    }

    public var version: String
    public var latestVersion: String
    public var database: String
    public var databaseSize: Int
    public var messages: Int
    public var unread: Int
    public var tags: [String: Int]
    public var runtimeStats: RuntimeStats

    enum CodingKeys: String, CodingKey {
        case version = "Version"
        case latestVersion = "LatestVersion"
        case database = "Database"
        case databaseSize = "DatabaseSize"
        case messages = "Messages"
        case unread = "Unread"
        case tags = "Tags"
        case runtimeStats = "RuntimeStats"
    }
}
