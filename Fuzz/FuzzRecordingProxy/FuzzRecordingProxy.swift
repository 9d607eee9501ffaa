// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the recording proxy's rules (`ProxySession` and its credential scanner) fed
// a dialog of any bytes from either side, then the files generated from the recording, and the
// recording file reader. The first byte picks the preset; the rest is chunks, each a header byte
// (bit 7: from the server; bits 0-6: the length) and its bytes.
import Foundation
import FuzzSupport
import Recording
import Runner
import Scenario

let presets = ["smtp", "submission", "imap", "pop3"]
let loader = ScenarioRunner.loader(serverProvider: nil)

/// Runs one input through a session and the generators, and checks their invariants.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecordingProxy(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // The recording reader: anything it accepts, it writes back the same.
    if let recording = try? Recording.decode(Data(bytes)) {
        precondition((try? Recording.decode(recording.encoded())) == recording, "a recording does not survive its file")
        generate(recording)
    }
    guard let first = bytes.first else { return 0 }
    let upstream = Recording.Upstream(host: "127.0.0.1", port: 25, serverName: "mail.test", implicitTLS: first & 0x80 != 0)
    guard
        var session = try? ProxySession(preset: presets[Int(first) % presets.count], upstream: upstream, recordedAt: "", recordLimit: 4096)
    else { preconditionFailure("a preset the proxy follows is refused") }
    var index = 1
    var time = 0.0
    var toServer: [UInt8] = []
    var sentFromClient: [UInt8] = []
    var upgraded = false
    while index < bytes.count {
        let header = bytes[index]
        let length = min(Int(header & 0x7f), bytes.count - index - 1)
        let chunk = Array(bytes[(index + 1)..<(index + 1 + length)])
        index += 1 + length
        time += 0.001
        let actions = header & 0x80 != 0 ? session.serverSent(chunk, at: time) : session.clientSent(chunk, at: time)
        if header & 0x80 == 0 { sentFromClient += chunk }
        for action in actions {
            switch action {
            case .toServer(let out): toServer += out
            case .startTLS:
                precondition(!upgraded || upstream.implicitTLS == false, "TLS started twice")
                upgraded = true
                session.handshakesCompleted(
                    client: .init(version: "TLS1.3", cipher: "X", verified: false),
                    upstream: .init(version: "TLS1.3", cipher: "X", verified: true),
                    at: time)
            case .toClient, .close: break
            }
        }
    }
    session.closed(by: .client, at: time + 0.001)
    // Nothing is relayed that the client did not send, and in its order (plaintext behind a
    // go-ahead is dropped, so what is relayed is a subsequence).
    var sent = sentFromClient[...]
    for byte in toServer {
        guard let at = sent.firstIndex(of: byte) else { preconditionFailure("the proxy relayed bytes the client did not send") }
        sent = sent[(at + 1)...]
    }
    let recording = session.finished
    // No secret value the scanner found is in a recorded piece.
    let secrets = session.secretValues.filter { $0.count >= 3 }
    for event in recording.events {
        for case .bytes(let piece) in event.pieces ?? [] {
            for secret in secrets { precondition(piece.firstRange(of: secret) == nil, "a credential was recorded") }
        }
    }
    generate(recording)
    return 0
}

/// The generated files must load as scenarios, whatever the recording held.
func generate(_ recording: Recording) {
    let names = ScenarioWriter.Names(stem: "fuzz", caFile: nil)
    let client = ScenarioWriter.clientScenario(recording, names: names)
    let server = ScenarioWriter.serverScript(recording, names: names)
    _ = ScenarioWriter.snapshot(recording, names: names)
    do {
        _ = try loader.load(yaml: client, file: "/fuzz/fuzz.client.yaml")
        _ = try loader.load(yaml: server, file: "/fuzz/fuzz.server.yaml")
    } catch {
        preconditionFailure("a generated file does not load: \(error)\n--- client\n\(client)\n--- server\n\(server)")
    }
}

/// Runs libFuzzer on ``fuzzRecordingProxy(_:_:)``, or replays the files named on the command line.
@main
struct Entry {
    static func main() throws {
        try FuzzDriver.run(fuzzRecordingProxy)
    }
}
