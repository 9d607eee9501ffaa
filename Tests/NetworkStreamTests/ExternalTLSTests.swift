// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailServers
import ParleyTestSupport
import Patterns
import Testing

@testable import NetworkStream

#if canImport(Glibc)
    import Glibc
#endif

/// The external TLS provider: `gnutls-cli --starttls` on pipes, told to start TLS with SIGALRM
/// (spec §8.6).
@Suite("open-network-stream: the external TLS provider (gnutls-cli)")
struct ExternalTLSTests {
    let base = OpenStreamTests()

    func external(_ type: StreamParameters.ConnectionType) -> StreamParameters {
        var p = base.smtp(type)
        p.tlsProvider = .external
        p.endOfCapability = #"^250 [^\r\n]*\r\n"#
        return p
    }

    func server(_ faults: [MailServerFault] = [], implicitTLS: Bool = false) throws -> FakeMailServer.Configuration {
        FakeMailServer.Configuration(
            protocol: .smtp,
            tls: try FixtureCertificates.serverContext(),
            implicitTLS: implicitTLS,
            faults: faults
        )
    }

    /// Whether process `pid` is gone: killed and reaped (a zombie still answers `kill(pid, 0)`).
    func reaped(_ pid: Int32) async -> Bool {
        await eventually { kill(pid, 0) == -1 && errno == ESRCH }
    }

    /// The id of a gnutls-cli child started for `port`, found while it runs.
    func helperPID(port: Int) async -> Int32? {
        let marker = "--port=\(port)"
        for _ in 0..<200 {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            for entry in entries {
                guard let pid = Int32(entry),
                    let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
                else { continue }
                let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                if arguments.first?.hasSuffix("gnutls-cli") == true, arguments.contains(marker) { return pid }
            }
            try? await Task.sleep(for: .milliseconds(25))
        }
        return nil
    }

