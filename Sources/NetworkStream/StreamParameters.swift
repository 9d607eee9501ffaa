// SPDX-License-Identifier: Apache-2.0
public import GnuTLSNIO
public import NIOCore
internal import NIOPosix

/// The parameters of ``NetworkProcess/openStream(name:host:service:parameters:table:)``, Emacs's
/// `open-network-stream` keywords.
///
/// - SeeAlso: spec/emacs-network.md §6.2.
public struct StreamParameters: Sendable {
    /// Emacs's `:type`.
    public enum ConnectionType: String, Sendable, CaseIterable {
        /// No TLS ever.
        case plain
        /// TLS from the first byte.
        case tls
        /// The same as `tls`.
        case ssl
        /// Emacs's `nil`/`network`: STARTTLS when offered, plain otherwise, and plain again after
        /// a failed handshake (on a new connection).
        case network
        /// STARTTLS required: without it the result has no process and an error.
        case starttls
        /// A shell command's pipes (`shellCommand`).
        case shell

        /// Parses a type name as Emacs accepts it (`nil` and `network` are the same type).
        ///
        /// - Parameter text: the name.
        /// - Throws: `NetworkError.invalidArgument` "Invalid connection type X".
        public init(parsing text: String) throws(NetworkError) {
            if text == "nil" {
                self = .network
                return
            }
            guard let type = ConnectionType(rawValue: text) else {
                throw NetworkError(.invalidArgument, message: "Invalid connection type \(text)")
            }
            self = type
        }
    }

    /// Emacs's `:capability-command`: bytes sent verbatim, or computed from the greeting.
    public enum CapabilityCommand: Sendable {
        /// Sent verbatim (no line ending is added).
        case bytes([UInt8])
        /// Called with the greeting (nil when none was read); what it returns is sent verbatim.
        case computed(@Sendable ([UInt8]?) -> [UInt8]?)
    }

    /// Emacs's `:starttls-function`, as data or as a function of the capability response.
    public enum StartTLSFunction: Sendable {
        /// When the capability response matches `pattern`, send `command`.
        case whenMatches(pattern: String, command: [UInt8])
        /// Called once with the capability response; returns the command or nil.
        case computed(@Sendable ([UInt8]) -> [UInt8]?)
    }

    /// Emacs's `:client-certificate`.
    public enum ClientCertificate: Sendable, Equatable {
        /// No certificate.
        case none
        /// A key file and a certificate file.
        case files(key: String, certificate: String)
        /// Looked up in an authinfo/netrc file by host and port, as auth-source does
        /// (`machine H port P key K cert C`); used only when both files are readable.
        case lookUp(authinfo: String)
    }

    /// Which TLS implementation upgrades the connection.
    public enum TLSProvider: String, Sendable {
        /// GnuTLS in process (GnuTLSNIO).
        case builtin
        /// `gnutls-cli --starttls` as a subprocess, told to start TLS with SIGALRM.
        case external
    }

    /// How TLS is set up.
    public struct TLSSettings: Sendable {
        /// Trust anchors.
        public var trustRoots: TLSConfiguration.TrustRoots = .system
        /// Whether a certificate that does not verify fails the handshake (Parley's default; Emacs
        /// leaves that to its Network Security Manager).
        public var verify = true
        /// The GnuTLS priority string.
        public var priority = "NORMAL"
        /// The name to verify and send as SNI; nil means the host.
        public var serverName: String?
        /// ALPN protocols to offer.
        public var alpn: [String] = []
        /// The smallest Diffie-Hellman prime accepted, in bits; nil for GnuTLS's default.
        public var minimumDHPrimeBits: Int?

        /// Creates the defaults.
        public init() {}
    }

    /// The deadline of each wait (Emacs has none).
    public struct Timeouts: Sendable {
        public var connect: Duration = .seconds(10)
        public var greeting: Duration = .seconds(10)
        public var capabilities: Duration = .seconds(10)
        public var starttlsReply: Duration = .seconds(10)
        public var handshake: Duration = .seconds(10)

