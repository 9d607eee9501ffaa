// SPDX-License-Identifier: Apache-2.0
internal import GnuTLSNIO
internal import Logging
internal import MailServers
public import Runner
public import Scenario

/// The runner's embedded servers, played by the fake mail servers (`MailServers`): the provider
/// the command line gives ``ScenarioRunner``.
public struct MailServerProvider: EmbeddedServerProvider {
    /// A provider with no options.
    public init() {}

    public func checkFault(_ knob: String) -> String? {
        do {
            _ = try MailServerFault(parsing: knob)
            return nil
        } catch {
            return "\(error)"
        }
    }

    public func start(_ spec: EmbeddedServer, certificate: String?, key: String?) async throws(EmbeddedServerError)
        -> any RunningServer
    {
        var configuration = FakeMailServer.Configuration(protocol: MailProtocol(rawValue: spec.protocol.rawValue) ?? .smtp)
        configuration.hostname = spec.hostname
        configuration.offerStartTLS = spec.starttls && !spec.implicitTLS
        configuration.implicitTLS = spec.implicitTLS
        if !spec.users.isEmpty { configuration.users = spec.users }
        do {
            configuration.faults = try spec.faults.map { try MailServerFault(parsing: $0) }
        } catch {
            throw EmbeddedServerError("bad fault knob: \(error)")
        }
        // Without a certificate of its own, the server uses the test PKI's where it needs TLS.
        if spec.starttls || spec.implicitTLS, let certificate, let key {
            do {
                configuration.tls = try GnuTLSContext(
                    configuration: .server(certificateChainFile: certificate, privateKeyFile: key)
                )
            } catch {
                throw EmbeddedServerError("cannot load the embedded server's certificate: \(error)")
            }
        }
        do {
            // The transcript already shows the dialog; the server's own log would repeat it.
            let quiet = Logger(label: "parley.embedded-server") { _ in SwiftLogNoOpLogHandler() }
            return Running(server: try await FakeMailServer.start(configuration, logger: quiet))
        } catch {
            throw EmbeddedServerError("cannot start the embedded \(spec.protocol.rawValue) server: \(error)")
        }
    }

    /// A fake server as the runner sees it.
    struct Running: RunningServer {
        let server: FakeMailServer
        var host: String { server.host }
        var port: Int { server.port }
        func stop() async { try? await server.stop() }
    }
}
