// SPDX-License-Identifier: Apache-2.0
import Foundation
import Logging
import MailAPI
import MailServers
import NIOHTTP1
import Testing

/// Lines joined with CRLF, as stored messages are.
func crlf(_ lines: [String]) -> [UInt8] {
    Array(lines.joined(separator: "\r\n").utf8)
}

/// A plain message from Alice to Bob.
let plainMessage = crlf([
    "Return-Path: <alice@example.test>",
    "From: Alice Example <alice@example.test>",
    "To: Bob <bob@example.test>, carol@example.test",
    "Cc: =?UTF-8?Q?Dav=C3=AF?= <dave@example.test>",
    "Subject: Quarterly report",
    "Message-ID: <report-1@example.test>",
    "Date: Fri, 02 Jan 2026 10:00:00 +1000",
    "X-Multi: one",
    "X-Multi: two",
    "",
    "Hello Bob,",
    "the numbers are in.",
    "",
])

/// A multipart message with text, HTML and a PDF attachment.
let multipartMessage = crlf([
    "From: billing@shop.test",
    "To: Bob <bob@example.test>",
    "Subject: Your invoice",
    "Message-ID: <invoice-7@shop.test>",
    "MIME-Version: 1.0",
    "Content-Type: multipart/mixed; boundary=\"outer\"",
    "",
    "--outer",
    "Content-Type: multipart/alternative; boundary=\"inner\"",
    "",
    "--inner",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "Invoice 7 attached.",
    "--inner",
    "Content-Type: text/html; charset=utf-8",
    "",
    "<html><head><style>p { color: red }</style></head><body><p>Invoice <b>7</b> attached.</p></body></html>",
    "--inner--",
    "--outer",
    "Content-Type: application/pdf; name=\"invoice-7.pdf\"",
    "Content-Disposition: attachment; filename=\"invoice-7.pdf\"",
    "Content-Transfer-Encoding: base64",
    "",
    "JVBERi0xLjQK",
    "--outer--",
    "",
])

/// A store with the two messages in Bob's INBOX, plain first (older), and a running API.
func withServer(_ body: (MailStore, HTTPTestClient, (plain: String, multipart: String)) async throws -> Void) async throws {
    let store = try MailStore(users: ["bob": "secret"])
    let plain = store.deliver(plainMessage, envelope: nil, to: ["bob"], received: 1_767_312_000)  // 2026-01-02T00:00:00Z
    let multipart = store.deliver(multipartMessage, envelope: nil, to: ["bob"], received: 1_767_398_400)  // 2026-01-03
    let api = try await MailAPIServer.start(
        store: store,
        configuration: .init(port: 0, version: "test", maximumBodySize: 1024, maximumLimit: 100),
        logger: Logger(label: "MailAPITests")
    )
    do {
        try await body(store, HTTPTestClient(port: api.port), (plain, multipart))
    } catch {
        await api.stop()
        throw error
    }
    await api.stop()
}

@Suite("Mailpit API v1 over a loopback server")
struct MailAPIServerTests {
    @Test("GET /api/v1/messages lists newest first in Mailpit's shape")
    func list() async throws {
        try await withServer { _, client, ids in
            let answer = try await client.send(.GET, "/api/v1/messages")
            #expect(answer.status == 200)
            #expect(answer.header("Content-Type") == "application/json")
            let expected = try JSONValue.parse(
                """
                {"total": 2, "unread": 2, "count": 2, "messages_count": 2, "messages_unread": 2, "start": 0, "tags": [],
                 "messages": [
                  {"ID": "\(ids.multipart)", "MessageID": "invoice-7@shop.test", "Read": false,
                   "From": {"Name": "", "Address": "billing@shop.test"},
                   "To": [{"Name": "Bob", "Address": "bob@example.test"}], "Cc": [], "Bcc": [], "ReplyTo": [],
                   "Subject": "Your invoice", "Created": "2026-01-03T00:00:00.000Z", "Username": "", "Tags": [],
                   "Size": \(multipartMessage.count), "Attachments": 1, "Snippet": "Invoice 7 attached."},
                  {"ID": "\(ids.plain)", "MessageID": "report-1@example.test", "Read": false,
                   "From": {"Name": "Alice Example", "Address": "alice@example.test"},
                   "To": [{"Name": "Bob", "Address": "bob@example.test"}, {"Name": "", "Address": "carol@example.test"}],
                   "Cc": [{"Name": "Davï", "Address": "dave@example.test"}], "Bcc": [], "ReplyTo": [],
                   "Subject": "Quarterly report", "Created": "2026-01-02T00:00:00.000Z", "Username": "", "Tags": [],
                   "Size": \(plainMessage.count), "Attachments": 0, "Snippet": "Hello Bob, the numbers are in."}
                 ]}
                """)
            #expect(try answer.json() == expected)
        }
    }

