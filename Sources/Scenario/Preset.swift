// SPDX-License-Identifier: Apache-2.0

/// What a protocol's STARTTLS dialog looks like: the greeting, the capability command and the
/// end of its response, and the STARTTLS command with its reply and go-ahead.
///
/// Patterns are PCRE2, multiline, over bytes. `${client-name}` in a command is the scenario's
/// `client-name` variable (default `parley.test`); `${server-name}` is the connect host.
public struct Preset: Sendable, Hashable {
    /// The preset's name, as written in a scenario.
    public var name: String
    /// The usual port for STARTTLS (plain first).
    public var port: Int
    /// The usual port for implicit TLS, where the protocol has one.
    public var implicitTLSPort: Int?
    /// Matches the end of the greeting; nil when the server does not speak first (XMPP).
    public var greeting: String?
    /// The capability command.
    public var capabilityCommand: String
    /// Matches the end of the capability response.
    public var endOfCapabilities: String
    /// The STARTTLS command.
    public var starttlsCommand: String
    /// Matches the end of the reply to STARTTLS.
    public var starttlsReply: String
    /// Matched against that reply: a match means go ahead.
    public var starttlsSuccess: String
    /// The capability word that advertises STARTTLS, when the protocol has one.
    public var starttlsCapability: String?
    /// Matches a capability response that offers STARTTLS where the offer is not one capability
    /// word (FTP's `AUTH TLS` feature line, XMPP's `<starttls>` feature); nil for the others,
    /// whose offer is `\bWORD\b` of ``starttlsCapability``.
    public var starttlsOffer: String? = nil

    /// Every preset, by name.
    public static let all: [String: Preset] = Dictionary(
        uniqueKeysWithValues: [smtp, submission, lmtp, imap, pop3, sieve, nntp, ftp, xmpp].map { ($0.name, $0) }
    )

    /// The preset names, sorted.
    public static var names: [String] { all.keys.sorted() }

    /// A whole SMTP-style reply: any `NNN-` continuation lines, then the `NNN ` last line.
    /// Leftmost matching makes it start at the reply's first line.
    static let replyLine = #"^(?:[0-9]{3}-[^\n]*\n)*[0-9]{3} [^\n]*\n"#

    /// SMTP (RFC 5321, RFC 3207): EHLO, STARTTLS, 220.
    public static let smtp = Preset(
        name: "smtp", port: 25, implicitTLSPort: 465, greeting: replyLine,
        capabilityCommand: "EHLO ${client-name}\r\n", endOfCapabilities: replyLine,
        starttlsCommand: "STARTTLS\r\n", starttlsReply: replyLine, starttlsSuccess: "^220[ -]",
        starttlsCapability: "STARTTLS"
    )

    /// Message submission (RFC 6409) on port 587, with SMTPS (RFC 8314) on 465.
    public static let submission = Preset(
        name: "submission", port: 587, implicitTLSPort: 465, greeting: replyLine,
        capabilityCommand: "EHLO ${client-name}\r\n", endOfCapabilities: replyLine,
        starttlsCommand: "STARTTLS\r\n", starttlsReply: replyLine, starttlsSuccess: "^220[ -]",
        starttlsCapability: "STARTTLS"
    )

    /// LMTP (RFC 2033): LHLO instead of EHLO.
    public static let lmtp = Preset(
        name: "lmtp", port: 24, implicitTLSPort: nil, greeting: replyLine,
        capabilityCommand: "LHLO ${client-name}\r\n", endOfCapabilities: replyLine,
        starttlsCommand: "STARTTLS\r\n", starttlsReply: replyLine, starttlsSuccess: "^220[ -]",
        starttlsCapability: "STARTTLS"
    )

    /// IMAP (RFC 9051, RFC 2595): tagged CAPABILITY and STARTTLS.
    public static let imap = Preset(
        name: "imap", port: 143, implicitTLSPort: 993, greeting: #"^\* (?:OK|PREAUTH|BYE)\b[^\n]*\n"#,
        capabilityCommand: "P1 CAPABILITY\r\n", endOfCapabilities: #"^(?:\*[^\n]*\n)*P1 (?:OK|NO|BAD)\b[^\n]*\n"#,
        starttlsCommand: "P2 STARTTLS\r\n", starttlsReply: #"^(?:\*[^\n]*\n)*P2 (?:OK|NO|BAD)\b[^\n]*\n"#,
        starttlsSuccess: "^P2 OK\\b",
        starttlsCapability: "STARTTLS"
    )

