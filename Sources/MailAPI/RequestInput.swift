// SPDX-License-Identifier: Apache-2.0
import Foundation

/// The parts of a request the API reads, parsed as values: the query string and the JSON bodies
/// of `PUT` and `DELETE /api/v1/messages`. Everything here reads untrusted input and is bounded.
enum RequestInput {
    /// A problem that the API answers with 400 and this text (as Mailpit's `httpError`).
    struct BadRequest: Error, Equatable {
        var message: String
    }

    /// A query string (`a=1&b=two+words`) as name-value pairs, in order: `+` is a blank and
    /// `%XX` a byte, as HTML forms and Go's `url.ParseQuery` have it; a malformed escape is kept
    /// as written; names and values are read as UTF-8.
    static func queryItems(_ query: String) -> [(name: String, value: String)] {
        var items: [(String, String)] = []
        for pair in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true).prefix(100) {
            let halves = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = formDecode(halves[0])
            let value = halves.count > 1 ? formDecode(halves[1]) : ""
            items.append((name, value))
        }
        return items
    }

    /// The first value of a query parameter, or nil.
    static func value(_ name: String, in query: String) -> String? {
        queryItems(query).first { $0.name == name }?.value
    }

    /// Decodes `+` and `%XX`.
    static func formDecode(_ bytes: Substring.UTF8View.SubSequence) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), let high = bytes.index(index, offsetBy: 1, limitedBy: bytes.endIndex),
                high < bytes.endIndex, let low = bytes.index(high, offsetBy: 1, limitedBy: bytes.endIndex), low < bytes.endIndex,
                let h = hexValue(bytes[high]), let l = hexValue(bytes[low])
            {
                out.append(h << 4 | l)
                index = bytes.index(after: low)
                continue
            } else {
                out.append(byte)
            }
            index = bytes.index(after: index)
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// A page: where it starts and how many messages it holds at most.
    struct Page: Equatable {
        var start: Int
        var limit: Int
    }

    /// `start` and `limit` as Mailpit reads them (`getStartLimit`): `start` a non-negative
    /// integer (anything else is 0), `limit` 50 by default; `0` means "all", which this server
    /// bounds, as it bounds any larger limit, at `maximumLimit`.
    static func page(_ query: String, maximumLimit: Int) -> Page {
        let items = queryItems(query)
        var page = Page(start: 0, limit: 50)
        if let text = items.first(where: { $0.name == "start" })?.value, let start = Int(text), start > 0 {
            page.start = start
        }
        if let text = items.first(where: { $0.name == "limit" })?.value, let limit = Int(text), limit >= 0 {
            page.limit = limit == 0 ? maximumLimit : min(limit, maximumLimit)
        }
        return page
    }

    /// The body of `PUT /api/v1/messages`.
    struct SetRead: Equatable {
        var read: Bool
        var ids: [String]
        var search: String
    }

    /// Parses `{"Read": true, "IDs": […], "Search": "…"}`. Field names are matched without regard
    /// to case and unknown fields are ignored, as Go's `encoding/json` does; an empty body is an
    /// error (Go's decoder answers EOF).
    static func setRead(_ body: [UInt8]) throws(BadRequest) -> SetRead {
        let object = try jsonObject(body, emptyIsError: true)
        var request = SetRead(read: false, ids: [], search: "")
        if let value = field("Read", in: object) {
            guard let read = value as? Bool ?? (value is NSNull ? false : nil) else {
                throw BadRequest(message: "json: cannot unmarshal Read into a bool")
            }
            request.read = read
        }
        request.ids = try ids(object)
        if let value = field("Search", in: object), !(value is NSNull) {
            guard let search = value as? String else { throw BadRequest(message: "json: cannot unmarshal Search into a string") }
            request.search = search
        }
        if !request.ids.isEmpty && !request.search.isEmpty {
            throw BadRequest(message: "You may specify either IDs or a search query, not both")
        }
        return request
    }

    /// Parses the body of `DELETE /api/v1/messages`: the IDs, or nil to delete everything. As
    /// in Mailpit, everything goes when there are no IDs, and also when the body is not the JSON
    /// it expects (Mailpit's handler deletes all messages when decoding fails; some clients,
    /// such as `mailpit-api-client`, send a form body and rely on that).
    static func deleteIDs(_ body: [UInt8]) -> [String]? {
        guard let object = try? jsonObject(body, emptyIsError: false), let list = try? ids(object), !list.isEmpty else {
            return nil
        }
        return list
    }

    /// The `IDs` array (strings only).
    static func ids(_ object: [String: Any]) throws(BadRequest) -> [String] {
        guard let value = field("IDs", in: object), !(value is NSNull) else { return [] }
        guard let array = value as? [Any], let strings = array as? [String] else {
            throw BadRequest(message: "json: cannot unmarshal IDs into a list of strings")
        }
        return strings
    }

    /// A field by name, case-insensitively; an exact match wins.
    static func field(_ name: String, in object: [String: Any]) -> Any? {
        if let value = object[name] { return value }
        let lower = name.lowercased()
        return object.first { $0.key.lowercased() == lower }?.value
    }

    /// The body as a JSON object (an empty body is `{}` unless `emptyIsError`).
    static func jsonObject(_ body: [UInt8], emptyIsError: Bool) throws(BadRequest) -> [String: Any] {
        let blank: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        guard body.contains(where: { !blank.contains($0) }) else {
            if emptyIsError { throw BadRequest(message: "EOF") }
            return [:]
        }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
        } catch {
            throw BadRequest(message: "invalid JSON body")
        }
        guard let object = parsed as? [String: Any] else { throw BadRequest(message: "the JSON body is not an object") }
        return object
    }
}