    @Test("start and limit page the list; limit is bounded")
    func paging() async throws {
        try await withServer { _, client, ids in
            let second = try await client.send(.GET, "/api/v1/messages?start=1&limit=1").json()
            #expect(second["start"] == .number(1))
            #expect(second["count"] == .number(1))
            #expect(second["messages"]?[0]?["ID"]?.string == ids.plain)
            let all = try await client.send(.GET, "/api/v1/messages?limit=0").json()
            #expect(all["messages"]?.array?.count == 2)
            let junk = try await client.send(.GET, "/api/v1/messages?start=-4&limit=x").json()
            #expect(junk["start"] == .number(0))
            #expect(junk["messages"]?.array?.count == 2)
        }
    }

    @Test("GET /api/v1/message/{ID} gives the full message and marks it read")
    func message() async throws {
        try await withServer { store, client, ids in
            let answer = try await client.send(.GET, "/api/v1/message/\(ids.multipart)")
            #expect(answer.status == 200)
            let expected = try JSONValue.parse(
                """
                {"ID": "\(ids.multipart)", "MessageID": "invoice-7@shop.test", "Read": true,
                 "From": {"Name": "", "Address": "billing@shop.test"},
                 "To": [{"Name": "Bob", "Address": "bob@example.test"}], "Cc": [], "Bcc": [], "ReplyTo": [],
                 "ReturnPath": "billing@shop.test", "Subject": "Your invoice",
                 "ListUnsubscribe": {"Header": "", "Links": [], "Errors": "", "HeaderPost": ""},
                 "Date": "2026-01-03T00:00:00.000Z", "Tags": [], "Username": "",
                 "Text": "Invoice 7 attached.",
                 "HTML": "<html><head><style>p { color: red }</style></head><body><p>Invoice <b>7</b> attached.</p></body></html>",
                 "Size": \(multipartMessage.count), "Inline": [],
                 "Attachments": [{"PartID": "2", "FileName": "invoice-7.pdf", "ContentType": "application/pdf",
                                  "ContentID": "", "Size": 9,
                                  "Checksums": {"MD5": "", "SHA1": "", "SHA256": ""}}]}
                """)
            #expect(try answer.json() == expected)
            #expect(store.allMessages().first { $0.message.id == ids.multipart }?.seen == true)
            let list = try await client.send(.GET, "/api/v1/messages").json()
            #expect(list["unread"] == .number(1))
            #expect(list["messages"]?[0]?["Read"] == .bool(true))
        }
    }

    @Test("the Date header keeps its offset; latest is the newest message")
    func dateAndLatest() async throws {
        try await withServer { _, client, ids in
            let plain = try await client.send(.GET, "/api/v1/message/\(ids.plain)").json()
            #expect(plain["Date"]?.string == "2026-01-02T10:00:00.000+10:00")
            #expect(plain["ReturnPath"]?.string == "alice@example.test")
            #expect(plain["Text"]?.string == "Hello Bob,\r\nthe numbers are in.\r\n")
            let latest = try await client.send(.GET, "/api/v1/message/latest").json()
            #expect(latest["ID"]?.string == ids.multipart)
            let latestMatching = try await client.send(.GET, "/api/v1/message/latest?query=from%3Aalice").json()
            #expect(latestMatching["ID"]?.string == ids.plain)
        }
    }

