// SPDX-License-Identifier: Apache-2.0
public import ArgumentParser
import Foundation
import GnuTLSNIO
public import NetworkStream
import Scenario

/// `parley probe HOST SERVICE [options]`: open-network-stream with `:return-list`, from a shell.
///
/// Usage errors (ArgumentParser's own, and the `ValidationError`s of ``validate()``) exit with
/// status 2 through ``ParleyMain``, as for `parley run`; ``ProbeFrontend`` does the same for
/// tests.
public struct ProbeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Open a connection as Emacs's open-network-stream does and print what it returns.",
        discussion: """
            Connects, reads the greeting, sends the capability command, upgrades with STARTTLS when \
            asked (--type starttls) or offered (--type network), and prints the process, greeting, \
            capabilities, type, error and TLS facts. Command strings (S) take the escapes \
            \\r \\n \\t \\\\ \\xHH; patterns (RE) are PCRE2, multiline.

            Exit status: 0 an open process resulted; 1 none did (error says why); 2 bad usage.
            """
    )

    /// HOST.
    @Argument(help: "The host to connect to.")
    public var host: String

    /// SERVICE.
    @Argument(help: "The port: a number or a service name.")
    public var service: String

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("The connection type: plain, tls, ssl, network (or nil), starttls or shell.", valueName: "type")
    )
    var type = "network"

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Fill in a protocol's capability command, end of command and capability, STARTTLS trigger, command and success pattern: \(Preset.names.joined(separator: ", ")).",
            valueName: "name"
        ),
        completion: .list(Preset.names)
    )
    var preset: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Sent after the greeting.", valueName: "S"))
    var capabilityCommand: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Ends the greeting and command responses.", valueName: "RE"))
    var endOfCommand: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Ends the capability response (default: the end of command).", valueName: "RE"))
    var endOfCapability: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Upgrade when the capability response matches RE.", valueName: "RE"))
    var starttlsWhen: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("The STARTTLS command (default: STARTTLS\\r\\n, or the preset's).", valueName: "S"))
    var starttlsCommand: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("The STARTTLS reply that means go ahead.", valueName: "RE"))
    var success: String?

    @Flag(help: "Query the capabilities on a plain connection too.")
    var alwaysQueryCapabilities = false

    @Flag(help: "Return while the connect is in progress.")
    var nowait = false

    @Option(parsing: .unconditional, help: ArgumentHelp("For --type shell: the command (%s host, %p service, %% percent).", valueName: "S"))
    var shellCommand: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Trust these CAs (PEM) instead of the system store.", valueName: "file"))
    var caFile: String?

    @Flag(help: "Do not fail on certificate problems (they are still reported).")
    var insecure = false

    @Option(parsing: .unconditional, help: ArgumentHelp("Present this client certificate (PEM; with --client-key).", valueName: "file"))
    var clientCert: String?

    @Option(
        parsing: .unconditional, help: ArgumentHelp("The client certificate's private key (PEM; with --client-cert).", valueName: "file"))
    var clientKey: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Look the client certificate up in an authinfo file (machine H port P key K cert C).", valueName: "file")
    )
    var clientCertificateFrom: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("The GnuTLS priority string.", valueName: "S"))
    var priority = "NORMAL"

    @Option(
        name: .customLong("min-dh-bits"), parsing: .unconditional,
        help: ArgumentHelp("The smallest Diffie-Hellman prime accepted.", valueName: "N"))
    var minDHBits: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("The name to verify and send as SNI (default: HOST).", valueName: "S"))
    var serverName: String?

    @Option(parsing: .unconditionalSingleValue, help: ArgumentHelp("Offer this ALPN protocol (repeatable).", valueName: "P"))
    var alpn: [String] = []

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "The TLS implementation: builtin, or external (gnutls-cli --starttls, started by SIGALRM).", valueName: "provider")
    )
    var tlsProvider: ProbeTLSProvider = .builtin

    @Flag(name: .customLong("use-starttls-if-possible"), help: "With --tls-provider external: let --type network upgrade too.")
    var useStartTLSIfPossible = false

    @Flag(help: "Match ignoring case, as Emacs does.")
    var caseFold = false

    @Option(parsing: .unconditional, help: ArgumentHelp("The deadline of every wait (default: 10).", valueName: "seconds"))
    var timeout: Double?

    /// `--json`.
    @Flag(help: "Print one JSON object.")
    public var json = false

    public init() {}

    public func validate() throws {
        _ = try streamParameters()
    }

    public func run() async throws {
        let status = await ProbeFrontend.probe(
            self,
            output: { FileHandle.standardOutput.write(Data($0.utf8)) },
            errorOutput: { FileHandle.standardError.write(Data($0.utf8)) }
        )
        if status != ProbeFrontend.Status.open { throw ExitCode(status) }
    }

    /// The open-network-stream keywords the options describe: the preset's values, each
    /// replaced by the option that names it.
    ///
    /// - Returns: the parameters, with `returnList` set.
    /// - Throws: `ValidationError` naming the option that is wrong.
    public func streamParameters() throws(ValidationError) -> StreamParameters {
        var parameters = StreamParameters()
        parameters.returnList = true
        do {
            parameters.type = try StreamParameters.ConnectionType(parsing: type)
        } catch {
            throw ValidationError(error.message)
        }
        var dialog: ProbeDialog?
        if let preset {
            guard let found = Preset.all[preset] else {
                throw ValidationError("--preset takes \(Preset.names.joined(separator: ", ")), not '\(preset)'")
            }
            do {
                dialog = try found.probeDialog(host: host)
            } catch {
                throw ValidationError(error.message)
            }
        }
        if let capabilityCommand {
            parameters.capabilityCommand = .bytes(try Self.decode(capabilityCommand, option: "--capability-command"))
        } else if let dialog {
            parameters.capabilityCommand = .bytes(dialog.capabilityCommand)
        }
        parameters.endOfCommand = endOfCommand ?? dialog?.endOfCommand
        parameters.endOfCapability = endOfCapability ?? dialog?.endOfCapability
        parameters.success = success ?? dialog?.success
        if let dialog, dialog.noGreeting {
            // The client speaks first (XMPP): no greeting to wait for, and on a plain connection
            // that sends nothing, nothing to read either.
            parameters.noGreeting = true
            if endOfCommand == nil && parameters.type == .plain && !alwaysQueryCapabilities {
                parameters.endOfCommand = nil
            }
        }
        if let pattern = starttlsWhen ?? dialog?.starttlsWhen {
            let command = try starttlsCommand.map { text throws(ValidationError) in try Self.decode(text, option: "--starttls-command") }
            parameters.starttlsFunction = .whenMatches(
                pattern: pattern,
                command: command ?? dialog?.starttlsCommand ?? Array("STARTTLS\r\n".utf8)
            )
        } else if let starttlsCommand {
            _ = try Self.decode(starttlsCommand, option: "--starttls-command")
        }
        parameters.alwaysQueryCapabilities = alwaysQueryCapabilities
        parameters.nowait = nowait
        if let shellCommand {
            parameters.shellCommand = String(decoding: try Self.decode(shellCommand, option: "--shell-command"), as: UTF8.self)
        }
        if let caFile { parameters.tls.trustRoots = .file(caFile) }
        parameters.tls.verify = !insecure
        if let clientCertificateFrom { parameters.clientCertificate = .lookUp(authinfo: clientCertificateFrom) }
        switch (clientCert, clientKey) {
        case (let certificate?, let key?): parameters.clientCertificate = .files(key: key, certificate: certificate)
        case (nil, nil): break
        default: throw ValidationError("--client-cert and --client-key go together")
        }
        parameters.tls.priority = priority
        if let minDHBits {
            guard minDHBits > 0 else { throw ValidationError("--min-dh-bits takes a positive number, not \(minDHBits)") }
            parameters.tls.minimumDHPrimeBits = minDHBits
        }
        parameters.tls.serverName = serverName
        parameters.tls.alpn = alpn
        parameters.tlsProvider = tlsProvider.provider
        parameters.useStartTLSIfPossible = useStartTLSIfPossible
        parameters.caseFold = caseFold
        if let timeout {
            guard timeout > 0, timeout.isFinite, timeout <= 86_400 else {
                throw ValidationError("--timeout takes a positive number of seconds up to 86400, not \(timeout)")
            }
            parameters.timeouts = .init(all: .milliseconds(Int64((timeout * 1000).rounded())))
        }
        return parameters
    }

    /// The bytes a command-line string names (``CommandEscapes``).
    private static func decode(_ text: String, option: String) throws(ValidationError) -> [UInt8] {
        do {
            return try CommandEscapes.decode(text)
        } catch {
            throw ValidationError("\(option) \(error.message)")
        }
    }
}

/// The TLS implementations `--tls-provider` names.
enum ProbeTLSProvider: String, ExpressibleByArgument, CaseIterable, Sendable {
    case builtin
    case external

    /// The engine's provider.
    var provider: StreamParameters.TLSProvider {
        switch self {
        case .builtin: .builtin
        case .external: .external
        }
    }
}
