// SPDX-License-Identifier: Apache-2.0
import MailServers

/// An instant with the UTC offset it was written in: what the API shows as RFC 3339.
struct ZonedInstant: Sendable, Equatable {
    /// Milliseconds since 1970, UTC.
    var milliseconds: Int64
    /// The offset east of UTC, in minutes.
    var offsetMinutes: Int

    /// RFC 3339 with milliseconds: `2026-01-02T03:04:05.000Z`, or `…+10:00` for an offset (the
    /// form Go's `time.Time` JSON takes, with the fraction always written).
    var rfc3339: String {
        let local = milliseconds + Int64(offsetMinutes) * 60_000
        let seconds = local >= 0 ? local / 1000 : (local - 999) / 1000
        let fraction = Int(local - seconds * 1000)
        let p = MailDate.parts(seconds)
        var text = "\(four(p.year))-\(two(p.month))-\(two(p.day))T\(two(p.hour)):\(two(p.minute)):\(two(p.second))"
        text += "." + String(repeating: "0", count: 3 - String(fraction).count) + String(fraction)
        if offsetMinutes == 0 {
            text += "Z"
        } else {
            let magnitude = abs(offsetMinutes)
            text += (offsetMinutes < 0 ? "-" : "+") + two(magnitude / 60) + ":" + two(magnitude % 60)
        }
        return text
    }

    private func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    private func four(_ value: Int) -> String {
        let text = String(abs(value))
        return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, 4 - text.count)) + text
    }
}

/// RFC 5322 §3.3 dates (`Date:`), leniently: the day name optional, two- and four-digit years,
/// seconds optional, numeric zones and the obsolete names (UT, GMT, EST…).
enum MessageDate {
    /// Parses a `Date:` value, or nil when it is not a date.
    static func parse(_ value: String) -> ZonedInstant? {
        // Comments and the day name are dropped; the rest is split at blanks and commas.
        var text = ""
        var depth = 0
        for character in value.prefix(256) {
            if character == "(" {
                depth += 1
            } else if character == ")" {
                depth = max(0, depth - 1)
            } else if depth == 0 {
                text.append(character == "," ? " " : character)
            }
        }
        var words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }).map(String.init)
        if let first = words.first, first.first?.isLetter == true, MailDate.month(Array(first.utf8)) == nil {
            words.removeFirst()
        }
        guard words.count >= 4, let day = Int(words[0]), (1...31).contains(day),
            let month = MailDate.month(Array(words[1].prefix(3).utf8)), var year = Int(words[2])
        else { return nil }
        if words[2].count <= 2 { year += year < 50 ? 2000 : 1900 } else if words[2].count == 3 { year += 1900 }
        guard (1...9999).contains(year) else { return nil }
        let clock = words[3].split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 2 || clock.count == 3, let hour = Int(clock[0]), let minute = Int(clock[1]),
            (0...23).contains(hour), (0...59).contains(minute)
        else { return nil }
        let second = clock.count == 3 ? Int(clock[2]) : 0
        guard let second, (0...60).contains(second) else { return nil }
        let offset = words.count > 4 ? zoneOffset(words[4]) ?? 0 : 0
        let days = Int64(MailDate.days(year: year, month: month, day: day))
        let local = days * 86400 + Int64(hour * 3600 + minute * 60 + min(second, 59))
        return ZonedInstant(milliseconds: (local - Int64(offset) * 60) * 1000, offsetMinutes: offset)
    }

    /// `+0100`, `-0430`, `UT`, `GMT`, `Z`, `EST`… as minutes east of UTC.
    static func zoneOffset(_ zone: String) -> Int? {
        let bytes = Array(zone.utf8)
        if bytes.count == 5, bytes[0] == UInt8(ascii: "+") || bytes[0] == UInt8(ascii: "-"),
            let hours = Int(String(decoding: bytes[1...2], as: UTF8.self)),
            let minutes = Int(String(decoding: bytes[3...4], as: UTF8.self)), hours < 24, minutes < 60
        {
            let value = hours * 60 + minutes
            return bytes[0] == UInt8(ascii: "-") ? -value : value
        }
        let names = [
            "UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420,
            "MDT": -360, "PST": -480, "PDT": -420,
        ]
        return names[zone.uppercased()]
    }
}