    @Test("headers, raw source and attachment download")
    func headersRawPart() async throws {
        try await withServer { _, client, ids in
            let headers = try await client.send(.GET, "/api/v1/message/\(ids.plain)/headers")
            #expect(headers.status == 200)
            let json = try headers.json()
            #expect(json["Message-Id"] == .array([.string("<report-1@example.test>")]))
            #expect(json["X-Multi"] == .array([.string("one"), .string("two")]))
            #expect(json["Cc"] == .array([.string("=?UTF-8?Q?Dav=C3=AF?= <dave@example.test>")]))

            let raw = try await client.send(.GET, "/api/v1/message/\(ids.plain)/raw")
            #expect(raw.status == 200)
            #expect(raw.header("Content-Type") == "text/plain; charset=utf-8")
            #expect(raw.body == plainMessage)

            let part = try await client.send(.GET, "/api/v1/message/\(ids.multipart)/part/2")
            #expect(part.status == 200)
            #expect(part.header("Content-Type") == "application/pdf")
            #expect(part.text == "%PDF-1.4\n")
            #expect(part.header("Content-Disposition") == "inline; filename=\"invoice-7.pdf\"")
            #expect(try await client.send(.GET, "/api/v1/message/\(ids.multipart)/part/9").status == 404)
        }
    }

    @Test("a missing message is 404 with Mailpit's text")
    func missing() async throws {
        try await withServer { store, client, _ in
            for path in ["/api/v1/message/nope", "/api/v1/message/nope/headers", "/api/v1/message/nope/raw", "/api/v1/nothing"] {
                let answer = try await client.send(.GET, path)
                #expect(answer.status == 404, "\(path)")
                #expect(answer.text == "404 page not found", "\(path)")
            }
            store.deleteMessages(ids: nil)
            let latest = try await client.send(.GET, "/api/v1/message/latest")
            #expect(latest.status == 404)
            #expect(latest.text == "Message not found")
        }
    }

    @Test("search by subject, sender, phrase and negation")
    func search() async throws {
        try await withServer { _, client, ids in
            func found(_ query: String) async throws -> [String] {
                let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? query
                let answer = try await client.send(.GET, "/api/v1/search?query=\(encoded)")
                #expect(answer.status == 200, "\(query)")
                return try answer.json()["messages"]?.array?.compactMap { $0["ID"]?.string } ?? []
            }
            #expect(try await found("subject:\"quarterly report\"") == [ids.plain])
            #expect(try await found("from:billing") == [ids.multipart])
            #expect(try await found("-from:billing") == [ids.plain])
            #expect(try await found("\"numbers are in\"") == [ids.plain])
            #expect(try await found("invoice-7.pdf") == [ids.multipart])
            #expect(try await found("has:attachment") == [ids.multipart])
            #expect(try await found("to:carol") == [ids.plain])
            #expect(try await found("bob is:unread") == [ids.multipart, ids.plain])
            #expect(try await found("after:2026-01-03") == [ids.multipart])
            #expect(try await found("before:2026-01-02T12:00:00Z") == [ids.plain])
            // A space written as + (HTML forms, Python's requests) is a space.
            let plus = try await client.send(.GET, "/api/v1/search?query=subject%3A%22quarterly+report%22").json()
            #expect(plus["messages_count"] == .number(1))
            #expect(plus["total"] == .number(2))
            let empty = try await client.send(.GET, "/api/v1/search?query=+")
            #expect(empty.status == 400)
            #expect(empty.text == "Error: no search query")
        }
    }

