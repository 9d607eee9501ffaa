// SPDX-License-Identifier: Apache-2.0
import Foundation
import GnuTLSNIO
import MailServers
import Recording
import Runner

/// `parley record`: the recording proxy, the files it writes, and the record modes.
public struct RecordFrontend: Sendable {
    /// When to record and when to replay what was recorded (as VCR's record modes).
    public enum Mode: String, Sendable, CaseIterable {
        /// Record when there is no recording of this name yet; otherwise replay it.
        case once
        /// Record every dialog; keep those whose client side no recording in the folder has.
        case new
        /// Record every dialog, replacing the recording of the same name.
        case all
        /// Never record: replay the recording (none: an error).
        case none
    }

    public var listenHost = "127.0.0.1"
    public var listenPort = 0
    public var upstreamHost: String
    public var upstreamPort: Int
    public var preset: String
    public var outputFolder = "recordings"
    /// The recording's name (default: the preset's).
    public var name: String?
    public var mode: Mode = .once
    /// The CA that issues the proxy's certificate (default: the test CA).
    public var caCertificateFile: String?
    public var caKeyFile: String?
    /// The CA the server is verified against (default: the system store).
    public var upstreamCAFile: String?
    /// The name the server's certificate is checked for, and the proxy's certificate is issued for.
    public var serverName: String?
    /// TLS from the first byte on both sides.
    public var implicitTLS = false
    /// Do not verify the server (marked in the recording and in the generated scenario).
    public var insecure = false
    /// Dialogs to record before exiting.
    public var connections = 1
    /// How long to wait for each client.
    public var acceptTimeout: Duration = .seconds(300)
    public var idleTimeout: Duration = .seconds(60)
    /// Bytes recorded per dialog at most (the dialog goes on; the recording says it was cut).
    public var recordLimit = 16 << 20
    /// Progress and results (standard output).
    public var output: @Sendable (String) -> Void

    public init(upstreamHost: String, upstreamPort: Int, preset: String, output: @escaping @Sendable (String) -> Void) {
        self.upstreamHost = upstreamHost
        self.upstreamPort = upstreamPort
        self.preset = preset
        self.output = output
    }

    var stem: String { name ?? preset }

