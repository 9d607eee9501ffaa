// SPDX-License-Identifier: Apache-2.0
public import Foundation

/// A loaded scenario: what to start, what to connect to, and the steps to run, each with the
/// place in the file it came from.
public struct Scenario: Sendable {
    /// The path of the scenario file as the user named it.
    public var file: String
    /// The folder relative paths are resolved against: the file's own.
    public var folder: String {
        URL(fileURLWithPath: file).deletingLastPathComponent().path
    }
    /// The scenario's name (`name:`), or the file name when it has none.
    public var name: String
    /// What the scenario checks, in prose (`description:`).
    public var description: String?
    /// Labels for selecting and grouping scenarios (`tags:`).
    public var tags: [String] = []
    /// Default values of variables (`variables:`); `--var` wins over them.
    public var variables: [(name: String, value: Template)] = []
    /// Names of variables whose values are masked in every output (`secrets:`).
    public var secrets: [String] = []
    /// Variables that must be set (by `--var` or the environment) for the scenario to run; it is
    /// skipped otherwise (`requires:`), so suites for a real server sit beside the others.
    public var requires: [String] = []
    /// The protocol preset that fills in greeting, capability and STARTTLS defaults (`preset:`).
    public var preset: Preset?
    /// Embedded fake servers to start before the steps and stop after them, by name
    /// (`server:` is the one named `server`; `servers:` names several).
    public var servers: [EmbeddedServer] = []
    /// Default deadlines for the steps (`timeouts:`).
    public var timeouts: Timeouts
    /// The steps, in order.
    public var steps: [Step]
    /// For a client case (`parley test-client`): how the client under test must exit.
    public var clientExit: ClientExit?
    /// Where `client-exit` is written.
    public var clientExitLocation: SourceLocation?

    /// How a client under test must end (`client-exit:`).
    public enum ClientExit: String, Sendable, Hashable, CaseIterable {
        /// Exit status 0: the client did its work.
        case success
        /// A non-zero exit status: the client refused to go on, as it must.
        case failure
        /// Either: only the dialog is judged.
        case any
    }

    /// Creates a scenario.
    public init(
        file: String,
        name: String,
        description: String? = nil,
        servers: [EmbeddedServer] = [],
        timeouts: Timeouts = Timeouts(),
        steps: [Step]
    ) {
        self.file = file
        self.name = name
        self.description = description
        self.servers = servers
        self.timeouts = timeouts
        self.steps = steps
    }

    /// The embedded server named `server` (the `server:` block), if any.
    public var server: EmbeddedServer? { servers.first { $0.name == "server" } }

    /// The mail domain of the first `connect` or `open` that names one (`mx:`), as written.
    public var mxDomain: Template? {
        for step in steps {
            switch step.kind {
            case .connect(let connect) where connect.mx != nil: return connect.mx
            case .open(let open) where open.mx != nil: return open.mx
            default: continue
            }
        }
        return nil
    }
}

/// The default deadlines of a scenario.
public struct Timeouts: Sendable, Hashable {
    /// How long a TCP connect may take.
    public var connect: Duration = .seconds(10)
    /// How long an `expect` waits for its pattern.
    public var expect: Duration = .seconds(10)
    /// How long a TLS handshake may take.
    public var handshake: Duration = .seconds(10)

    /// Creates the defaults.
    public init() {}
}

/// An in-process fake mail server that a scenario asks for.
public struct EmbeddedServer: Sendable, Hashable {
    /// The protocols the embedded servers speak.
    public enum ServerProtocol: String, Sendable, Hashable, CaseIterable {
        case smtp
        case imap
        case pop3
    }

