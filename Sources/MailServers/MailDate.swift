// SPDX-License-Identifier: Apache-2.0

/// Dates as mail shows them, from seconds since 1970, in UTC: RFC 5322 §3.3 (`Date:` and
/// `Received:` headers) and IMAP's `date-time` (RFC 3501 §9: INTERNALDATE).
public enum MailDate {
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday

    /// The civil date and time of an instant (UTC).
    public struct Parts: Sendable, Equatable {
        public var year: Int
        public var month: Int  // 1...12
        public var day: Int
        public var hour: Int
        public var minute: Int
        public var second: Int
        public var weekday: Int  // 0 = Thursday (as ``MailDate/weekdays``)
    }

    /// Splits seconds since 1970 into UTC date and time (Howard Hinnant's days-to-civil algorithm).
    public static func parts(_ epoch: Int64) -> Parts {
        let days = Int(epoch >= 0 ? epoch / 86400 : (epoch - 86399) / 86400)
        let secondsOfDay = Int(epoch - Int64(days) * 86400)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return Parts(
            year: year,
            month: month,
            day: day,
            hour: secondsOfDay / 3600,
            minute: secondsOfDay / 60 % 60,
            second: secondsOfDay % 60,
            weekday: ((days % 7) + 7) % 7
        )
    }

    /// Days since 1970 of a civil date (the inverse of ``parts(_:)``'s date part).
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// `Thu, 01 Jan 2026 00:00:00 +0000`.
    public static func rfc5322(_ epoch: Int64) -> String {
        let p = parts(epoch)
        return
            "\(weekdays[p.weekday]), \(two(p.day)) \(months[p.month - 1]) \(p.year) \(two(p.hour)):\(two(p.minute)):\(two(p.second)) +0000"
    }

    /// IMAP's `date-time`: `01-Jan-2026 00:00:00 +0000` (the day space-padded as RFC 3501 allows
    /// is not used: two digits).
    public static func imap(_ epoch: Int64) -> String {
        let p = parts(epoch)
        return "\(two(p.day))-\(months[p.month - 1])-\(p.year) \(two(p.hour)):\(two(p.minute)):\(two(p.second)) +0000"
    }

    /// The month number (1...12) of an English three-letter month name, any case.
    public static func month(_ name: some Collection<UInt8>) -> Int? {
        let text = String(decoding: name, as: UTF8.self).lowercased()
        return months.firstIndex { $0.lowercased() == text }.map { $0 + 1 }
    }

    /// Two digits.
    static func two(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }
}
