// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import NetworkStream
import Scenario

/// What `parley probe HOST SERVICE [options]` does, without a process around it: parse the
/// arguments, run open-network-stream with `:return-list`, print the result, choose the exit
/// status (0 an open process resulted, 1 none did, 2 usage error). Tests drive this directly.
public struct ProbeFrontend: Sendable {
    /// Exit statuses of `parley probe`.
    public enum Status {
        public static let open: Int32 = 0
        public static let noProcess: Int32 = 1
        public static let usage: Int32 = 2
    }

    /// The arguments after `probe`.
    public var arguments: [String]
    /// Where the result goes.
    public var output: @Sendable (String) -> Void
    /// Where usage errors go.
    public var errorOutput: @Sendable (String) -> Void

    /// Creates a frontend.
    public init(
        arguments: [String],
        output: @escaping @Sendable (String) -> Void,
        errorOutput: @escaping @Sendable (String) -> Void
    ) {
        self.arguments = arguments
        self.output = output
        self.errorOutput = errorOutput
    }

    /// The usage text.
    public static let usage = """
        usage: parley probe HOST SERVICE [options]

        Opens a connection as Emacs's open-network-stream with :return-list does, and prints the
        process, greeting, capabilities, type, error and TLS facts.

          --type plain|tls|ssl|network|starttls|shell   connection type (default network)
          --preset NAME                    fill capability command, end of command and capability,
                                           STARTTLS trigger, command and success pattern: smtp,
                                           submission, lmtp, imap, pop3, sieve, nntp, ftp, xmpp
          --capability-command S           sent after the greeting (escapes \\r \\n \\t \\\\ \\xHH)
          --end-of-command RE              ends the greeting and command responses (PCRE2, multiline)
          --end-of-capability RE           ends the capability response (default: end of command)
          --starttls-when RE               upgrade when the capability response matches RE
          --starttls-command S             the STARTTLS command (default STARTTLS\\r\\n)
          --success RE                     the STARTTLS reply that means go ahead
          --always-query-capabilities      query capabilities on a plain connection too
          --nowait                         return while the connect is in progress
          --shell-command S                for --type shell: %s host, %p service, %% percent
          --ca-file F                      trust these CAs instead of the system store
          --insecure                       do not fail on certificate problems (still reported)
          --client-cert F --client-key F   present this client certificate
          --client-certificate-from FILE   look the client certificate up in an authinfo file
          --priority S                     GnuTLS priority string (default NORMAL)
          --min-dh-bits N                  smallest Diffie-Hellman prime accepted
          --server-name S                  name to verify and send as SNI (default HOST)
          --alpn P                         offer an ALPN protocol (repeatable)
          --tls-provider builtin|external  TLS implementation (default builtin); external
                                           runs gnutls-cli (--starttls, started by SIGALRM)
          --use-starttls-if-possible       with external: let type network upgrade too
          --case-fold                      match ignoring case, as Emacs does
          --timeout SECONDS                deadline of every wait (default 10)
          --json                           print one JSON object

        Exit status: 0 an open process resulted; 1 none did (error says why); 2 usage error.

        """

    /// A usage problem.
    struct UsageError: Error {
        var message: String
    }

    /// Parsed options.
    struct Options {
        var host = ""
        var service = ""
        var parameters = StreamParameters()
        var json = false
        var help = false
    }

    /// Runs the probe and returns the exit status.
    public func run() async -> Int32 {
        let options: Options
        do {
            options = try Self.parse(arguments)
        } catch {
            errorOutput("parley probe: \(error.message)\n\n" + Self.usage)
            return Status.usage
        }
        if options.help {
            output(Self.usage)
            return Status.open
        }
        let service: NetworkProcess.Service = Int(options.service).map { .port($0) } ?? .named(options.service)
        var result: OpenStreamResult
        do {
            result = try await NetworkProcess.openStream(
                name: "probe",
                host: options.host,
                service: service,
                parameters: options.parameters,
                table: ProcessTable()  // one probe is one Emacs session
            )
        } catch let error where error.kind == .invalidArgument {
            errorOutput("parley probe: \(error.message)\n")
            return Status.usage
        } catch {
            result = OpenStreamResult(process: nil, error: error.message)
            result.failure = error
        }
        let snapshot = await result.process?.snapshot()
        let text = options.json ? ProbeJSON(result, snapshot: snapshot).rendered() + "\n" : Self.text(result, snapshot: snapshot)
        output(text)
        await result.process?.delete()
        return result.process == nil ? Status.noProcess : Status.open
    }

