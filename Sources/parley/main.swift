// SPDX-License-Identifier: Apache-2.0
import ParleyCLI

await ParleyMain.run()
