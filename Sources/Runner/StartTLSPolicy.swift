// SPDX-License-Identifier: Apache-2.0
internal import GnuTLSNIO
internal import NetworkStream
import Scenario

/// What a `starttls` step does, decided from what is known before and after the attempt: the
/// stripping check before it, and what a failed attempt means (mandatory or opportunistic, a
/// handshake failure the step expects, a refusal).
enum StartTLSPolicy {
    /// Before the attempt.
    enum Before: Equatable {
        /// Send the command.
        case attempt
        /// The capabilities before TLS lack the STARTTLS word, and the step is opportunistic:
        /// go on in plain text (`starttls` = `not-offered`).
        case notOffered
    }

    /// After a failed attempt.
    enum AfterFailure: Equatable {
        /// The handshake failed as the step expects (`starttls` = `failed`); with a reason
        /// pattern, the reason must match it.
        case expectedHandshakeFailure
        /// The server refused and the step is opportunistic (`starttls` = `refused`): go on in
        /// plain text.
        case refusedOpportunistic
        /// The server refused a mandatory STARTTLS (`starttls` = `refused`): the step fails.
        case refusedMandatory
        /// Any other failure: the step fails.
        case fail
    }

    /// Whether to attempt STARTTLS, given the capability response read before TLS (stripping:
    /// a list that does not offer it).
    ///
    /// - Throws: `Failure` (expectation) for a mandatory STARTTLS that is not offered.
    static func before(_ step: Step.StartTLS, capabilitiesBeforeTLS: [UInt8]?, at location: SourceLocation) throws(Failure)
        -> Before
    {
        guard let word = step.capabilityWord, let capabilities = capabilitiesBeforeTLS else { return .attempt }
        let words = CapabilityWords.parse(capabilities)
        if words.contains(word.uppercased()) { return .attempt }
        guard !step.required else {
            throw Failure(
                .expectation,
                at: location,
                "STARTTLS is not offered (mandatory): the capabilities before TLS lack \(word)",
                expected: word,
                actual: words.sorted().joined(separator: " ")
            )
        }
        return .notOffered
    }

    /// What a failed attempt means for the step.
    static func after(_ error: NetworkError, step: Step.StartTLS) -> AfterFailure {
        if step.expectFailure, error.kind == .tls { return .expectedHandshakeFailure }
        if error.kind == .starttlsRefused { return step.required ? .refusedMandatory : .refusedOpportunistic }
        return .fail
    }

    /// The text a `failure-reason` pattern is matched against: the error and the verification
    /// problems.
    static func reasonText(_ error: NetworkError) -> String {
        ([error.message] + (error.tlsError?.verificationProblems ?? [])).joined(separator: "; ")
    }
}