    /// Runs; returns the exit status (as `parley run`'s).
    public func run() async -> Int32 {
        guard DialogProtocol(preset: preset) != nil else {
            output("error: --preset: parley record follows \(DialogProtocol.presets.joined(separator: ", ")), not '\(preset)'\n")
            return RunFrontend.Status.invalid
        }
        guard stem.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }), !stem.isEmpty, !stem.hasPrefix(".") else {
            output("error: --name: letters, digits, '.', '_' and '-' only, not '\(stem)'\n")
            return RunFrontend.Status.invalid
        }
        let existing = FileManager.default.fileExists(
            atPath: path(ScenarioWriter.Names(stem: stem).recording))
        switch mode {
        case .none where !existing:
            output("error: --mode none replays only, and \(outputFolder) has no recording '\(stem)' (record it with --mode once)\n")
            return RunFrontend.Status.invalid
        case .none:
            return await replay()
        case .once where existing:
            return await replay()
        default:
            return await record()
        }
    }

    private func path(_ file: String) -> String { (outputFolder as NSString).appendingPathComponent(file) }

    // MARK: - Recording

    private func record() async -> Int32 {
        let serverName = self.serverName ?? upstreamHost
        let issuer: CertificateIssuer
        let credential: TLSConfiguration.PEMCredential
        do {
            issuer = try loadIssuer()
            var names = [serverName]
            if TLSConfiguration.isIPLiteral(listenHost), listenHost != serverName { names.append(listenHost) }
            credential = try issuer.issue(names: names)
        } catch {
            output("error: the proxy's certificate: \(error)\n")
            return RunFrontend.Status.invalid
        }
        let upstreamTLS: GnuTLSContext
        let clientSideTLS: GnuTLSContext
        do {
            let trust: TLSConfiguration.TrustRoots = upstreamCAFile.map { .file(absolute($0)) } ?? .system
            upstreamTLS = try GnuTLSContext(configuration: .client(trustRoots: trust, verifyPeer: !insecure))
            clientSideTLS = try GnuTLSContext(configuration: .server(credential: credential))
        } catch {
            output("error: TLS: \(error)\n")
            return RunFrontend.Status.invalid
        }
        let upstream = Recording.Upstream(host: upstreamHost, port: upstreamPort, serverName: serverName, implicitTLS: implicitTLS)
        var configuration = RecordingProxy.Configuration(
            host: listenHost, port: listenPort, preset: preset, upstream: upstream, clientSideTLS: clientSideTLS, upstreamTLS: upstreamTLS)
        configuration.idleTimeout = idleTimeout
        configuration.recordLimit = recordLimit
        let proxy: RecordingProxy
        do {
            proxy = try await RecordingProxy.start(configuration)
        } catch {
            output("error: \(error)\n")
            return RunFrontend.Status.runtimeError
        }
        do {
            try FileManager.default.createDirectory(atPath: path("snapshots"), withIntermediateDirectories: true)
        } catch {
            output("error: cannot create \(path("snapshots")): \(error.localizedDescription)\n")
            return RunFrontend.Status.invalid
        }
        output(
            "recording on \(listenHost):\(proxy.port) -> \(upstreamHost):\(upstreamPort) (\(preset)\(implicitTLS ? ", implicit TLS" : "")), "
                + "the proxy's certificate for \(serverName) issued by \(issuer.subject)\(insecure ? "; the server is NOT verified (--insecure)" : "")\n"
        )
        var status = RunFrontend.Status.passed
        for number in 1...connections {
            guard let dialog = await proxy.nextDialog(timeout: acceptTimeout) else {
                output("no client within \(acceptTimeout) (\(number - 1) of \(connections) dialogs recorded)\n")
                status = RunFrontend.Status.failed
                break
            }
            let written = save(dialog, number: number, credential: credential)
            if dialog.problem != nil || !written { status = RunFrontend.Status.runtimeError }
        }
        await proxy.stop()
        return status
    }

    /// Writes a dialog's files; false when nothing could be written.
    private func save(_ dialog: RecordingProxy.Dialog, number: Int, credential: TLSConfiguration.PEMCredential) -> Bool {
        let recording = dialog.recording
        let data = recording.events.filter { $0.kind == .data }.count
        // A dialog that broke (the server unreachable or unverified, the proxy's certificate
        // refused, silence) is not kept: with --mode once it would be replayed from then on.
        if let problem = dialog.problem {
            output("dialog with \(dialog.client): \(problem); nothing written\n")
            return false
        }
        guard data > 0 else {
            output("dialog with \(dialog.client): nothing was said; nothing written\n")
            return false
        }
        guard let stem = stemFor(recording, number: number) else { return true }
        let names = ScenarioWriter.Names(
            stem: stem, caFile: upstreamCAFile.map { Self.relative(absolute($0), to: absolute(outputFolder)) })
        let files: [(String, Data)] = [
            (names.recording, recording.encoded()),
            (names.clientScenario, Data(ScenarioWriter.clientScenario(recording, names: names).utf8)),
            (names.serverScript, Data(ScenarioWriter.serverScript(recording, names: names).utf8)),
            (names.snapshot, Data(ScenarioWriter.snapshot(recording, names: names).utf8)),
            (names.certificate, Data(credential.chain.text.utf8)),
            (names.key, Data(credential.key.text.utf8)),
        ]
        // No secret the dialog carried may be in any file: checked before a byte is written.
        let secrets = dialog.secretValues.filter { $0.count >= 3 }
        for (file, bytes) in files where secrets.contains(where: { Array(bytes).firstRange(of: $0) != nil }) {
            output("error: \(file) would hold a credential of the dialog; nothing written (please report this)\n")
            return false
        }
        do {
            for (file, bytes) in files { try bytes.write(to: URL(fileURLWithPath: path(file)), options: .atomic) }
        } catch {
            output("error: cannot write in \(outputFolder): \(error.localizedDescription)\n")
            return false
        }
        let clientTLS = recording.clientTLS.map { ", client TLS \($0.version)" } ?? ""
        let serverTLS = recording.upstreamTLS.map { ", server TLS \($0.version) \($0.verified ? "verified" : "NOT verified")" } ?? ""
        output(
            "dialog with \(dialog.client): \(recording.events.count) events\(clientTLS)\(serverTLS)\(recording.truncated ? ", cut at the size limit" : "")\n"
                + "  wrote \(path(names.clientScenario)), \(path(names.serverScript)), \(path(names.recording)), \(path(names.snapshot))\n")
        if !recording.variables.isEmpty {
            output("  credentials became variables: \(recording.variables.map(\.name).joined(separator: ", ")) (give them with --var)\n")
        }
        return true
    }

    /// The name a dialog is saved under (the first NAME, the next NAME-2, ...), or nil when
    /// `--mode new` finds it recorded already (it then takes the first free NAME-N).
    private func stemFor(_ recording: Recording, number: Int) -> String? {
        guard mode == .new else { return number == 1 ? stem : "\(stem)-\(number)" }
        var candidates: [String] = []
        let files = (try? FileManager.default.contentsOfDirectory(atPath: outputFolder)) ?? []
        for file in files where file.hasSuffix(".recording.json") {
            let name = String(file.dropLast(".recording.json".count))
            guard name == stem || name.hasPrefix(stem + "-") else { continue }
            candidates.append(name)
            if let data = FileManager.default.contents(atPath: path(file)), let old = try? Recording.decode(data),
                RecordingComparison.sameClientSide(old, recording)
            {
                output("  the client's side is the same as \(path(file))'s: kept that one\n")
                return nil
            }
        }
        if !candidates.contains(stem) { return stem }
        var number = 2
        while candidates.contains("\(stem)-\(number)") { number += 1 }
        return "\(stem)-\(number)"
    }

    private func loadIssuer() throws -> CertificateIssuer {
        switch (caCertificateFile, caKeyFile) {
        case (nil, nil):
            return try TestPKI.issuer()
        case (let certificate?, let key?):
            func text(_ file: String) throws -> TLSConfiguration.PEMText {
                guard let data = FileManager.default.contents(atPath: absolute(file)) else {
                    throw RecordingError("cannot read \(file)")
                }
                return .init(String(decoding: data, as: UTF8.self), name: file)
            }
            return try CertificateIssuer(certificate: text(certificate), key: text(key))
        default:
            throw RecordingError("--ca-cert and --ca-key go together")
        }
    }

    /// `path` as seen from `folder` (both absolute): the generated scenario names its CA file
    /// relative to its own folder, so the folder can be committed and run elsewhere.
    public static func relative(_ path: String, to folder: String) -> String {
        let target = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
        let base = URL(fileURLWithPath: folder).standardizedFileURL.pathComponents
        var common = 0
        while common < min(target.count, base.count), target[common] == base[common] { common += 1 }
        // Only the root in common: the absolute path says more.
        guard common > 1 else { return path }
        let up = Array(repeating: "..", count: base.count - common)
        return (up + target[common...]).joined(separator: "/")
    }

    private func absolute(_ file: String) -> String {
        file.hasPrefix("/") ? file : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(file)
    }

    // MARK: - Replay

    private func replay() async -> Int32 {
        let script = path("\(stem).server.yaml")
        output("replaying \(script) (\(mode == .none ? "--mode none" : "--mode once, recorded already")); the server is not contacted\n")
        var frontend = ScriptServeFrontend(
            file: script, output: output, transcript: { text in FileHandle.standardError.write(Data(text.utf8)) })
        frontend.host = listenHost
        frontend.port = listenPort
        frontend.connections = connections
        frontend.acceptTimeout = acceptTimeout
        return await frontend.run()
    }
}
