// SPDX-License-Identifier: Apache-2.0

/// When two recordings are the same episode (for `parley record --mode new`): the client sent
/// the same commands. A message's text (it carries its own Date and Message-ID), IMAP tags
/// (clients pick them at random) and timings are not compared.
public enum RecordingComparison {
    public static func sameClientSide(_ first: Recording, _ second: Recording) -> Bool {
        first.preset == second.preset && commands(first) == commands(second)
    }

    /// The client's command lines, normalised.
    static func commands(_ recording: Recording) -> [[Recording.Piece]] {
        let dialog = DialogProtocol(preset: recording.preset) ?? .smtp
        var out: [[Recording.Piece]] = []
        var inMessage = false
        var lastServer: [UInt8] = []
        for event in recording.events where event.kind == .data {
            guard event.from == .client else {
                lastServer = event.literalBytes
                if dialog == .smtp, lastServer.starts(with: Array("354".utf8)) { inMessage = true }
                continue
            }
            var pieces = event.pieces ?? []
            if inMessage {
                if ScenarioWriter.literal(pieces).map({ $0 == Array(".\r\n".utf8) || $0 == Array(".\n".utf8) }) ?? false {
                    inMessage = false
                }
                continue
            }
            if dialog == .imap, case .bytes(let bytes)? = pieces.first, let space = bytes.firstIndex(of: 32) {
                pieces[0] = .bytes(Array(bytes[space...]))
            }
            out.append(pieces)
        }
        return out
    }
}