    /// The server's name: `${NAME.host}` and `${NAME.port}` refer to it; `connect: {server: NAME}`
    /// goes to it.
    public var name: String = "server"
    /// The protocol the server speaks.
    public var `protocol`: ServerProtocol
    /// The name the server announces in its greeting.
    public var hostname: String = "mail.test"
    /// Whether STARTTLS is offered (needs a certificate and key).
    public var starttls: Bool = true
    /// The server certificate chain (PEM), resolved against the scenario's folder.
    public var certificate: String?
    /// The server's private key (PEM), resolved against the scenario's folder.
    public var key: String?
    /// TLS from the first byte (SMTPS, IMAPS, POP3S).
    public var implicitTLS: Bool = false
    /// Fault knobs, as `NAME` or `NAME=VALUE`.
    public var faults: [String] = []
    /// Users and passwords the server accepts.
    public var users: [String: String] = [:]
    /// Where the `server:` block is.
    public var location: SourceLocation

    /// Creates a server description.
    public init(protocol: ServerProtocol, location: SourceLocation) {
        self.protocol = `protocol`
        self.location = location
    }
}

/// A string from the scenario that may hold `${name}` or `${name:-default}` references, expanded
/// when the step runs.
public struct Template: Sendable, Hashable, CustomStringConvertible {
    /// The text as written.
    public var raw: String
    /// Where the text is.
    public var location: SourceLocation

    /// Creates a template.
    public init(_ raw: String, at location: SourceLocation) {
        self.raw = raw
        self.location = location
    }

    /// The text as written.
    public var description: String { raw }
}

/// A regular expression from the scenario, checked when the file is loaded.
public struct PatternSpec: Sendable, Hashable {
    /// The PCRE2 source.
    public var source: String
    /// Case-insensitive matching (Emacs's default for `open-network-stream`; off by default here).
    public var caseInsensitive: Bool = false
    /// Where the pattern is.
    public var location: SourceLocation

    /// Creates a pattern description.
    public init(_ source: String, caseInsensitive: Bool = false, at location: SourceLocation) {
        self.source = source
        self.caseInsensitive = caseInsensitive
        self.location = location
    }
}

/// TLS settings for an implicit-TLS connect or a STARTTLS upgrade.
public struct TLSOptions: Sendable, Hashable {
    /// The CA bundle (PEM) to verify the server against, resolved against the scenario's folder;
    /// nil means the system trust store.
    public var caFile: String?
    /// Skip verification of the peer. Shown in every report when set.
    public var insecure: Bool = false
    /// How the server is authenticated: by its chain and name (`pkix`, the default), or by the
    /// DNSSEC-validated TLSA records of its host and port (`dane`, RFC 7672): the handshake then
    /// does not depend on a CA, and the step fails unless a TLSA record matches.
    public var verification: Verification = .pkix

    /// How the server is authenticated.
    public enum Verification: String, Sendable, Hashable, CaseIterable {
        /// The chain verifies against the trust roots and names the host.
        case pkix
        /// A usable, DNSSEC-validated TLSA record matches the chain (RFC 7672).
        case dane
    }
    /// The name sent as SNI and checked against the certificate; defaults to the connect host.
    public var serverName: Template?
    /// A GnuTLS priority string.
    public var priority: String?
    /// A client certificate chain (PEM).
    public var clientCertificate: String?
    /// The client certificate's key (PEM).
    public var clientKey: String?
    /// ALPN protocols to offer.
    public var alpn: [String] = []

    /// Creates default options: verify against the system store and the connect host.
    public init() {}
}

/// One step of a scenario.
public struct Step: Sendable {
    /// What the step does.
    public indirect enum Kind: Sendable {
        case connect(Connect)
        case open(Open)
        case send(Send)
        case expect(Expect)
        case starttls(StartTLS)
        case assert(Assertion)
        case close
        case greeting(Greeting)
        case capability(Capability)
        case sleep(Duration)
        case set([(name: String, value: Template)])
        /// Stop reading (Emacs's stop-process): bytes wait in the kernel, flow control applies.
        case stop
        /// Read again (continue-process): what waited is delivered.
        case `continue`
        /// Compare the connection's facts with a file written by an earlier run (`snapshot:`).
        case snapshot(Snapshot)
        /// Check the server's TLS policy: protocol versions and cipher classes it accepts and
        /// refuses (a handshake each, on connections of its own), and its certificate chain.
        case tlsPolicy(TLSPolicy)
        /// Play a server: listen on a port (`listen:`); `${NAME.host}` and `${NAME.port}` name it.
        case listen(Listen)
        /// Wait for a client to connect to a listener (`accept:`); the connection is then the
        /// current one, and `send`, `expect`, `starttls` (in the server role) and `assert` act on it.
        case accept(Accept)
        /// Answer the client's commands from a table of rules until one ends the step or the
        /// client closes (`respond:`): the rest of a dialog a scripted server does not judge.
        case respond(Respond)
    }

