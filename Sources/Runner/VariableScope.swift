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
    /// The scenario's folder: relative paths with variables are resolved against it.
    let folder: String

    /// A scope for one run.
    init(commandLine: [String: String], environment: [String: String], folder: String) {
        self.commandLine = commandLine
        self.environment = environment
        self.folder = folder
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
    /// the scenario's folder (paths without variables were resolved when the file loaded).
    func resolvePath(_ raw: String?, at location: SourceLocation) throws(Failure) -> String? {
        guard let raw, raw.contains("${") else { return raw }
        let expanded = try expand(Template(raw, at: location))
        if expanded.hasPrefix("/") { return expanded }
        return URL(fileURLWithPath: folder).appendingPathComponent(expanded).standardizedFileURL.path
    }

    /// The name to verify and send as SNI: the one written, else the host.
    func serverName(_ tls: TLSOptions, host: String) throws(Failure) -> String? {
        if let template = tls.serverName { return try expand(template) }
        return host.isEmpty ? nil : host
    }
}
