// SPDX-License-Identifier: Apache-2.0
import MailServers

/// What `parley serve` starts, worked out from its options as a value (tested without sockets):
/// one listener per protocol and port, the accounts, and the faults each listener gets.
struct ServePlan: Equatable {
    /// One listening mail server.
    struct Listener: Equatable {
        /// The name in the `listening on HOST:PORT (NAME)` line: smtp, submission, smtps, imap,
        /// imaps, pop3, pop3s.
        var name: String
        /// The protocol.
        var mailProtocol: MailProtocol
        /// The port (0: a free one).
        var port: Int
        /// Whether TLS starts with the connection.
        var implicitTLS: Bool
        /// Whether MAIL needs AUTH first (submission).
        var requireAuth: Bool
        /// The faults of this listener.
        var faults: [MailServerFault]
    }

    /// The listeners, in the order their lines are printed.
    var listeners: [Listener]
    /// The HTTP API's port, or nil when there is none.
    var httpPort: Int?
    /// Accounts: user name to password.
    var users: [String: String]

    /// The listeners of `serve all` with their default ports (GreenMail's for the mail
    /// protocols, Mailpit's for HTTP).
    static let allDefaults: [(name: String, mailProtocol: MailProtocol, port: Int, implicitTLS: Bool)] = [
        ("smtp", .smtp, 3025, false), ("submission", .smtp, 3587, false), ("smtps", .smtp, 3465, true),
        ("imap", .imap, 3143, false), ("imaps", .imap, 3993, true), ("pop3", .pop3, 3110, false),
        ("pop3s", .pop3, 3995, true),
    ]

    /// The default HTTP API port (Mailpit's).
    static let defaultHTTPPort = 8025

    /// A fault for some listeners: `NAME[=VALUE]` for every listener, `LISTENER:NAME[=VALUE]` for
    /// one (smtp, submission, smtps, imap, imaps, pop3, pop3s).
    struct ScopedFault: Equatable {
        /// The listener names it applies to; nil: every listener.
        var scope: String?
        /// The fault.
        var fault: MailServerFault

        /// Parses `--fault` text.
        ///
        /// - Throws: the fault parser's error, or a message naming the unknown scope.
        init(parsing text: String) throws {
            if let colon = text.firstIndex(of: ":"), !text[..<colon].contains("=") {
                let scope = String(text[..<colon]).lowercased()
                guard ServePlan.allDefaults.contains(where: { $0.name == scope }) else {
                    throw ServePlanError(
                        "unknown listener '\(scope)' in --fault \(text); known: \(ServePlan.allDefaults.map(\.name).joined(separator: ", "))"
                    )
                }
                self.scope = scope
                self.fault = try MailServerFault(parsing: String(text[text.index(after: colon)...]))
            } else {
                self.scope = nil
                self.fault = try MailServerFault(parsing: text)
            }
        }

        /// Whether the fault applies to a listener: no scope, or the listener's own name.
        func applies(to listener: String) -> Bool {
            scope == nil || scope == listener
        }
    }

    /// The plan for `serve all`.
    ///
    /// - Parameters:
    ///   - ports: listener name (and `http`) to port, overriding the defaults.
    ///   - users: the accounts.
    ///   - faults: the `--fault` values.
    ///   - http: whether the HTTP API runs.
    static func all(ports: [String: Int], users: [String: String], faults: [ScopedFault], http: Bool = true) -> ServePlan {
        let listeners = allDefaults.map { entry in
            Listener(
                name: entry.name,
                mailProtocol: entry.mailProtocol,
                port: ports[entry.name] ?? entry.port,
                implicitTLS: entry.implicitTLS,
                requireAuth: entry.name == "submission",
                faults: faults.filter { $0.applies(to: entry.name) }.map(\.fault)
            )
        }
        return ServePlan(listeners: listeners, httpPort: http ? ports["http"] ?? defaultHTTPPort : nil, users: users)
    }

    /// The plan for `serve smtp|imap|pop3`: one listener.
    static func single(
        _ mailProtocol: MailProtocol,
        port: Int,
        implicitTLS: Bool,
        users: [String: String],
        faults: [ScopedFault]
    ) -> ServePlan {
        let name = mailProtocol.rawValue + (implicitTLS ? "s" : "")
        let listener = Listener(
            name: name,
            mailProtocol: mailProtocol,
            port: port,
            implicitTLS: implicitTLS,
            requireAuth: false,
            faults: faults.filter { $0.scope == nil || $0.scope == name || $0.scope == mailProtocol.rawValue }.map(\.fault)
        )
        return ServePlan(listeners: [listener], httpPort: nil, users: users)
    }

    /// Parses the `--user` values: `NAME:PASSWORD` each (the password may hold colons), or one
    /// plain NAME with `--password`.
    ///
    /// - Throws: ``ServePlanError`` naming the bad value.
    static func users(_ values: [String], password: String?) throws -> [String: String] {
        if let password {
            guard values.count == 1, !values[0].isEmpty else {
                throw ServePlanError("--password goes with exactly one --user NAME")
            }
            return [values[0]: password]
        }
        var users: [String: String] = [:]
        for value in values {
            guard let colon = value.firstIndex(of: ":"), colon != value.startIndex else {
                throw ServePlanError("--user \(value): expected NAME:PASSWORD")
            }
            users[String(value[..<colon])] = String(value[value.index(after: colon)...])
        }
        return users
    }
}

/// A bad `serve` option, with the message to show.
struct ServePlanError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