    /// A scripted server's answers to whatever the client sends next, one line at a time.
    public struct Respond: Sendable {
        /// One rule: a pattern for a command line and what to do when it is the first to match.
        public struct Rule: Sendable {
            /// The pattern, matched case-insensitively against one line (CR LF included);
            /// named groups become variables before `send` is expanded.
            public var when: PatternSpec
            /// The lines to send (CR LF added to each).
            public var send: [Template] = []
            /// After `send`, exchanges in turn: read up to a pattern (the message after SMTP's
            /// DATA, a SASL response), then send lines.
            public var then: [Exchange] = []
            /// The client sent what it must not: the step fails with this message.
            public var fail: Template?
            /// The step ends once this rule has answered.
            public var end = false
            /// Before answering, nothing more may arrive for this long: the client must wait for
            /// the answer (`silence`), as one that took injected bytes for it would not.
            public var silence: Duration?
            /// Where the rule is written.
            public var location: SourceLocation

            /// Creates a rule.
            public init(when: PatternSpec, at location: SourceLocation) {
                self.when = when
                self.location = location
            }
        }

        /// One exchange after a rule's answer: what to read, then what to send.
        public struct Exchange: Sendable {
            /// Read up to this pattern.
            public var expect: PatternSpec
            /// Then send these lines (CR LF added to each).
            public var send: [Template]

            /// Creates an exchange.
            public init(expect: PatternSpec, send: [Template]) {
                self.expect = expect
                self.send = send
            }
        }

        /// The rules, tried in order.
        public var rules: [Rule]
        /// How long to wait for each line; defaults to the scenario's expect timeout.
        public var timeout: Duration?
        /// The most lines answered before the step fails (a bound for a client in a loop).
        public var limit = 1000
        /// The client closing the connection before a rule ends the step fails it with this
        /// message (`on-close`); nil: closing ends the step.
        public var onClose: Template?

        /// Creates a respond step.
        public init(rules: [Rule]) {
            self.rules = rules
        }
    }

    /// A listening socket of a scripted server.
    public struct Listen: Sendable {
        /// The listener's name: `${NAME.host}`, `${NAME.port}`, `accept: {from: NAME}`.
        public var name: String = "listener"
        /// The address to listen on.
        public var host: Template?
        /// The port; 0 (the default) picks a free one.
        public var port: Template?

        /// Creates a listen step on 127.0.0.1 and a free port.
        public init() {}
    }

    /// Waiting for a client.
    public struct Accept: Sendable {
        /// The listener; defaults to the only one, or the one opened last.
        public var from: String?
        /// The accepted connection's name, for `on:`.
        public var name: String = "client"
        /// How long to wait for the client; defaults to the scenario's connect timeout.
        public var timeout: Duration?

        /// Creates an accept step.
        public init() {}
    }

    /// What the step does.
    public var kind: Kind
    /// Where the step starts in the file.
    public var location: SourceLocation
    /// The connection the step acts on (`on:`); nil means the most recently opened one.
    public var connection: String?

    /// Creates a step.
    public init(_ kind: Kind, at location: SourceLocation, connection: String? = nil) {
        self.kind = kind
        self.location = location
        self.connection = connection
    }

    /// The step's keyword, as written in the file.
    public var keyword: String {
        switch kind {
        case .connect: "connect"
        case .open: "open"
        case .send: "send"
        case .expect: "expect"
        case .starttls: "starttls"
        case .assert: "assert"
        case .close: "close"
        case .greeting: "greeting"
        case .capability: "capability"
        case .sleep: "sleep"
        case .set: "set"
        case .stop: "stop"
        case .continue: "continue"
        case .snapshot: "snapshot"
        case .tlsPolicy: "tls-policy"
        case .listen: "listen"
        case .accept: "accept"
        case .respond: "respond"
        }
    }

