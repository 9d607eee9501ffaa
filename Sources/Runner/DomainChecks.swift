// SPDX-License-Identifier: Apache-2.0
internal import MailDomain

/// The mail-domain checks a scenario asks for (MX hosts, DANE, MTA-STS, TLS-RPT), on the
/// look-ups of `MailDomain`.
enum DomainChecks {
    /// The resolver library, for the transcript's header.
    static var resolverLibrary: String { "libunbound " + MailDomain.unboundVersion }
}