    // MARK: - Arguments

    /// Parses the arguments after `probe`.
    ///
    /// - Throws: `UsageError` naming the problem.
    static func parse(_ arguments: [String]) throws(UsageError) -> Options {
        var options = Options()
        var positional: [String] = []
        var starttlsWhen: String?
        var starttlsCommand: [UInt8]?
        var clientCert: String?
        var clientKey: String?
        var preset: String?
        var explicit: Set<String> = []
        var rest = arguments[...]

        func value(_ flag: String) throws(UsageError) -> String {
            guard let next = rest.popFirst() else { throw UsageError(message: "\(flag) needs a value") }
            return next
        }

        while let argument = rest.popFirst() {
            switch argument {
            case "-h", "--help": options.help = true
            case "--json": options.json = true
            case "--type":
                let text = try value(argument)
                do {
                    options.parameters.type = try StreamParameters.ConnectionType(parsing: text)
                } catch {
                    throw UsageError(message: error.message)
                }
            case "--preset": preset = try value(argument)
            case "--capability-command":
                options.parameters.capabilityCommand = .bytes(try unescape(try value(argument)))
                explicit.insert("capability")
            case "--end-of-command":
                options.parameters.endOfCommand = try value(argument)
                explicit.insert("eoc")
            case "--end-of-capability":
                options.parameters.endOfCapability = try value(argument)
                explicit.insert("eocapa")
            case "--starttls-when": starttlsWhen = try value(argument)
            case "--starttls-command": starttlsCommand = try unescape(try value(argument))
            case "--success":
                options.parameters.success = try value(argument)
                explicit.insert("success")
            case "--always-query-capabilities": options.parameters.alwaysQueryCapabilities = true
            case "--nowait": options.parameters.nowait = true
            case "--shell-command": options.parameters.shellCommand = String(decoding: try unescape(try value(argument)), as: UTF8.self)
            case "--ca-file": options.parameters.tls.trustRoots = .file(try value(argument))
            case "--insecure": options.parameters.tls.verify = false
            case "--client-cert": clientCert = try value(argument)
            case "--client-key": clientKey = try value(argument)
            case "--client-certificate-from": options.parameters.clientCertificate = .lookUp(authinfo: try value(argument))
            case "--priority": options.parameters.tls.priority = try value(argument)
            case "--min-dh-bits":
                let text = try value(argument)
                guard let bits = Int(text), bits > 0 else { throw UsageError(message: "--min-dh-bits takes a positive number, not '\(text)'") }
                options.parameters.tls.minimumDHPrimeBits = bits
            case "--server-name": options.parameters.tls.serverName = try value(argument)
            case "--alpn": options.parameters.tls.alpn.append(try value(argument))
            case "--tls-provider":
                let text = try value(argument)
                guard let provider = StreamParameters.TLSProvider(rawValue: text) else {
                    throw UsageError(message: "--tls-provider takes builtin or external, not '\(text)'")
                }
                options.parameters.tlsProvider = provider
            case "--use-starttls-if-possible": options.parameters.useStartTLSIfPossible = true
            case "--case-fold": options.parameters.caseFold = true
            case "--timeout":
                let text = try value(argument)
                guard let seconds = Double(text), seconds > 0, seconds.isFinite else {
                    throw UsageError(message: "--timeout takes a positive number of seconds, not '\(text)'")
                }
                options.parameters.timeouts = .init(all: .milliseconds(Int64((seconds * 1000).rounded())))
            default:
                if argument.hasPrefix("-") && argument.count > 1 {
                    throw UsageError(message: "unknown option '\(argument)'")
                }
                positional.append(argument)
            }
        }
        if options.help { return options }
        guard positional.count == 2 else {
            throw UsageError(message: "expected HOST and SERVICE, got \(positional.count) argument(s)")
        }
        options.host = positional[0]
        options.service = positional[1]
        options.parameters.returnList = true

        if let preset {
            guard let found = Preset.all[preset] else {
                throw UsageError(message: "--preset takes \(Preset.names.joined(separator: ", ")), not '\(preset)'")
            }
            let values: ProbeDialog
            do {
                values = try found.probeDialog(host: options.host)
            } catch {
                throw UsageError(message: error.message)
            }
            if !explicit.contains("capability") { options.parameters.capabilityCommand = .bytes(values.capabilityCommand) }
            if !explicit.contains("eoc") { options.parameters.endOfCommand = values.endOfCommand }
            if !explicit.contains("eocapa") { options.parameters.endOfCapability = values.endOfCapability }
            if !explicit.contains("success") { options.parameters.success = values.success }
            if values.noGreeting {
                // The client speaks first (XMPP): no greeting to wait for, and on a plain
                // connection that sends nothing, nothing to read either.
                options.parameters.noGreeting = true
                if !explicit.contains("eoc") && options.parameters.type == .plain && !options.parameters.alwaysQueryCapabilities {
                    options.parameters.endOfCommand = nil
                }
            }
            starttlsWhen = starttlsWhen ?? values.starttlsWhen
            starttlsCommand = starttlsCommand ?? values.starttlsCommand
        }
        if let starttlsWhen {
            options.parameters.starttlsFunction = .whenMatches(
                pattern: starttlsWhen,
                command: starttlsCommand ?? Array("STARTTLS\r\n".utf8)
            )
        }
        switch (clientCert, clientKey) {
        case (let cert?, let key?): options.parameters.clientCertificate = .files(key: key, certificate: cert)
        case (nil, nil): break
        default: throw UsageError(message: "--client-cert and --client-key go together")
        }
        return options
    }

