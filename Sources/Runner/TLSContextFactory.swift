// SPDX-License-Identifier: Apache-2.0
internal import GnuTLSNIO
import Scenario

/// Makes the client TLS contexts a run's steps ask for, from their TLS options with paths
/// already resolved, and keeps them in the runner's cache (loading a CA bundle for every
/// STARTTLS of a load run would cost more than the dialog).
struct TLSContextFactory {
    /// The runner's cache.
    let caches: RunnerCaches

    /// The configuration for these options.
    static func configuration(
        _ options: TLSOptions,
        caFile: String?,
        clientCertificate: String?,
        clientKey: String?
    ) -> TLSConfiguration {
        var configuration = TLSConfiguration.client(
            trustRoots: caFile.map { .file($0) } ?? .system,
            verifyPeer: !options.insecure && options.verification == .pkix
        )
        if let priority = options.priority { configuration.priority = priority }
        configuration.alpn = options.alpn
        configuration.certificateChainFile = clientCertificate
        configuration.privateKeyFile = clientKey
        return configuration
    }

    /// The cache key of a configuration; built by hand, as interpolating the enum would go
    /// through reflection on every STARTTLS.
    static func key(_ configuration: TLSConfiguration) -> String {
        let roots: String
        switch configuration.trustRoots {
        case .system: roots = "system"
        case .file(let path): roots = "file:" + path
        case .pem(let pem): roots = "pem:" + pem.name
        }
        return [
            roots, configuration.verifyPeer ? "verify" : "insecure", configuration.priority,
            configuration.alpn.joined(separator: ","), configuration.certificateChainFile ?? "", configuration.privateKeyFile ?? "",
        ].joined(separator: "|")
    }

    /// The context for a configuration, loaded once per runner.
    ///
    /// - Throws: `Failure` (runtime) when GnuTLS cannot load what it names.
    func context(_ configuration: TLSConfiguration, at location: SourceLocation) throws(Failure) -> GnuTLSContext {
        let key = Self.key(configuration)
        if let cached = caches.context(key) { return cached }
        do {
            let context = try GnuTLSContext(configuration: configuration)
            caches.store(context, key)
            return context
        } catch {
            throw Failure(.runtime, at: location, "cannot set up TLS: \(error)")
        }
    }
}
