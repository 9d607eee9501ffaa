// SPDX-License-Identifier: Apache-2.0
import Foundation
import Hummingbird
import MailServers
import NIOCore

/// The routes of Mailpit's API v1 that tests use, over a ``MailpitStore``, with Mailpit's
/// answers: JSON for data, `text/plain` `ok` for changes, `text/plain` `404 page not found` and
/// 400 with the reason as text for problems (`server/apiv1` in Mailpit's source).
struct MailpitRoutes: Sendable {
    let store: MailpitStore
    let configuration: MailAPIServer.Configuration
    let started: ContinuousClock.Instant

    /// Adds the routes to a router.
    func add(to router: Router<BasicRequestContext>) {
        router.add(middleware: MailpitErrors())
        router.get("/api/v1/messages") { request, _ in self.list(request) }
        router.delete("/api/v1/messages") { request, context in try await self.delete(request, context) }
        router.put("/api/v1/messages") { request, context in try await self.setRead(request, context) }
        router.get("/api/v1/message/:id") { request, context in self.message(request, context) }
        router.get("/api/v1/message/:id/headers") { request, context in self.headers(request, context) }
        router.get("/api/v1/message/:id/raw") { request, context in self.raw(request, context) }
        router.get("/api/v1/message/:id/part/:part") { request, context in self.part(request, context) }
        router.get("/api/v1/search") { request, _ in self.search(request) }
        router.delete("/api/v1/search") { request, _ in self.deleteSearch(request) }
        router.get("/api/v1/info") { _, _ in self.info() }
        router.get("/livez") { _, _ in Response(status: .ok) }
        router.get("/readyz") { _, _ in Response(status: .ok) }
    }

    // MARK: - Messages

    /// `GET /api/v1/messages?start=&limit=`: newest first.
    func list(_ request: Request) -> Response {
        let page = RequestInput.page(request.uri.query ?? "", maximumLimit: configuration.maximumLimit)
        return Self.json(store.summary(search: nil, page: page))
    }

    /// `DELETE /api/v1/messages` with `{"IDs": […]}`; everything without IDs (or with a body
    /// that is not such JSON, as Mailpit does).
    func delete(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        store.delete(ids: RequestInput.deleteIDs(try await collect(request)))
        return Self.ok
    }

    /// `PUT /api/v1/messages` with `{"IDs": […], "Read": true}`, or `"Search"`, or all.
    func setRead(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let body = try await collect(request)
        let input: RequestInput.SetRead
        do {
            input = try RequestInput.setRead(body)
        } catch {
            return Self.badRequest(error.message)
        }
        let search = input.search.trimmingBlanks.isEmpty ? nil : MailpitSearch(parsing: input.search)
        store.setRead(input.read, ids: input.ids, search: search)
        return Self.ok
    }

    // MARK: - One message

    /// The message a path names (`latest`: the newest, or the newest matching `?query=`).
    func entry(_ request: Request, _ context: BasicRequestContext) -> MailpitStore.Entry? {
        guard let id = context.parameters.get("id") else { return nil }
        let query = RequestInput.value("query", in: request.uri.query ?? "")?.trimmingBlanks ?? ""
        return store.entry(id, search: query.isEmpty ? nil : MailpitSearch(parsing: query))
    }

    /// The answer for a message that is not there: Mailpit says `Message not found` for
    /// `latest` and `404 page not found` otherwise.
    func missing(_ context: BasicRequestContext) -> Response {
        context.parameters.get("id") == "latest" ? Self.text("Message not found", status: .notFound) : Self.notFound
    }

    /// `GET /api/v1/message/{ID}`: the message, which is then read.
    func message(_ request: Request, _ context: BasicRequestContext) -> Response {
        guard let entry = entry(request, context) else { return missing(context) }
        store.setRead(true, ids: [entry.digest.id], search: nil)
        return Self.json(entry.digest.message)
    }

    /// `GET /api/v1/message/{ID}/headers`: `{"Name": ["value", …]}`, names as Go writes them.
    func headers(_ request: Request, _ context: BasicRequestContext) -> Response {
        guard let entry = entry(request, context) else { return missing(context) }
        return Self.json(entry.digest.headers)
    }