    /// A TLS policy to hold the server to (`tls-policy:`). The version and cipher checks make
    /// one handshake each on a connection of their own, set up as the step's connection was
    /// (the same address, port, STARTTLS dialog and server name); the certificate checks read
    /// the chain the step's connection was given. Each refusal is a fact, not an error.
    public struct TLSPolicy: Sendable {
        /// Protocol versions the server must refuse (`refuse: [TLS1.0, TLS1.1]`, RFC 8996).
        public var refuse: [String] = []
        /// Protocol versions the server must accept.
        public var accept: [String] = []
        /// NULL, RC4 and 3DES suites offered alone must be refused (`weak-ciphers: refused`).
        public var weakCiphersRefused = false
        /// Key exchange without forward secrecy (RSA) offered alone must be refused
        /// (`forward-secrecy: required`).
        public var forwardSecrecyRequired = false
        /// The smallest RSA key accepted, in bits (`min-rsa-bits`).
        public var minimumRSABits: Int?
        /// The smallest elliptic-curve key accepted, in bits (`min-ec-bits`).
        public var minimumECBits: Int?
        /// No certificate of the chain is signed with SHA-1 or MD5 (`weak-signatures: refused`).
        public var weakSignaturesRefused = false
        /// The chain as sent verifies, so the server sends its intermediates
        /// (`intermediates: sent`).
        public var intermediatesSent = false
        /// Every certificate sent stays valid at least this many more days (`days-left`).
        public var daysLeft: Int?
        /// Names the leaf certificate must be valid for (`names`).
        public var names: [Template] = []
        /// The deadline of each probe's connection, STARTTLS dialog and handshake.
        public var timeout: Duration?

        /// Creates an empty policy.
        public init() {}

        /// The versions a policy can name (what GnuTLS can still offer), oldest first.
        public static let versions = ["TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3"]

        /// Whether the step makes handshakes of its own.
        public var probes: Bool { !refuse.isEmpty || !accept.isEmpty || weakCiphersRefused || forwardSecrecyRequired }
    }

    /// A regression check across server upgrades: the connection's facts (greeting,
    /// capabilities, TLS parameters, peer certificate) against those an earlier run recorded in
    /// `snapshots/FILE.NAME.txt` beside the scenario.
    public struct Snapshot: Sendable {
        /// Every fact a snapshot can hold, in file order.
        public static let allFacts = [
            "greeting", "capabilities-before-tls", "capabilities-after-tls", "tls-version", "cipher", "group", "alpn",
            "verified", "peer-subject", "peer-issuer", "peer-san", "peer-not-after",
        ]
        /// The facts recorded when the step names none: all but the certificate's end date,
        /// which changes at every renewal.
        public static let defaultFacts = allFacts.filter { $0 != "peer-not-after" }

        /// The snapshot's name: part of the file name, unique in the scenario.
        public var name: String
        /// The facts compared, in file order.
        public var facts: [String]

        /// Creates a snapshot step.
        public init(name: String, facts: [String] = Snapshot.defaultFacts) {
            self.name = name
            self.facts = facts
        }
    }

    /// Opens a TCP connection, optionally with TLS from the first byte.
    public struct Connect: Sendable {
        /// The connection's name, for `on:` in later steps; defaults to `main`.
        public var name: String = "main"
        /// The embedded server to connect to, by name; the default when host and port are absent.
        public var server: String?
        /// The host; defaults to the embedded server's.
        public var host: Template?
        /// A mail domain instead of a host (`mx:`): the scenario runs once per MX host of the
        /// domain (RFC 5321 §5.1: preference order, the implicit MX; RFC 7505's null MX fails).
        public var mx: Template?
        /// The port; defaults to the embedded server's.
        public var port: Template?
        /// TLS from the first byte (implicit TLS), when set.
        public var tls: TLSOptions?
        /// The connect deadline, overriding the scenario's.
        public var timeout: Duration?

