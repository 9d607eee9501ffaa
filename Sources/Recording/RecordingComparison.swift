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
        let turns = ScenarioWriter.turns(recording)
        let message = ScenarioWriter.messageLines(turns, dialog: dialog)
        var out: [[Recording.Piece]] = []
        for (index, turn) in turns.enumerated() {
            guard case .client(let lines, _) = turn else { continue }
            for (number, line) in lines.enumerated() where !(message[index]?[number] ?? false) {
                var pieces = line
                if dialog == .imap, case .bytes(let bytes)? = pieces.first, let space = bytes.firstIndex(of: 32) {
                    pieces[0] = .bytes(Array(bytes[space...]))
                }
                out.append(pieces)
            }
        }
        return out
    }
}