/// The dates `after:` and `before:` take, as Mailpit's date parser reads the common forms:
/// `2026-04-01`, `2026/04/01`, `04/01/2026` (month first, as Mailpit's documentation warns),
/// each with an optional ` 15:04` or ` 15:04:05`, RFC 3339 (`2026-04-01T15:04:05Z`), and Unix
/// seconds. Dates without a zone are UTC (Mailpit uses the server's zone or `tz`).
enum SearchDate {
    /// Milliseconds since 1970, or nil when the text is not such a date.
    static func milliseconds(_ text: String) -> Int64? {
        let bytes = Array(text.utf8.prefix(64))
        guard !bytes.isEmpty else { return nil }
        if bytes.allSatisfy({ $0.asciiDigit != nil }) {
            guard bytes.count >= 9, bytes.count <= 13, let number = Int64(String(decoding: bytes, as: UTF8.self)) else { return nil }
            return number > 1_000_000_000_000 ? number : number * 1000
        }
        var scanner = DigitScanner(bytes)
        let year: Int
        let month: Int
        let day: Int
        guard let first = scanner.number(maxDigits: 4) else { return nil }
        if first.digits == 4 {
            guard let separator = scanner.next(), separator == UInt8(ascii: "-") || separator == UInt8(ascii: "/"),
                let m = scanner.number(maxDigits: 2), scanner.next() == separator, let d = scanner.number(maxDigits: 2)
            else { return nil }
            (year, month, day) = (first.value, m.value, d.value)
        } else {
            guard first.digits <= 2, scanner.next() == UInt8(ascii: "/"), let d = scanner.number(maxDigits: 2),
                scanner.next() == UInt8(ascii: "/"), let y = scanner.number(maxDigits: 4), y.digits == 4
            else { return nil }
            (year, month, day) = (y.value, first.value, d.value)
        }
        guard (1...12).contains(month), (1...31).contains(day), year >= 1 else { return nil }
        var seconds = 0
        var offset = 0
        if let separator = scanner.next() {
            guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t"),
                let hour = scanner.number(maxDigits: 2), scanner.next() == UInt8(ascii: ":"),
                let minute = scanner.number(maxDigits: 2), hour.value < 24, minute.value < 60
            else { return nil }
            seconds = hour.value * 3600 + minute.value * 60
            if scanner.peek() == UInt8(ascii: ":") {
                _ = scanner.next()
                guard let second = scanner.number(maxDigits: 2), second.value < 61 else { return nil }
                seconds += min(second.value, 59)
                if scanner.peek() == UInt8(ascii: ".") {
                    _ = scanner.next()
                    guard scanner.number(maxDigits: 9) != nil else { return nil }
                }
            }
            if let zone = scanner.next() {
                switch zone {
                case UInt8(ascii: "Z"), UInt8(ascii: "z"): break
                case UInt8(ascii: "+"), UInt8(ascii: "-"):
                    guard let hours = scanner.number(maxDigits: 2), scanner.next() == UInt8(ascii: ":"),
                        let minutes = scanner.number(maxDigits: 2), hours.value < 24, minutes.value < 60
                    else { return nil }
                    offset = (hours.value * 60 + minutes.value) * (zone == UInt8(ascii: "-") ? -1 : 1)
                default: return nil
                }
            }
        }
        guard scanner.atEnd else { return nil }
        let days = Int64(MailDate.days(year: year, month: month, day: day))
        return (days * 86400 + Int64(seconds) - Int64(offset) * 60) * 1000
    }

    /// Reads ASCII digits and single bytes.
    struct DigitScanner {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }

        func peek() -> UInt8? { atEnd ? nil : bytes[index] }

        mutating func next() -> UInt8? {
            guard !atEnd else { return nil }
            defer { index += 1 }
            return bytes[index]
        }

        /// One to `maxDigits` digits.
        mutating func number(maxDigits: Int) -> (value: Int, digits: Int)? {
            var value = 0
            var digits = 0
            while digits < maxDigits, let digit = peek()?.asciiDigit {
                value = value * 10 + digit
                digits += 1
                index += 1
            }
            return digits == 0 ? nil : (value, digits)
        }
    }
}