        /// Creates a connect step that goes to the embedded server.
        public init() {}
    }

    /// Opens a connection the way Emacs's `open-network-stream` does, with every parameter:
    /// greeting, capabilities, STARTTLS when asked or offered, and a result (greeting,
    /// capabilities, type, error) that `assert` can check.
    public struct Open: Sendable {
        /// The connection's name, for `on:`; defaults to `main`.
        public var name: String = "main"
        /// The embedded server to connect to, by name.
        public var server: String?
        /// The host; defaults to the embedded server's.
        public var host: Template?
        /// A mail domain instead of a host (`mx:`), as for `connect`.
        public var mx: Template?
        /// The port; defaults to the embedded server's, else the preset's.
        public var port: Template?
        /// The connection type (`:type`).
        public var type: ConnectionType = .network
        /// Sent to ask for the capabilities (`:capability-command`).
        public var capabilityCommand: Template?
        /// Matches the end of a reply (`:end-of-command`).
        public var endOfCommand: PatternSpec?
        /// Matches the end of the capability response (`:end-of-capability`).
        public var endOfCapability: PatternSpec?
        /// Ask for the capabilities even without STARTTLS (`:always-query-capabilities`).
        public var alwaysQueryCapabilities = false
        /// When the capability response matches this, send `starttlsCommand` (`:starttls-function`).
        public var starttlsWhen: PatternSpec?
        /// The STARTTLS command.
        public var starttlsCommand: Template?
        /// Matched against the STARTTLS reply: a match means go ahead (`:success`).
        public var success: PatternSpec?
        /// Return before the connect completes (`:nowait`).
        public var nowait = false
        /// Send the capability command without waiting for a greeting (`:nogreeting`).
        public var noGreeting = false
        /// `%s` host, `%p` port, `%%` percent (`:shell-command`, type `shell`).
        public var shellCommand: Template?
        /// Emacs's case-insensitive search for the reply patterns.
        public var caseFold = false
        /// Look the client certificate up in this authinfo/netrc file by host and port.
        public var clientCertificateFrom: String?
        /// TLS settings for `tls`, `ssl`, `network` and `starttls`.
        public var tls = TLSOptions()
        /// One deadline for every wait of the open (connect, greeting, capabilities, STARTTLS
        /// reply, handshake); defaults to the scenario's timeouts.
        public var timeout: Duration?
        /// Whether the open is expected to give a connection (`succeed`) or an error (`fail`).
        public var expectFailure = false

        /// Creates an open step with Emacs's defaults.
        public init() {}

        /// Takes the dialog's shapes from a preset: the capability command and the patterns
        /// that end replies and capabilities, and the STARTTLS offer, command and go-ahead.
        public mutating func apply(_ preset: Preset, at location: SourceLocation) {
            capabilityCommand = Template(preset.capabilityCommand, at: location)
            endOfCommand = PatternSpec(preset.endOfCommand, at: location)
            endOfCapability = PatternSpec(preset.endOfCapabilities, at: location)
            starttlsWhen = preset.starttlsCapability.map { PatternSpec("\\b\($0)\\b", at: location) }
            starttlsCommand = Template(preset.starttlsCommand, at: location)
            success = PatternSpec(preset.starttlsSuccess, at: location)
        }
    }

    /// Sends bytes exactly as written (no line-ending repair).
    public struct Send: Sendable {
        /// One piece of data to send.
        public enum Part: Sendable {
            /// The UTF-8 bytes of the expanded text.
            case text(Template)
            /// The expanded text plus CR LF.
            case line(Template)
            /// Bytes written as hexadecimal pairs (`0d 0a ff`), checked at load time.
            case bytes([UInt8])
            /// The base64 encoding (RFC 4648, padded, no line breaks) of the expanded text's UTF-8
            /// bytes: a SASL response (`"\0${USER}\0${PASSWORD}"` for PLAIN, RFC 4616).
            case base64(Template)
        }