    /// The bytes a command-line string names (``CommandEscapes``).
    ///
    /// - Throws: `UsageError` for a bad escape.
    static func unescape(_ text: String) throws(UsageError) -> [UInt8] {
        do {
            return try CommandEscapes.decode(text)
        } catch {
            throw UsageError(message: error.message)
        }
    }

    // MARK: - Output

    /// The result for people.
    static func text(_ result: OpenStreamResult, snapshot: ProcessSnapshot?) -> String {
        var out = ""
        if let snapshot {
            out += "process: \(snapshot.name) (\(snapshot.status.rawValue), \(snapshot.type.rawValue))\n"
        } else {
            out += "process: none\n"
        }
        out += "type: \(result.type.rawValue)\n"
        if let greeting = result.greeting { out += "greeting: \(JSONText.string(greeting))\n" }
        if let capabilities = result.capabilities { out += "capabilities: \(JSONText.string(capabilities))\n" }
        if let error = result.error { out += "error: \(error)\n" }
        if result.discardedBytes > 0 { out += "discarded after the STARTTLS go-ahead: \(result.discardedBytes) bytes\n" }
        if let tls = result.tls {
            out += "tls: \(tls.protocolVersion) \(tls.cipherSuite)"
            out += tls.verified ? ", verified\n" : ", NOT verified: \(tls.verificationProblems.joined(separator: ", "))\n"
            if let leaf = tls.peerCertificates.first { out += "peer: \(leaf.subject) (issuer \(leaf.issuer))\n" }
        }
        return out
    }
}

// MARK: - Testing hooks

extension ProbeFrontend {
    /// Bytes as the probe prints them in JSON.
    public static func jsonString(_ bytes: [UInt8]) -> String { JSONText.string(bytes) }
}
