import Foundation

/// RFC 3339 times, the one time format of the HTTP API: written in UTC with milliseconds
/// (`2026-11-22T18:19:15.123Z`), read to the letter of RFC 3339's grammar (section 5.6).
///
/// Read: `YYYY-MM-DD` `T` `hh:mm:ss` with an optional fraction, then `Z` or a `±hh:mm` offset;
/// `T` and `Z` in either case. The date must be a real calendar day (`2026-02-30` is refused,
/// never rolled into March), hours 00–23, minutes and seconds 00–59, offsets up to ±23:59.
/// A leap second (`:60`) is refused: the instant it names has no place on this clock. A
/// fraction may have any number of digits; it is cut to milliseconds, the precision times are
/// stored and written with. Years 0000–9999 parse; which are accepted is the caller's rule.
package enum RFC3339 {
    private static let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    /// `date` in UTC with milliseconds.
    package static func format(_ date: Date) -> String {
        withFraction.format(date)
    }

    /// A time as read: the instant, and the calendar day and offset it was written with.
    struct Reading: Sendable, Equatable {
        /// The instant, to the millisecond.
        var date: Date
        var year: Int
        var month: Int
        var day: Int
        /// The offset from UTC in seconds, east positive (0 for `Z`, `+00:00` and `-00:00`).
        var offsetSeconds: Int
    }

    /// Why a text is not an RFC 3339 time; `reason` reads after a field's name ("must be ...").
    struct Invalid: Error, Sendable, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }

    /// The instant `text` names, or nil when it is not an RFC 3339 time.
    package static func parse(_ text: String) -> Date? {
        try? read(text).date
    }

    /// Reads `text` as an RFC 3339 date-time.
    /// - Throws: ``Invalid`` saying what is wrong (the syntax, a day the month lacks, a leap second).
    static func read(_ text: String) throws(Invalid) -> Reading {
        let bytes = Array(text.utf8)
        let syntax = Invalid(reason: "must be an RFC 3339 time such as 2026-01-31T12:00:00Z (got '\(text)')")
        var index = 0
        func digits(_ count: Int) throws(Invalid) -> Int {
            guard index + count <= bytes.count else { throw syntax }
            var value = 0
            for byte in bytes[index..<index + count] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { throw syntax }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            index += count
            return value
        }
        func expect(_ allowed: UInt8...) throws(Invalid) {
            guard index < bytes.count, allowed.contains(bytes[index]) else { throw syntax }
            index += 1
        }
        let year = try digits(4)
        try expect(UInt8(ascii: "-"))
        let month = try digits(2)
        try expect(UInt8(ascii: "-"))
        let day = try digits(2)
        try expect(UInt8(ascii: "T"), UInt8(ascii: "t"))
        let hour = try digits(2)
        try expect(UInt8(ascii: ":"))
        let minute = try digits(2)
        try expect(UInt8(ascii: ":"))
        let second = try digits(2)
        var milliseconds = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                if index - start < 3 { milliseconds = milliseconds * 10 + Int(bytes[index] - UInt8(ascii: "0")) }
                index += 1
            }
            guard index > start else { throw syntax }
            for _ in min(index - start, 3)..<3 { milliseconds *= 10 }
        }
        guard index < bytes.count else { throw syntax }
        var offset = 0
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            let offsetHour = try digits(2)
            try expect(UInt8(ascii: ":"))
            let offsetMinute = try digits(2)
            guard offsetHour <= 23, offsetMinute <= 59 else {
                throw Invalid(reason: "has an offset out of range: offsets go from -23:59 to +23:59 (got '\(text)')")
            }
            offset = sign * (offsetHour * 3600 + offsetMinute * 60)
        default:
            throw syntax
        }
        guard index == bytes.count else { throw syntax }

        guard (1...12).contains(month) else { throw Invalid(reason: "names month \(month): months go from 01 to 12 (got '\(text)')") }
        let length = daysIn(month: month, year: year)
        guard (1...length).contains(day) else {
            throw Invalid(reason: "names no real day: \(monthNames[month - 1]) \(year) has \(length) days (got '\(text)')")
        }
        guard hour <= 23, minute <= 59 else { throw Invalid(reason: "names no real time of day (got '\(text)')") }
        guard second <= 59 else {
            throw Invalid(reason: "has second \(second): a leap second (:60) is not accepted, seconds go from 00 to 59 (got '\(text)')")
        }
        let seconds = daysFromCivil(year: year, month: month, day: day) * 86_400 + hour * 3_600 + minute * 60 + second - offset
        let date = Date(timeIntervalSince1970: Double(seconds * 1_000 + milliseconds) / 1_000)
        return Reading(date: date, year: year, month: month, day: day, offsetSeconds: offset)
    }

    private static let monthNames = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
    ]

    /// The days of `month` in `year` of the proleptic Gregorian calendar.
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days from 1970-01-01 to the given day (negative before it), proleptic Gregorian
    /// (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