        /// The pieces, in order.
        public var parts: [Part]
        /// Without a delay the pieces go out in ONE write (one TCP segment when small), the way a
        /// pipelining or injection test needs; with a delay, one write each, this far apart.
        public var delay: Duration?
        /// Mask the sent bytes in every output.
        public var secret: Bool = false

        /// Creates a send step.
        public init(parts: [Part], delay: Duration? = nil) {
            self.parts = parts
            self.delay = delay
        }

        /// A single text piece, with or without CR LF.
        public init(data: Template, appendCRLF: Bool) {
            self.init(parts: [appendCRLF ? .line(data) : .text(data)])
        }
    }

    /// Waits for the server's greeting (the preset's pattern, or one given) and keeps it for
    /// `assert: {greeting: ...}`.
    public struct Greeting: Sendable {
        /// Matches the end of the greeting.
        public var pattern: PatternSpec
        /// The deadline, overriding the scenario's expect timeout.
        public var timeout: Duration?

        /// Creates a greeting step.
        public init(pattern: PatternSpec, timeout: Duration? = nil) {
            self.pattern = pattern
            self.timeout = timeout
        }
    }

    /// Sends the capability command and keeps the response, before or after TLS, for
    /// `assert: {capabilities: ...}`.
    public struct Capability: Sendable {
        /// The command.
        public var command: Template
        /// Matches the end of the response.
        public var end: PatternSpec
        /// The deadline, overriding the scenario's expect timeout.
        public var timeout: Duration?

        /// Creates a capability step.
        public init(command: Template, end: PatternSpec, timeout: Duration? = nil) {
            self.command = command
            self.end = end
            self.timeout = timeout
        }
    }

    /// Waits until the received bytes match a pattern, or for silence, or for the peer to close.
    public struct Expect: Sendable {
        /// What the step waits for.
        public enum Condition: Sendable {
            /// The received bytes match the pattern.
            case pattern(PatternSpec)
            /// Nothing arrives for this long (`nothing-within`).
            case silence(Duration)
            /// The peer closes the connection (`peer-closes: true`).
            case peerCloses
        }

        /// What the step waits for.
        public var condition: Condition
        /// The deadline, overriding the scenario's.
        public var timeout: Duration?
        /// Fail when nothing arrives for this long, even before the deadline (`idle-timeout`).
        public var idleTimeout: Duration?

        /// Creates an expect step that waits for a pattern.
        public init(pattern: PatternSpec, timeout: Duration? = nil) {
            self.condition = .pattern(pattern)
            self.timeout = timeout
        }

        /// Creates an expect step.
        public init(_ condition: Condition, timeout: Duration? = nil) {
            self.condition = condition
            self.timeout = timeout
        }

        /// The pattern, when the step waits for one.
        public var pattern: PatternSpec? {
            if case .pattern(let spec) = condition { return spec }
            return nil
        }
    }

    /// Sends the STARTTLS command, reads the reply, and upgrades to TLS when it says go ahead.
    public struct StartTLS: Sendable {
        /// The command; its bytes are sent as written.
        public var command: Template
        /// Matches the end of the server's reply to the command.
        public var reply: PatternSpec
        /// Matched against the whole reply: a match means "go ahead".
        public var success: PatternSpec
        /// Verification and other TLS settings.
        public var tls: TLSOptions
        /// Whether the handshake is expected to succeed (`handshake: fail` inverts the step).
        public var expectFailure: Bool = false
        /// With `handshake: fail`, the reason the handshake must fail for (matched against the
        /// TLS error and the verification problems), e.g. `host name mismatch`.
        public var failureReason: PatternSpec?
        /// Mandatory STARTTLS (the default): not offered or refused fails the step. With
        /// `required: false` (opportunistic) the dialog goes on in plain text, and the outcome is
        /// kept in the variable `starttls`: `upgraded`, `not-offered` or `refused`.
        public var required: Bool = true
        /// The capability word that advertises STARTTLS (from the preset), checked against the
        /// last capability response before TLS when there is one.
        public var capabilityWord: String?
        /// The deadline for the reply, overriding the scenario's expect timeout.
        public var timeout: Duration?
        /// The handshake deadline, overriding the scenario's.
        public var handshakeTimeout: Duration?
        /// On an accepted connection (a scripted server), the server's side: the certificate
        /// chain and key to present, and whether to ask for a client certificate. No command is
        /// sent and no reply read: the script has done the dialog with `expect` and `send`.
        public var server: ServerTLS?
        /// In the server role, whether the client may refuse the handshake (`handshake: refused`
        /// or `either`); nil: `succeed` or `fail` as `expectFailure` says.
        public var clientRefusal: ClientRefusal?

