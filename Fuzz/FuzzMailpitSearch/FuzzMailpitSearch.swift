// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: what the HTTP API parses from requests and messages. The input as text is a
// Mailpit search query (parsed and run against a fixed message), a query string (start, limit,
// query), an `after:` date and a `Date:` header; the input as bytes is a PUT/DELETE JSON body,
// and a stored message whose digest (addresses, MIME parts, snippet, search text) is worked out.
import Foundation
import FuzzSupport
import MailServers

@testable import MailAPI

/// A message every query is run against.
let sample = SearchableMessage(
    text: MailpitSearch.clean("Alice <alice@x.test> Report bob@x.test the numbers are in report.pdf"),
    to: "bob bob@x.test",
    from: "alice alice@x.test",
    subject: "report",
    messageID: "r-1@x.test",
    read: true,
    attachments: 1,
    created: 1_767_312_000_000,
    size: 500
)

/// A store that holds the message being digested, and its API view.
let store = try! MailStore(users: ["bob": "x"])
let api = MailpitStore(store: store)

/// Runs one input through the parsers and checks their invariants.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMailpitSearch(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)

    // The search: deterministic, values clean and non-empty, matching is all terms.
    let search = MailpitSearch(parsing: text)
    precondition(search == MailpitSearch(parsing: text), "parsing is not deterministic")
    for term in search.terms {
        switch term.filter {
        case .text(let value), .to(let value), .from(let value), .cc(let value), .bcc(let value), .replyTo(let value),
            .addressed(let value), .messageID(let value), .tag(let value):
            precondition(!value.isEmpty && MailpitSearch.clean(value) == value, "a value that is not clean: \(value)")
        case .subject(let value):
            precondition(!value.isEmpty && value == value.lowercased(), "a subject that is not lower-cased")
        case .larger(let value), .smaller(let value):
            precondition(value > 0, "a size that is not positive")
        default: break
        }
    }
    let expected = search.terms.allSatisfy { $0.filter.holds(for: sample) != $0.negated }
    precondition(search.matches(sample) == expected, "matches disagrees with its terms")

    // Query strings and pages.
    let items = RequestInput.queryItems(text)
    precondition(items.count <= 100, "more query items than the bound")
    let page = RequestInput.page(text, maximumLimit: 100)
    precondition(page.start >= 0 && (1...100).contains(page.limit), "a page out of bounds: \(page)")

    // Dates: whatever parses formats as RFC 3339 of a fixed length.
    if let instant = MessageDate.parse(text) {
        let formatted = instant.rfc3339
        precondition(formatted.utf8.count == 24 || formatted.utf8.count == 29, "odd RFC 3339: \(formatted)")
    }
    _ = SearchDate.milliseconds(text)

    // JSON bodies: an answer or a 400, never a crash.
    _ = try? RequestInput.setRead(bytes)
    _ = try? RequestInput.deleteIDs(bytes)

    // A message's digest, with a snippet within its bound.
    let id = store.deliver(bytes, envelope: nil, to: ["bob"], received: 0)
    if let entry = api.entry(id) {
        precondition(entry.digest.snippet.utf8.count <= 203, "a snippet over 200 bytes")
        precondition(entry.digest.size == bytes.count, "the size is not the message's")
        _ = entry.digest.message
    }
    api.delete(ids: nil)
    return 0
}

/// Runs libFuzzer on ``fuzzMailpitSearch(_:_:)``, or replays the files named on the command line.
@main
struct Entry {
    static func main() throws {
        try FuzzDriver.run(fuzzMailpitSearch)
    }
}