        /// Every wait with the same deadline.
        ///
        /// - Parameter all: the deadline.
        public init(all: Duration = .seconds(10)) {
            connect = all
            greeting = all
            capabilities = all
            starttlsReply = all
            handshake = all
        }
    }

    /// `:type`.
    public var type: ConnectionType = .network
    /// `:nowait`.
    public var nowait = false
    /// `:capability-command`.
    public var capabilityCommand: CapabilityCommand?
    /// `:end-of-command`, a PCRE2 pattern (multiline: `^` and `$` at line ends, as in Emacs).
    public var endOfCommand: String?
    /// `:end-of-capability`; nil means `endOfCommand`.
    public var endOfCapability: String?
    /// `:always-query-capabilities`.
    public var alwaysQueryCapabilities = false
    /// `:starttls-function`.
    public var starttlsFunction: StartTLSFunction?
    /// `:success`, matched anywhere in the STARTTLS reply.
    public var success: String?
    /// `:use-starttls-if-possible`: with the external provider, type `network` (Emacs's
    /// opportunistic STARTTLS) may upgrade through the helper. Without it, `network` with the
    /// external provider never upgrades and stays plain, as in an Emacs without built-in GnuTLS;
    /// type `starttls` always may. The built-in provider ignores it (Emacs with built-in GnuTLS
    /// upgrades `network` whenever STARTTLS is offered).
    public var useStartTLSIfPossible = false
    /// `:client-certificate`.
    public var clientCertificate: ClientCertificate = .none
    /// `:return-list`: without it, `plain` (and `network` without both `success` and
    /// `capabilityCommand`) only connect: nothing is read or sent.
    public var returnList = false
    /// `:shell-command`: a format-spec template (`%s` host, `%p` service, `%%`).
    public var shellCommand: String?
    /// The shell (Emacs's `shell-file-name`).
    public var shell = "/bin/sh"
    /// `:nogreeting`: send the capability command without waiting for a greeting.
    public var noGreeting = false
    /// Match ignoring ASCII case, as Emacs does by default (`case-fold-search`). Parley's
    /// default is case-sensitive.
    public var caseFold = false
    /// TLS settings.
    public var tls = TLSSettings()
    /// Which TLS implementation to use.
    public var tlsProvider: TLSProvider = .builtin
    /// The external provider's program: a name looked up on `PATH`, or a path.
    public var externalTLSProgram = "gnutls-cli"
    /// The deadlines.
    public var timeouts = Timeouts()
    /// The receive buffer's bound.
    public var receiveLimit = 16 * 1024 * 1024
    /// The event loops.
    public var group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    /// Receives every event of the connection(s).
    public var observer: @Sendable (ProcessEvent) -> Void = { _ in }

    /// Creates Emacs's defaults (type `network`, nothing to send), with Parley's deadlines.
    public init() {}
}

/// What `open-network-stream` with `:return-list` gives: the process and the plist.
public struct OpenStreamResult: Sendable {
    /// `plain` or `tls`.
    public enum StreamType: String, Sendable {
        case plain
        case tls
    }

    /// The open process, or nil when none resulted (see ``error``).
    public var process: NetworkProcess?
    /// `:greeting`: the text up to the end of the first `endOfCommand` match.
    public var greeting: [UInt8]?
    /// `:capabilities`: the capability response.
    public var capabilities: [UInt8]?
    /// `:type`.
    public var type: StreamType
    /// `:error`: why there is no process (or why TLS did not happen).
    public var error: String?
    /// The engine error behind ``error``, with the wait that ran out.
    public var failure: NetworkError?
    /// Plaintext bytes discarded after the STARTTLS go-ahead (the response-injection defence).
    public var discardedBytes = 0
    /// The TLS session, when there is one.
    public var tls: TLSSessionInfo?
    /// Which provider made the TLS session.
    public var tlsProvider: StreamParameters.TLSProvider?

    /// Creates a result.
    public init(
        process: NetworkProcess?,
        greeting: [UInt8]? = nil,
        capabilities: [UInt8]? = nil,
        type: StreamType = .plain,
        error: String? = nil
    ) {
        self.process = process
        self.greeting = greeting
        self.capabilities = capabilities
        self.type = type
        self.error = error
    }
}
