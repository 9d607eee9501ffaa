// SPDX-License-Identifier: Apache-2.0

/// The UTF-8 bytes of a test string (test data only; the code under test matches and frames
/// bytes, never `String`s).
///
/// - Parameter text: the text, usually ASCII.
/// - Returns: its bytes.
public func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
