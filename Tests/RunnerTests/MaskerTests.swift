// SPDX-License-Identifier: Apache-2.0
import Testing

@testable import Runner

/// Credentials in transcripts: hidden on the client's side and, playing the server, on the side
/// they arrive.
@Suite struct MaskerTests {
    static func text(_ event: ConnectionEvent) -> String {
        switch event {
        case .sent(let bytes, _), .received(let bytes, _), .discarded(let bytes): String(decoding: bytes, as: UTF8.self)
        default: ""
        }
    }

    @Test func aClientsCredentialsAreHiddenWhereTheyArrive() {
        let masker = SharedMasker()
        let login = masker.masked(.received(Array("A3 LOGIN parley \"pw-arrived-1\"\r\n".utf8), tls: true), serverRole: true)
        #expect(Self.text(login) == "A3 LOGIN parley ****\r\n")
        // Hidden wherever else it turns up from then on (a failure's "received and not matched").
        #expect(masker.hideSecrets(in: "received: A3 LOGIN parley \"pw-arrived-1\"") == "received: A3 LOGIN parley ****")
        // SASL: the server's continuation leaves, the client's response arrives.
        _ = masker.masked(.received(Array("AUTH LOGIN\r\n".utf8), tls: true), serverRole: true)
        _ = masker.masked(.sent(Array("334 VXNlcm5hbWU6\r\n".utf8), tls: true), serverRole: true)
        let response = masker.masked(.received(Array("cGFybGV5\r\n".utf8), tls: true), serverRole: true)
        #expect(Self.text(response) == "****\r\n")
        // The server's own lines are shown.
        #expect(Self.text(masker.masked(.sent(Array("235 2.7.0 ok\r\n".utf8), tls: true), serverRole: true)) == "235 2.7.0 ok\r\n")
    }

    @Test func onTheClientsSideTheSentLinesAreMasked() {
        let masker = SharedMasker()
        #expect(Self.text(masker.masked(.sent(Array("PASS open-sesame\r\n".utf8), tls: true))) == "PASS ****\r\n")
        #expect(Self.text(masker.masked(.received(Array("-ERR open-sesame rejected\r\n".utf8), tls: true))) == "-ERR **** rejected\r\n")
    }
}
