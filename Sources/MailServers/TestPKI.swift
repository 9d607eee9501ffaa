// SPDX-License-Identifier: Apache-2.0
public import GnuTLSNIO

/// The test PKI of `fixtures/certs`, built into the program (see `fixtures/certs/README.md`):
/// the fake servers' default certificate and the fault certificates, with no file needed at run
/// time, so an installed `parley serve` works anywhere. These keys are public test material:
/// never trust the test CA outside tests.
public enum TestPKI {
    /// The certificates of the test PKI that a fake server can present.
    public enum Certificate: String, Sendable, CaseIterable {
        /// CN=localhost; SAN localhost, mail.test, 127.0.0.1, ::1; signed by the test CA.
        case server
        /// CN=parley-client; a client certificate signed by the test CA.
        case client
        /// Valid 2020-01-01 .. 2021-01-01.
        case expired
        /// CN=wrong.example only.
        case wrongHost = "wrong-host"
        /// Signed by its own key.
        case selfSigned = "self-signed"
    }

    /// The PEM text of one of the test PKI's files ("ca.pem", "server-key.pem", ...).
    ///
    /// - Parameter file: the file name as in `fixtures/certs`.
    /// - Returns: the text, or nil for a name the PKI does not have.
    public static func pem(_ file: String) -> String? { files[file] }

    /// The test CA, as trust roots.
    public static var caTrust: TLSConfiguration.TrustRoots {
        .pem(.init(files["ca.pem"] ?? "", name: "the test PKI's ca.pem"))
    }

    /// A certificate and its key, held in memory.
    public static func credential(_ certificate: Certificate) -> TLSConfiguration.PEMCredential {
        let name = certificate.rawValue
        return .init(
            chain: .init(files["\(name).pem"] ?? "", name: "the test PKI's \(name).pem"),
            key: .init(files["\(name)-key.pem"] ?? "", name: "the test PKI's \(name)-key.pem")
        )
    }

    /// The test CA as a ``CertificateIssuer``, for `parley record`, which issues the certificate
    /// its proxy presents at run time.
    ///
    /// The CA's key is public test material, built into the program: a client that trusts the
    /// test CA trusts whatever this issues, for any name. Only ever use it for tests.
    ///
    /// - Throws: `GnuTLSError` when GnuTLS rejects the built-in text (it does not).
    public static func issuer() throws -> CertificateIssuer {
        try CertificateIssuer(
            certificate: .init(files["ca.pem"] ?? "", name: "the test PKI's ca.pem"),
            key: .init(files["ca-key.pem"] ?? "", name: "the test PKI's ca-key.pem")
        )
    }

    /// A server-role context presenting `certificate` (by default the server certificate, which
    /// verifies for localhost, mail.test, 127.0.0.1 and ::1 against the test CA).
    ///
    /// - Throws: `GnuTLSError` when GnuTLS rejects the text.
    public static func serverContext(_ certificate: Certificate = .server) throws -> GnuTLSContext {
        try GnuTLSContext(configuration: .server(credential: credential(certificate)))
    }

    /// A client-role context that trusts only the test CA and verifies the peer.
    ///
    /// - Throws: `GnuTLSError` when GnuTLS rejects the text.
    public static func clientContext() throws -> GnuTLSContext {
        try GnuTLSContext(configuration: .client(trustRoots: caTrust))
    }
}
