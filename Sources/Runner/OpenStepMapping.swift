// SPDX-License-Identifier: Apache-2.0
internal import GnuTLSNIO
internal import NetworkStream
import Scenario

/// How an `open` step becomes `open-network-stream`'s parameters: every key of the step mapped
/// to its Emacs parameter, templates expanded and paths resolved in the run's scope. Pure: the
/// runner adds the event loop and the observer.
enum OpenStepMapping {
    /// The parameters for `open` to `host`.
    ///
    /// - Throws: `Failure` (runtime) for a reference that is not set.
    static func parameters(
        _ open: Step.Open,
        host: String,
        scope: VariableScope,
        timeouts: Timeouts,
        at location: SourceLocation
    ) throws(Failure) -> StreamParameters {
        var parameters = StreamParameters()
        parameters.type = StreamParameters.ConnectionType(open.type)
        parameters.returnList = true
        parameters.nowait = open.nowait
        parameters.noGreeting = open.noGreeting
        parameters.caseFold = open.caseFold
        parameters.alwaysQueryCapabilities = open.alwaysQueryCapabilities
        parameters.endOfCommand = open.endOfCommand?.source
        parameters.endOfCapability = open.endOfCapability?.source
        parameters.success = open.success?.source
        if let command = open.capabilityCommand {
            parameters.capabilityCommand = .bytes(Array(try scope.expand(command).utf8))
        }
        if let when = open.starttlsWhen, let command = open.starttlsCommand {
            parameters.starttlsFunction = .whenMatches(pattern: when.source, command: Array(try scope.expand(command).utf8))
        }
        if let shell = open.shellCommand { parameters.shellCommand = try scope.expand(shell) }
        if let authinfo = open.clientCertificateFrom {
            parameters.clientCertificate = .lookUp(authinfo: authinfo)
        } else if let certificate = try scope.resolvePath(open.tls.clientCertificate, at: location),
            let key = try scope.resolvePath(open.tls.clientKey, at: location)
        {
            parameters.clientCertificate = .files(key: key, certificate: certificate)
        }
        parameters.tls.trustRoots = try scope.resolvePath(open.tls.caFile, at: location).map { .file($0) } ?? .system
        parameters.tls.verify = !open.tls.insecure
        if let priority = open.tls.priority { parameters.tls.priority = priority }
        parameters.tls.alpn = open.tls.alpn
        parameters.tls.serverName = try scope.serverName(open.tls, host: host)
        if let timeout = open.timeout {
            parameters.timeouts = .init(all: timeout)
        } else {
            parameters.timeouts.connect = timeouts.connect
            parameters.timeouts.greeting = timeouts.expect
            parameters.timeouts.capabilities = timeouts.expect
            parameters.timeouts.starttlsReply = timeouts.expect
            parameters.timeouts.handshake = timeouts.handshake
        }
        return parameters
    }
}
