// SPDX-License-Identifier: Apache-2.0
import Foundation
import Scenario

/// Where a scenario's `${NAME}` values come from, and how paths written in it are resolved.
///
/// A name is looked up, in order: set while running (`set:` and named captures), the command
/// line (`--var`, `--var-file`), the scenario's `variables:`, the built-ins (`client-name`,
/// `server-name`, `SERVER.host`, `SERVER.port`), then the environment.
struct VariableScope: Sendable {
    /// Set while running; wins over everything else.
    var runtime: [String: String] = [:]
    /// Given on the command line.
    let commandLine: [String: String]
    /// The scenario's own `variables:`, expanded at the start.
    var defaults: [String: String] = [:]
    /// The environment, last.
    let environment: [String: String]
    /// The embedded servers' addresses, by server name.
    var servers: [String: (host: String, port: Int)] = [:]
    /// The host of the current connection (`server-name`).
    var currentHost: String?
    /// The scenario's folder: relative paths written in the scenario are resolved against it.
    let folder: String
    /// The working directory: a relative path that comes from the command line or the
    /// environment is resolved against it, as a shell user expects.
    let workingDirectory: String

    /// A scope for one run.
    init(
        commandLine: [String: String],
        environment: [String: String],
        folder: String,
        workingDirectory: String = FileManager.default.currentDirectoryPath
    ) {
        self.commandLine = commandLine
        self.environment = environment
        self.folder = folder
        self.workingDirectory = workingDirectory
    }

    /// Whether a name's value comes from outside the scenario: the command line (`--var`,
    /// `--var-file`) or the environment, not from the scenario or the run.
    func comesFromOutside(_ name: String) -> Bool {
        guard runtime[name] == nil else { return false }
        if commandLine[name] != nil { return true }
        guard defaults[name] == nil, lookup(name) != nil else { return false }
        return environment[name] != nil && !["client-name", "server-name"].contains(name)
            && !servers.keys.contains { name == "\($0).host" || name == "\($0).port" }
    }

    /// The value of `name`, or nil when it is not set anywhere.
    func lookup(_ name: String) -> String? {
        if let value = runtime[name] ?? commandLine[name] ?? defaults[name] { return value }
        switch name {
        case "client-name": return "parley.test"
        case "server-name": return currentHost
        default: break
        }
        for (serverName, server) in servers {
            if name == "\(serverName).host" { return server.host }
            if name == "\(serverName).port" { return String(server.port) }
        }
        return environment[name]
    }

    /// A template with its references replaced.
    ///
    /// - Throws: `Failure` (runtime) at the reference that is not set.
    func expand(_ template: Template) throws(Failure) -> String {
        do {
            return try template.expand { self.lookup($0) }
        } catch {
            throw Failure(.runtime, at: error.location, error.message)
        }
    }

    /// A file path from the scenario: `${...}` expanded, then a relative path resolved against
    /// the working directory when it starts with a variable given on the command line or in the
    /// environment (`--var CA_FILE=certs/ca.pem`), else against the scenario's folder (paths
    /// without variables were resolved when the file loaded). A path that expands to nothing is
    /// no path: `ca-file: ${CA_FILE}` with CA_FILE empty means the system trust store.
    func resolvePath(_ raw: String?, at location: SourceLocation) throws(Failure) -> String? {
        guard let raw, raw.contains("${") else { return raw }
        let expanded = try expand(Template(raw, at: location))
        if expanded.isEmpty { return nil }
        if expanded.hasPrefix("/") { return expanded }
        let base = Self.leadingVariable(raw).map(comesFromOutside) == true ? workingDirectory : folder
        return URL(fileURLWithPath: base).appendingPathComponent(expanded).standardizedFileURL.path
    }

    /// The name of the `${NAME}` a path starts with, if it starts with one.
    static func leadingVariable(_ raw: String) -> String? {
        guard raw.hasPrefix("${"), let close = raw.firstIndex(of: "}") else { return nil }
        let name = raw[raw.index(raw.startIndex, offsetBy: 2)..<close]
        // `${NAME:-default}` and the like: the name is what comes before the operator.
        return String(name.prefix { $0 != ":" })
    }

    /// The name to verify and send as SNI: the one written, else the host.
    func serverName(_ tls: TLSOptions, host: String) throws(Failure) -> String? {
        if let template = tls.serverName { return try expand(template) }
        return host.isEmpty ? nil : host
    }
}