    @Test("PUT /api/v1/messages sets the read state by id, by search, or for all")
    func setRead() async throws {
        try await withServer { store, client, ids in
            func readIDs() -> Set<String> { Set(store.allMessages().filter(\.seen).map(\.message.id)) }
            let byID = try await client.send(.PUT, "/api/v1/messages", body: Array("{\"IDs\":[\"\(ids.plain)\"],\"Read\":true}".utf8))
            #expect(byID.status == 200)
            #expect(byID.text == "ok")
            #expect(readIDs() == [ids.plain])
            _ = try await client.send(.PUT, "/api/v1/messages", body: Array("{\"Read\":true}".utf8))
            #expect(readIDs() == [ids.plain, ids.multipart])
            _ = try await client.send(.PUT, "/api/v1/messages", body: Array("{\"read\":false,\"search\":\"from:alice\"}".utf8))
            #expect(readIDs() == [ids.multipart])
            let both = try await client.send(.PUT, "/api/v1/messages", body: Array("{\"IDs\":[\"x\"],\"Search\":\"y\"}".utf8))
            #expect(both.status == 400)
            let broken = try await client.send(.PUT, "/api/v1/messages", body: Array("{\"Read\":".utf8))
            #expect(broken.status == 400)
            let wrongType = try await client.send(.PUT, "/api/v1/messages", body: Array("{\"IDs\":\"x\"}".utf8))
            #expect(wrongType.status == 400)
            #expect(readIDs() == [ids.multipart])
        }
    }

    @Test("DELETE /api/v1/messages deletes by id, or everything")
    func delete() async throws {
        try await withServer { store, client, ids in
            let one = try await client.send(.DELETE, "/api/v1/messages", body: Array("{\"IDs\":[\"\(ids.plain)\"]}".utf8))
            #expect(one.status == 200)
            #expect(one.text == "ok")
            #expect(store.allMessages().map(\.message.id) == [ids.multipart])
            #expect(try await client.send(.GET, "/api/v1/message/\(ids.plain)").status == 404)
            // A body that is not the JSON expected deletes everything, as in Mailpit.
            let broken = try await client.send(.DELETE, "/api/v1/messages", body: Array("[1,".utf8))
            #expect(broken.status == 200)
            #expect(store.allMessages().isEmpty)
            store.deliver(plainMessage, envelope: nil, to: ["bob"])
            let all = try await client.send(.DELETE, "/api/v1/messages")
            #expect(all.status == 200)
            #expect(store.allMessages().isEmpty)
            let info = try await client.send(.GET, "/api/v1/info").json()
            #expect(info["Messages"] == .number(0))
            #expect(info["RuntimeStats"]?["MessagesDeleted"] == .number(3))
        }
    }

    @Test("DELETE /api/v1/search deletes what matches")
    func deleteSearch() async throws {
        try await withServer { store, client, ids in
            let answer = try await client.send(.DELETE, "/api/v1/search?query=has%3Aattachment")
            #expect(answer.status == 200)
            #expect(store.allMessages().map(\.message.id) == [ids.plain])
            #expect(try await client.send(.DELETE, "/api/v1/search").status == 400)
            #expect(store.allMessages().count == 1)
        }
    }

    @Test("request bodies are bounded; info, livez and readyz answer")
    func boundsAndHealth() async throws {
        try await withServer { store, client, _ in
            let big = Array("{\"IDs\":[\"".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 2000) + Array("\"]}".utf8)
            let answer = try await client.send(.DELETE, "/api/v1/messages", body: big)
            #expect(answer.status == 413)
            #expect(store.allMessages().count == 2)
            #expect(try await client.send(.GET, "/livez").status == 200)
            #expect(try await client.send(.GET, "/readyz").status == 200)
            let info = try await client.send(.GET, "/api/v1/info").json()
            #expect(info["Version"]?.string == "test")
            #expect(info["Messages"] == .number(2))
            #expect(info["Unread"] == .number(2))
            #expect(info["DatabaseSize"] == .number(Double(plainMessage.count + multipartMessage.count)))
        }
    }

    @Test("a busy port is a start failure, not a hang")
    func busyPort() async throws {
        let store = try MailStore()
        let first = try await MailAPIServer.start(store: store, configuration: .init(port: 0), logger: Logger(label: "MailAPITests"))
        await #expect(throws: MailAPIServer.Failure.self) {
            let second = try await MailAPIServer.start(
                store: store, configuration: .init(port: first.port), logger: Logger(label: "MailAPITests"))
            await second.stop()
        }
        await first.stop()
    }
}
