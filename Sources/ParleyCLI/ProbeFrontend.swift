// SPDX-License-Identifier: Apache-2.0
import ArgumentParser
import Foundation
import GnuTLSNIO
import NetworkStream
import Reporting
import Runner

/// What `parley probe HOST SERVICE [options]` does, without a process around it: run
/// open-network-stream with `:return-list` for a parsed ``ProbeCommand``, print the result, and
/// choose the exit status. Tests drive it with argument arrays through ``run(_:output:errorOutput:)``.
public enum ProbeFrontend {
    /// Exit statuses of `parley probe`.
    public enum Status {
        /// An open process resulted.
        public static let open: Int32 = 0
        /// None did; the error says why.
        public static let noProcess: Int32 = 1
        /// Bad usage (as `parley run`'s "invalid, nothing run").
        public static let usage: Int32 = 2
    }

    /// Parses the arguments after `probe` as `parley probe ARGUMENTS` does (through the `parley`
    /// command, so messages name `parley probe`), `validate()` included.
    ///
    /// - Parameter arguments: the arguments after `probe`.
    /// - Returns: the options.
    /// - Throws: ArgumentParser's error: a usage error (`Parley.exitCode(for:)` is 64, which
    ///   `parley` exits with as 2), or the request for help (exit code 0).
    public static func parse(_ arguments: [String]) throws -> ProbeCommand {
        let parsed = try Parley.parseAsRoot(["probe"] + arguments)
        // The only other command the parser gives back for `probe ...` is its help (-h, --help).
        guard let command = parsed as? ProbeCommand else { throw CleanExit.helpRequest(ProbeCommand.self) }
        return command
    }

    /// `parley probe ARGUMENTS` with its output captured: parses as the `parley` command line
    /// does (help goes to `output` with status 0; a usage error to `errorOutput` with
    /// ArgumentParser's message and status 2, as ``ParleyMain`` exits), then probes.
    ///
    /// - Parameters:
    ///   - arguments: the arguments after `probe`.
    ///   - output: where the result (or the help) goes.
    ///   - errorOutput: where usage errors go.
    /// - Returns: the exit status.
    public static func run(
        _ arguments: [String],
        output: @Sendable (String) -> Void,
        errorOutput: @Sendable (String) -> Void
    ) async -> Int32 {
        let command: ProbeCommand
        do {
            command = try parse(arguments)
        } catch {
            let code = Parley.exitCode(for: error)
            let message = Parley.fullMessage(for: error) + "\n"
            if code == .success {
                output(message)
                return Status.open
            }
            errorOutput(message)
            return code == .validationFailure ? Status.usage : code.rawValue
        }
        return await probe(command, output: output, errorOutput: errorOutput)
    }

    /// Runs the probe the options describe, prints the result, and returns the exit status.
    ///
    /// - Parameters:
    ///   - command: the parsed options.
    ///   - output: where the result goes.
    ///   - errorOutput: where a usage error the engine finds (a bad pattern) goes.
    /// - Returns: 0 when an open process resulted, 1 when none did, 2 for bad usage.
    public static func probe(
        _ command: ProbeCommand,
        output: @Sendable (String) -> Void,
        errorOutput: @Sendable (String) -> Void
    ) async -> Int32 {
        let parameters: StreamParameters
        do {
            parameters = try command.streamParameters()
        } catch {
            errorOutput("parley probe: \(error.message)\n")
            return Status.usage
        }
        let service: NetworkProcess.Service = Int(command.service).map { .port($0) } ?? .named(command.service)
        var result: OpenStreamResult
        do {
            result = try await NetworkProcess.openStream(
                name: "probe",
                host: command.host,
                service: service,
                parameters: parameters,
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
        output(command.json ? ProbeJSON(result, snapshot: snapshot).rendered() + "\n" : text(result, snapshot: snapshot))
        await result.process?.delete()
        return result.process == nil ? Status.noProcess : Status.open
    }

    /// The result for people: `key: value` lines for the process, type, greeting, capabilities,
    /// error and discarded bytes, then, after TLS, the console transcript's TLS lines
    /// (``TLSFacts/summaryLines``: the same words, the same `===` and `***` marks).
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
            // The console transcript's lines, with its marks.
            for line in TLSFacts(tls).summaryLines { out += line.marked + "\n" }
        }
        return out
    }

    /// Received bytes as the probe prints them: a JSON string literal with every byte kept.
    public static func jsonString(_ bytes: [UInt8]) -> String { JSONText.string(bytes) }
}