    /// `GET /api/v1/message/{ID}/raw`: the message as received.
    func raw(_ request: Request, _ context: BasicRequestContext) -> Response {
        guard let entry = entry(request, context), let message = store.store.message(id: entry.digest.id) else {
            return missing(context)
        }
        var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
        if RequestInput.value("dl", in: request.uri.query ?? "") == "1" {
            headers[.contentDisposition] = "attachment; filename=\"\(entry.digest.id).eml\""
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: message.bytes)))
    }

    /// `GET /api/v1/message/{ID}/part/{PartID}`: an attachment or inline part, decoded. Types a
    /// browser would run (HTML, XML, SVG) are sent as `application/octet-stream` attachments,
    /// as Mailpit does.
    func part(_ request: Request, _ context: BasicRequestContext) -> Response {
        guard let entry = entry(request, context) else { return missing(context) }
        guard let partID = context.parameters.get("part"), let part = entry.digest.part(partID) else { return Self.notFound }
        var contentType = part.contentType
        var disposition = "inline"
        if ["text/html", "text/xml", "application/xhtml+xml", "image/svg+xml", "application/xml", "text/xsl"].contains(
            contentType.lowercased())
        {
            contentType = "application/octet-stream"
            disposition = "attachment"
        }
        let name = part.fileName.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? "part"
        let headers: HTTPFields = [.contentType: contentType, .contentDisposition: "\(disposition); filename=\"\(name)\""]
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: part.content)))
    }

    // MARK: - Search

    /// The `query` parameter, or the 400 Mailpit answers without one.
    func searchQuery(_ request: Request) -> Result<MailpitSearch, RequestInput.BadRequest> {
        let query = RequestInput.value("query", in: request.uri.query ?? "")?.trimmingBlanks ?? ""
        guard !query.isEmpty else { return .failure(.init(message: "Error: no search query")) }
        return .success(MailpitSearch(parsing: query))
    }

    /// `GET /api/v1/search?query=&start=&limit=`.
    func search(_ request: Request) -> Response {
        switch searchQuery(request) {
        case .failure(let problem): return Self.badRequest(problem.message)
        case .success(let search):
            let page = RequestInput.page(request.uri.query ?? "", maximumLimit: configuration.maximumLimit)
            return Self.json(store.summary(search: search, page: page))
        }
    }

    /// `DELETE /api/v1/search?query=`.
    func deleteSearch(_ request: Request) -> Response {
        switch searchQuery(request) {
        case .failure(let problem): return Self.badRequest(problem.message)
        case .success(let search):
            store.delete(matching: search)
            return Self.ok
        }
    }

    // MARK: - Application

    /// `GET /api/v1/info`.
    func info() -> Response {
        let all = store.entries()
        let uptime = started.duration(to: .now).components.seconds
        let info = MailpitAppInformation(
            version: configuration.version,
            latestVersion: "disabled",
            database: "",
            databaseSize: all.reduce(0) { $0 + $1.digest.size },
            messages: all.count,
            unread: all.count { !$0.read },
            tags: [:],
            runtimeStats: .init(
                uptime: Int(uptime),
                memory: 0,
                messagesDeleted: store.deleted.withLock { $0 },
                smtpAccepted: 0,
                smtpAcceptedSize: 0,
                smtpRejected: 0,
                smtpIgnored: 0
            )
        )
        return Self.json(info)
    }

    // MARK: - Helpers

    /// The request body, at most ``MailAPIServer/Configuration/maximumBodySize`` bytes (more is
    /// answered with 413 by ``MailpitErrors``).
    func collect(_ request: Request) async throws -> [UInt8] {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > configuration.maximumBodySize {
            throw HTTPError(.contentTooLarge)
        }
        var body = request.body
        do {
            let buffer = try await body.collect(upTo: configuration.maximumBodySize)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw HTTPError(.contentTooLarge)
        }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func json(_ value: some Encodable) -> Response {
        guard let data = try? encoder.encode(value) else { return text("cannot encode the answer", status: .internalServerError) }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: Array(data) + [UInt8(ascii: "\n")]))
        )
    }

    static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static var ok: Response { text("ok") }
    static var notFound: Response { text("404 page not found", status: .notFound) }
    static func badRequest(_ message: String) -> Response { text(message, status: .badRequest) }
}

/// Turns what the router throws into Mailpit's plain-text answers: `404 page not found` for an
/// unknown path, the status and its reason for other HTTP errors (413 for a body too large).
struct MailpitErrors: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            if error.status == .notFound { return MailpitRoutes.notFound }
            return MailpitRoutes.text(error.body ?? error.status.reasonPhrase, status: error.status)
        }
    }
}