    @Test("verified STARTTLS through gnutls-cli: type tls, provider external, verified, capabilities queried again under TLS")
    func verifiedStartTLS() async throws {
        try await withFakeMailServer(try server()) { server in
            let result = try await base.open(server.port, external(.starttls))
            let process = try #require(result.process)
            #expect(result.error == nil)
            #expect(result.type == .tls)
            #expect(result.tlsProvider == .external)
            let tls = try #require(result.tls)
            #expect(tls.verified)
            #expect(tls.verificationProblems.isEmpty)
            #expect(tls.protocolVersion.hasPrefix("TLS1."))
            #expect(tls.peerCertificates.first?.subject.contains("CN=localhost") == true)
            #expect(text(result.greeting)?.hasPrefix("220 ") == true)
            #expect(text(result.capabilities)?.contains("250") == true)
            #expect(text(result.capabilities)?.contains("STARTTLS") == false, "queried again under TLS")
            #expect(result.discardedBytes == 0)
            #expect(process.type == .real)
            #expect(await process.status() == .run)
            #expect(process.command?.first?.hasSuffix("gnutls-cli") == true)
            #expect(process.command?.contains("--starttls") == true)
            // The session is usable: a command under TLS gets its answer.
            try await process.send(bytes("NOOP\r\n"))
            let reply = try await process.expect(try pattern(#"^250 [^\r\n]*\r\n"#), timeout: .seconds(10))
            #expect(text(reply.matched)?.hasPrefix("250") == true)
            let pid = try #require(process.processID)
            await process.delete()
            #expect(await reaped(pid), "the helper is killed and reaped on delete")
        }
    }

    @Test("type tls through gnutls-cli: TLS at once, provider external, verified, greeting read")
    func implicitTLS() async throws {
        try await withFakeMailServer(try server(implicitTLS: true)) { server in
            let result = try await base.open(server.port, external(.tls))
            let process = try #require(result.process)
            #expect(result.type == .tls)
            #expect(result.tlsProvider == .external)
            #expect(result.tls?.verified == true)
            #expect(text(result.greeting)?.hasPrefix("220 ") == true)
            #expect(process.command?.contains("--starttls") == false)
            await process.delete()
        }
    }

    @Test("a wrong host name fails verification: no process, the reason, and no plain fallback (as with the built-in provider)")
    func wrongHostName() async throws {
        try await withFakeMailServer(try server()) { server in
            var p = external(.starttls)
            p.tls.serverName = "wrong.example"
            let table = ProcessTable()
            let result = try await base.open(server.port, p, table: table)
            #expect(result.process == nil)
            #expect(result.error?.contains("host name mismatch") == true)
            #expect(result.failure?.wait == .handshake)
            #expect(result.failure?.tlsError?.kind == .verificationFailed)
            #expect(result.failure?.tlsError?.verificationProblems.contains("host name mismatch") == true)
            #expect(table.names.isEmpty)
        }
    }

    @Test("--insecure: a wrong host name completes and still reports verified false with the reason")
    func insecureWrongHostName() async throws {
        try await withFakeMailServer(try server()) { server in
            var p = external(.starttls)
            p.tls.serverName = "wrong.example"
            p.tls.verify = false
            let result = try await base.open(server.port, p)
            let process = try #require(result.process)
            #expect(result.type == .tls)
            #expect(result.tls?.verified == false)
            #expect(result.tls?.verificationProblems.contains("host name mismatch") == true)
            #expect(process.command?.contains("--insecure") == true)
            await process.delete()
        }
    }

    @Test("a server that refuses STARTTLS: starttls gives Server does not support TLS; network with use-starttls-if-possible stays plain")
    func refused() async throws {
        try await withFakeMailServer(try server([try MailServerFault(.refuseStartTLS)])) { server in
            let table = ProcessTable()
            let required = try await base.open(server.port, external(.starttls), table: table)
            #expect(required.process == nil)
            #expect(required.error == "Server does not support TLS")
            #expect(table.names.isEmpty)

            var p = external(.network)
            p.useStartTLSIfPossible = true
            let opportunistic = try await base.open(server.port, p)
            let process = try #require(opportunistic.process)
            #expect(opportunistic.type == .plain)
            #expect(opportunistic.error == nil)
            #expect(opportunistic.tlsProvider == nil)
            #expect(process.type == .real, "the dialog went through the helper")
            await process.delete()
        }
    }

    @Test("use-starttls-if-possible: without it, type network with the external provider does not upgrade (Emacs without built-in TLS)")
    func opportunisticNeedsPermission() async throws {
        try await withFakeMailServer(try server()) { server in
            let result = try await base.open(server.port, external(.network))
            let process = try #require(result.process)
            #expect(result.type == .plain)
            #expect(process.type == .network, "a plain socket, no helper")
            #expect(text(result.capabilities)?.contains("STARTTLS") == true)

            var p = external(.network)
            p.useStartTLSIfPossible = true
            let upgraded = try await base.open(server.port, p)
            #expect(upgraded.type == .tls)
            #expect(upgraded.tlsProvider == .external)
            await process.delete()
            await upgraded.process?.delete()
        }
    }

    @Test("response injection: plaintext after the go-ahead is discarded and counted, never passed on")
    func injection() async throws {
        try await withFakeMailServer(try server([try MailServerFault(.injectAfterStartTLS)])) { server in
            let result = try await base.open(server.port, external(.starttls))
            let process = try #require(result.process)
            #expect(result.type == .tls)
            #expect(result.discardedBytes == SMTPServerSession.defaultInjection.count)
            #expect(text(result.capabilities)?.contains("INJECTED") == false)
            await process.delete()
        }
    }

    @Test("a silent server: the greeting wait runs out, the error names it, and the helper is reaped")
    func silentServer() async throws {
        let peer = try await LinePeer.start(greeting: nil)
        defer { Task { await peer.stop() } }
        var p = external(.starttls)
        p.timeouts.greeting = .seconds(1)
        let port = peer.port
        let opening = Task { try await base.open(port, p) }
        let pid = await helperPID(port: port)
        let result = try await opening.value
        #expect(result.process == nil)
        #expect(result.failure?.wait == .greeting)
        #expect(result.error?.contains("the server's greeting") == true)
        let child = try #require(pid)
        #expect(await reaped(child))
    }

    @Test("a refused connect: the helper's reason, as a connect failure")
    func refusedConnect() async throws {
        let port = try await closedPort()
        let error = await networkError { _ = try await base.open(port, external(.starttls)) }
        #expect(error?.kind == .connectFailed)
        #expect(error?.message.contains("Connection refused") == true)
    }

    @Test("gnutls-cli missing: a clear error naming it")
    func missingProgram() async throws {
        var p = external(.starttls)
        p.externalTLSProgram = "parley-no-such-gnutls-cli"
        let error = await networkError { _ = try await base.open(1, p) }
        #expect(error?.kind == .connectFailed)
        #expect(error?.message.contains("parley-no-such-gnutls-cli, which was not found on PATH") == true)
    }
}

@Suite("The external helper's log, as a value")
struct ExternalTLSLogTests {
    @Test("client mode, then a STARTTLS report ending at - Options:, across reads that split lines and with CRLF")
    func signals() {
        var log = ExternalTLSLog()
        #expect(log.logReceived(Array("Processed 1 CA certificate(s).\r\n- Simple Cl".utf8)).isEmpty)
        #expect(
            log.logReceived(Array("ient Mode:\r\n".utf8)) == [.clientMode(["Processed 1 CA certificate(s).", "- Simple Client Mode:"])])
        // An "- Options:" line outside a handshake means nothing.
        #expect(log.logReceived(Array("- Options:\n".utf8)).isEmpty)
        log.beginHandshake()
        let report = "- Status: The certificate is trusted. \n- Description: (TLS1.3-X.509)-(ECDHE-X25519)\n- Options:\n"
        #expect(
            log.logReceived(Array(report.utf8)) == [
                .handshakeDone(["- Status: The certificate is trusted. ", "- Description: (TLS1.3-X.509)-(ECDHE-X25519)", "- Options:"])
            ])
    }

