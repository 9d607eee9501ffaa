// SPDX-License-Identifier: Apache-2.0
import MailDomain
import Testing

@Suite struct LinkTests {
    @Test func libunboundIsLinked() {
        #expect(MailDomain.unboundVersion.first?.isNumber == true)
    }
}