        /// What a scripted server accepts from a client that will not finish the handshake.
        public enum ClientRefusal: String, Sendable, Hashable {
            /// The client must refuse: the handshake fails, or the client closes the connection
            /// right after it without sending a byte (a client that checks the certificate only
            /// once the handshake is done).
            case required = "refused"
            /// The client may refuse; if it does, the case ends there and passes (the rest of
            /// the dialog does not apply), else it goes on.
            case allowed = "either"
        }

        /// The server side of a handshake (`certificate`, `key`, `client-certificate`).
        public struct ServerTLS: Sendable, Hashable {
            /// The certificate chain (PEM), resolved like `ca-file`.
            public var certificate: String
            /// Its private key (PEM).
            public var key: String
            /// `request` or `require` a client certificate; nil asks for none.
            public var clientCertificate: String?
            /// The go-ahead line (CR LF added), sent in the same event-loop turn as the handshake
            /// starts, so a client's ClientHello right after it is read by TLS (`go-ahead`).
            public var goAhead: Template?
            /// Bytes sent right behind the go-ahead in the same write, before the handshake: the
            /// response-injection attack (`inject`). A client must discard them.
            public var inject: Template?

            /// Creates server credentials.
            public init(certificate: String, key: String, clientCertificate: String? = nil) {
                self.certificate = certificate
                self.key = key
                self.clientCertificate = clientCertificate
            }
        }

        /// Creates a STARTTLS step.
        public init(command: Template, reply: PatternSpec, success: PatternSpec, tls: TLSOptions) {
            self.command = command
            self.reply = reply
            self.success = success
            self.tls = tls
        }
    }

    /// Checks facts about the connection.
    public struct Assertion: Sendable {
        /// The checks, each with its own location.
        public var checks: [Check]

        /// Creates an assertion step.
        public init(checks: [Check]) {
            self.checks = checks
        }
    }

    /// One fact to check.
    public struct Check: Sendable {
        /// The fact and its expected value.
        public enum Fact: Sendable, Hashable {
            /// The connection status: `open` or `closed`.
            case status(String)
            /// Whether the connection is under TLS.
            case tls(Bool)
            /// Whether the peer certificate was verified.
            case verified(Bool)
            /// The negotiated protocol version, for example `TLS1.3`.
            case tlsVersion(String)
            /// The negotiated protocol version is at least this one (`TLS1.2` accepts 1.2 and 1.3).
            case minimumTLSVersion(String)
            /// The number of plaintext bytes discarded after a STARTTLS go-ahead.
            case discardedBytes(Int)
            /// The negotiated cipher suite matches a pattern.
            case cipher(PatternSpec)
            /// The peer certificate's subject matches a pattern.
            case peerSubject(PatternSpec)
            /// The peer certificate's issuer matches a pattern.
            case peerIssuer(PatternSpec)
            /// The peer certificate names this SAN (`DNS:mail.test`, `IP:127.0.0.1`).
            case peerSAN(String)
            /// The peer certificate is valid for at least this many more days.
            case daysLeft(Int)
            /// The greeting matches a pattern.
            case greeting(PatternSpec)
            /// Capabilities (latest, or of one phase) include or lack words.
            case capabilities(CapabilityCheck)
            /// Playing the server: the client's ClientHello offered (or did not offer) these TLS
            /// versions (`offered-versions: {has, lacks}`).
            case offeredVersions(has: [String], lacks: [String])
            /// Playing the server: the ALPN protocols the client offered (`offered-alpn`).
            case offeredALPN(has: [String], lacks: [String])
            /// The SNI name of the session: sent by Parley, or, playing the server, received from
            /// the client; '' for none (`sni`).
            case sni(String)
            /// A variable has a value.
            case variable(name: String, value: Template)
            /// The type `open` ended with: `plain` or `tls`.
            case streamType(String)
            /// The error `open` returned matches a pattern.
            case streamError(PatternSpec)
            /// The DANE outcome for the connection's MX host and port is one of these
            /// (`valid`, `invalid`, `unusable`, `absent`, `insecure`, `bogus`).
            case dane([String])
            /// The mail domain's MTA-STS policy: its mode, and whether it covers the MX host.
            case mtaSTS(MTASTSCheck)
            /// The mail domain's TLS-RPT record: present or not, and its report addresses.
            case tlsRPT(TLSRPTCheck)
        }