    @Test("an unfinished last line counts when the log ends; standard error gives the reasons without the start line")
    func endAndReasons() {
        var log = ExternalTLSLog()
        _ = log.logReceived(Array("- Simple Client Mode:".utf8))
        #expect(log.logEnded() == [.clientMode(["- Simple Client Mode:"])])
        log.stderrReceived(Array("*** Starting TLS handshake\n*** Fatal error: Error in the certificate.\n".utf8))
        #expect(log.reasons == ["*** Fatal error: Error in the certificate."])
        #expect(log.said == "Fatal error: Error in the certificate.")
        #expect(!log.couldNotConnect)
        log.stderrReceived(Array("Could not connect to 127.0.0.1:1: Connection refused\n".utf8))
        #expect(log.couldNotConnect)
    }

    @Test("bounded: lines, line length and standard error")
    func bounds() {
        var log = ExternalTLSLog()
        for number in 0..<(ExternalTLSLog.lineLimit + 10) { _ = log.logReceived(Array("line \(number)\n".utf8)) }
        #expect(log.lines.count == ExternalTLSLog.lineLimit)
        #expect(log.lines.first == "line 10")
        _ = log.logReceived(Array(repeating: UInt8(ascii: "x"), count: ExternalTLSLog.lineLengthLimit + 5))
        #expect(log.lines.last?.utf8.count == ExternalTLSLog.lineLengthLimit)
        log.stderrReceived(Array(repeating: UInt8(ascii: "e"), count: ExternalTLSLog.stderrLimit * 2))
        #expect(log.said.utf8.count == ExternalTLSLog.stderrLimit)
    }
}
