// SPDX-License-Identifier: Apache-2.0
internal import CGnuTLS
internal import CUnbound
internal import GnuTLSNIO

/// What a mail domain publishes and what its MX hosts present: MX hosts (RFC 5321 §5, RFC 7505),
/// DANE TLSA records and their match against a certificate chain (RFC 6698, 7671, 7672),
/// MTA-STS (RFC 8461) and TLS-RPT (RFC 8460), looked up with DNSSEC validation by libunbound.
public enum MailDomain {
    /// The libunbound version linked.
    public static var unboundVersion: String { String(cString: ub_version()) }
}