        /// What the MTA-STS policy of the connection's mail domain must say (RFC 8461).
        public struct MTASTSCheck: Sendable, Hashable {
            /// The policy's mode: `enforce`, `testing` or `none`.
            public var mode: String?
            /// Whether one of the policy's `mx` patterns covers the connection's MX host.
            public var mxCovered: Bool?
            /// Creates a check.
            public init(mode: String? = nil, mxCovered: Bool? = nil) {
                self.mode = mode
                self.mxCovered = mxCovered
            }
        }

        /// What the TLS-RPT record of the connection's mail domain must say (RFC 8460).
        public struct TLSRPTCheck: Sendable, Hashable {
            /// Whether a record is published.
            public var present: Bool?
            /// A pattern one of its `rua` addresses matches.
            public var rua: PatternSpec?
            /// Creates a check.
            public init(present: Bool? = nil, rua: PatternSpec? = nil) {
                self.present = present
                self.rua = rua
            }
        }

        /// Which words a capability response must include and lack.
        public struct CapabilityCheck: Sendable, Hashable {
            /// Which response: the latest, the one before TLS, or the one after.
            public enum Phase: String, Sendable, Hashable {
                case latest
                case beforeTLS = "before-tls"
                case afterTLS = "after-tls"
            }

            /// Which response.
            public var phase: Phase
            /// Words that must be there (case-insensitive).
            public var has: [String]
            /// Words that must not be there (case-insensitive).
            public var lacks: [String]

            /// Creates a check.
            public init(phase: Phase, has: [String], lacks: [String]) {
                self.phase = phase
                self.has = has
                self.lacks = lacks
            }
        }

        /// The fact and its expected value.
        public var fact: Fact
        /// Where the check is written.
        public var location: SourceLocation

        /// Creates a check.
        public init(_ fact: Fact, at location: SourceLocation) {
            self.fact = fact
            self.location = location
        }
    }
}

extension Step.Open {
    /// An `open` step's connection type, as Emacs's `open-network-stream` names them (`:type`).
    public enum ConnectionType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// A plain connection: nothing is upgraded.
        case plain
        /// TLS from the first byte.
        case tls
        /// The same as `tls`.
        case ssl
        /// Plain, upgraded with STARTTLS when the server offers it (opportunistic).
        case network
        /// The same as `network` (Emacs's `:type nil`).
        case `nil`
        /// Upgraded with STARTTLS, or no connection (mandatory).
        case starttls
        /// A shell command's pipes instead of a socket.
        case shell

        /// TLS from the first byte (`tls`, `ssl`).
        public var implicitTLS: Bool { self == .tls || self == .ssl }
        /// A STARTTLS upgrade is attempted (`network`, `nil`, `starttls`).
        public var mayUpgrade: Bool { self == .network || self == .nil || self == .starttls }
        /// The connection is to a host and port (not a shell command).
        public var isSocket: Bool { self != .shell }

        public var description: String { rawValue }
    }
}