    /// POP3 (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS).
    public static let pop3 = Preset(
        name: "pop3", port: 110, implicitTLSPort: 995, greeting: #"^[+-](?:OK|ERR)\b[^\n]*\n"#,
        capabilityCommand: "CAPA\r\n", endOfCapabilities: #"^(?:\+OK\b[^\n]*\n(?:[^\n]*\n)*?\.\r?\n|-ERR\b[^\n]*\n)"#,
        starttlsCommand: "STLS\r\n", starttlsReply: #"^[+-](?:OK|ERR)\b[^\n]*\n"#, starttlsSuccess: "^\\+OK\\b",
        starttlsCapability: "STLS"
    )

    /// ManageSieve (RFC 5804): the greeting is the capability list.
    public static let sieve = Preset(
        name: "sieve", port: 4190, implicitTLSPort: nil, greeting: #"^(?:"[^\n]*\n)*(?:OK|NO|BYE)\b[^\n]*\n"#,
        capabilityCommand: "CAPABILITY\r\n", endOfCapabilities: #"^(?:"[^\n]*\n)*(?:OK|NO|BYE)\b[^\n]*\n"#,
        starttlsCommand: "STARTTLS\r\n", starttlsReply: #"^(?:OK|NO|BYE)\b[^\n]*\n"#, starttlsSuccess: "^OK\\b",
        starttlsCapability: "STARTTLS"
    )

    /// NNTP (RFC 3977, RFC 4642): CAPABILITIES, STARTTLS, 382.
    public static let nntp = Preset(
        name: "nntp", port: 119, implicitTLSPort: 563, greeting: replyLine,
        capabilityCommand: "CAPABILITIES\r\n", endOfCapabilities: #"^(?:101 [^\n]*\n(?:[^\n]*\n)*?\.\r?\n|[45][0-9]{2} [^\n]*\n)"#,
        starttlsCommand: "STARTTLS\r\n", starttlsReply: replyLine, starttlsSuccess: "^382 ",
        starttlsCapability: "STARTTLS"
    )

    /// FTP (RFC 959, RFC 2389 FEAT, RFC 4217 AUTH TLS).
    public static let ftp = Preset(
        name: "ftp", port: 21, implicitTLSPort: 990, greeting: replyLine,
        capabilityCommand: "FEAT\r\n", endOfCapabilities: #"^(?:211-[^\n]*\n(?:[^\n]*\n)*?211 [^\n]*\n|[0-9]{3} [^\n]*\n)"#,
        starttlsCommand: "AUTH TLS\r\n", starttlsReply: replyLine, starttlsSuccess: "^234 ",
        starttlsCapability: nil,
        starttlsOffer: #"^ AUTH TLS\b"#
    )

    /// XMPP client-to-server (RFC 6120 §5): the client opens the stream, the features end it.
    public static let xmpp = Preset(
        name: "xmpp", port: 5222, implicitTLSPort: 5223, greeting: nil,
        capabilityCommand: "<?xml version='1.0'?><stream:stream to='${server-name}' xmlns='jabber:client' "
            + "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
        endOfCapabilities: "</stream:features>",
        starttlsCommand: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
        starttlsReply: "<(?:proceed|failure)\\b[^>]*/>", starttlsSuccess: "<proceed\\b",
        starttlsCapability: nil,
        starttlsOffer: "<starttls\\b[^>]*urn:ietf:params:xml:ns:xmpp-tls"
    )
}

extension Preset {
    /// Emacs's `:end-of-command` for IMAP (nnimap's `"\r\n"`, with the CR optional).
    /// open-network-stream reads the greeting *and* the reply to STARTTLS up to one
    /// `:end-of-command`; IMAP's greeting is untagged (`* OK`) and the reply tagged (`P2 OK`),
    /// so neither of the preset's two patterns ends both.
    public static let emacsIMAPEndOfCommand = #"\r?\n"#

    /// open-network-stream's `:end-of-command` for this protocol (`open` steps and `parley probe`):
    /// the greeting's pattern, which also ends every other preset's replies, or the STARTTLS
    /// reply's for a server that does not speak first (XMPP); for IMAP, Emacs's line end.
    public var endOfCommand: String {
        if name == Preset.imap.name { return Self.emacsIMAPEndOfCommand }
        return greeting ?? starttlsReply
    }
}
