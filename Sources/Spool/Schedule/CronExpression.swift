import Foundation

/// A cron expression: when a schedule fires, as wall-clock times in a time zone.
///
/// Syntax (Vixie cron, plus an optional leading seconds field):
/// ```
/// ┌──────────── second        0-59       (optional: 6 fields; with 5 fields it is 0)
/// │ ┌────────── minute        0-59
/// │ │ ┌──────── hour          0-23
/// │ │ │ ┌────── day of month  1-31
/// │ │ │ │ ┌──── month         1-12 or JAN-DEC
/// │ │ │ │ │ ┌── day of week   0-7 or SUN-SAT (0 and 7 are Sunday)
/// * * * * * *
/// ```
/// Each field is `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from `a` to the
/// field's end), or a comma-separated list of those. Names are case-insensitive. `@yearly`
/// (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`) and `@hourly` stand for
/// `0 0 1 1 *`, `0 0 1 * *`, `0 0 * * 0`, `0 0 * * *` and `0 * * * *`.
///
/// Days follow Vixie cron: when both day fields are restricted, a day matches if *either* does
/// (`0 0 13 * FRI` runs on every 13th and on every Friday); when either day field is written
/// starting with `*` (`*`, `*/2`), a day must match both.
///
/// Parsing rejects, with a ``CronExpressionError`` naming the field and the token, anything
/// outside this syntax (`L`, `W`, `#`, `?`, wrap-around ranges like `FRI-MON`, `@reboot`) and
/// expressions that can never fire (`0 0 30 2 *`). Equality is by meaning: `@daily` equals
/// `0 0 * * *`, and `0 0 * * 7` equals `0 0 * * SUN`.
///
/// See ``next(after:in:)`` for how daylight-saving changes are handled.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The selected values of each field, as bit sets (bit `n` set when value `n` is selected).
    let seconds: UInt64
    let minutes: UInt64
    let hours: UInt64
    /// Bits 1...31.
    let daysOfMonth: UInt64
    /// Bits 1...12.
    let months: UInt64
    /// Bits 0...6, Sunday is 0.
    let daysOfWeek: UInt64
    /// The day fields as written began with `*` (Vixie's rule for combining them).
    let dayOfMonthIsStar: Bool
    let dayOfWeekIsStar: Bool

    /// The expression as written, with whitespace between fields collapsed to one space.
    public let description: String

    /// Parses `text`.
    ///
    /// - Throws: ``CronExpressionError`` naming the field and the bad token (or, for a wrong
    ///   number of fields or an unknown `@` name, the whole expression).
    /// - Complexity: linear in the length of `text`.
    public init(_ text: String) throws {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
        let normalized = words.joined(separator: " ")
        var fields = words.map(String.init)
        if fields.count == 1, let first = fields.first, first.hasPrefix("@") {
            guard let expansion = Self.macros[first.lowercased()] else {
                throw CronExpressionError(
                    expression: normalized, field: nil, token: first,
                    reason: "is not a known name (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)"
                )
            }
            fields = expansion.split(separator: " ").map(String.init)
        }
        guard fields.count == 5 || fields.count == 6 else {
            throw CronExpressionError(
                expression: normalized, field: nil, token: normalized,
                reason: "has \(fields.count) fields; expected 5 (minute hour day-of-month month day-of-week) or 6 (with a leading second)"
            )
        }
        if fields.count == 5 { fields.insert("0", at: 0) }
        var masks: [UInt64] = []
        for (spec, field) in zip(CronField.all, fields) {
            masks.append(try spec.parse(field, expression: normalized))
        }
        seconds = masks[0]
        minutes = masks[1]
        hours = masks[2]
        daysOfMonth = masks[3]
        months = masks[4]
        daysOfWeek = masks[5]
        dayOfMonthIsStar = fields[3].hasPrefix("*")
        dayOfWeekIsStar = fields[5].hasPrefix("*")
        description = normalized
        if let impossible = neverFires(dayOfMonthField: fields[3]) {
            throw impossible
        }
    }

    private static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// Days must match both day fields (rather than either).
    private var daysMustMatchBoth: Bool { dayOfMonthIsStar || dayOfWeekIsStar }

    /// An error when no selected month has a selected day of the month and the weekday cannot
    /// rescue it (`0 0 30 2 *`); nil otherwise. Any weekday occurs in every month, and each
    /// date falls on each weekday within 28 years, so these are the only expressions that never
    /// fire.
    private func neverFires(dayOfMonthField: String) -> CronExpressionError? {
        guard daysMustMatchBoth else { return nil }
        let longest = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        for month in 1...12 where months & (1 << month) != 0 {
            if daysOfMonth & Self.days(through: longest[month]) != 0 { return nil }
        }
        return CronExpressionError(
            expression: description, field: CronField.dayOfMonth.name, token: dayOfMonthField,
            reason: "never occurs in the selected months, so the expression never fires"
        )
    }

    // MARK: Matching wall-clock times

    /// The selected days of a month, as bits 1...31.
    private func days(year: Int, month: Int) -> UInt64 {
        let count = Civil.daysIn(year: year, month: month)
        let valid = Self.days(through: count)
        var byWeekday = valid
        if daysOfWeek & 0x7F != 0x7F {
            byWeekday = 0
            let firstWeekday = Civil.weekday(days: Civil.days(year: year, month: month, day: 1))
            for weekday in 0..<7 where daysOfWeek & (1 << weekday) != 0 {
                var day = 1 + (weekday - firstWeekday + 7) % 7
                while day <= count {
                    byWeekday |= 1 << day
                    day += 7
                }
            }
        }
        let byDate = daysOfMonth & valid
        return daysMustMatchBoth ? byDate & byWeekday : byDate | byWeekday
    }

    /// Bits 1...count.
    private static func days(through count: Int) -> UInt64 {
        ((1 << (count + 1)) - 1) & ~1
    }

    /// The first selected wall-clock time at or after `wall` (seconds since 1970 on a clock
    /// without time zone), or nil if none within 30 years. Skips by field: a month, day or hour
    /// that does not match is passed over whole, so the cost is a few dozen steps per year
    /// searched, whatever the expression.
    func firstWallTime(atOrAfter wall: Int) -> Int? {
        let startDay = Civil.floorDiv(wall, 86_400)
        let secondOfDay = wall - startDay * 86_400
        var (year, month, day) = Civil.date(days: startDay)
        var hour = secondOfDay / 3600
        var minute = secondOfDay % 3600 / 60
        var second = secondOfDay % 60
        let lastYear = year + 30
        while year <= lastYear {
            guard let nextMonth = months.nextBit(from: month) else {
                (year, month, day, hour, minute, second) = (year + 1, 1, 1, 0, 0, 0)
                continue
            }
            if nextMonth != month { (month, day, hour, minute, second) = (nextMonth, 1, 0, 0, 0) }
            guard let nextDay = days(year: year, month: month).nextBit(from: day) else {
                (month, day, hour, minute, second) = (month + 1, 1, 0, 0, 0)
                continue
            }
            if nextDay != day { (day, hour, minute, second) = (nextDay, 0, 0, 0) }
            guard let nextHour = hours.nextBit(from: hour) else {
                (day, hour, minute, second) = (day + 1, 0, 0, 0)
                continue
            }
            if nextHour != hour { (hour, minute, second) = (nextHour, 0, 0) }
            guard let nextMinute = minutes.nextBit(from: minute) else {
                (hour, minute, second) = (hour + 1, 0, 0)
                continue
            }
            if nextMinute != minute { (minute, second) = (nextMinute, 0) }
            guard let nextSecond = seconds.nextBit(from: second) else {
                (minute, second) = (minute + 1, 0)
                continue
            }
            return Civil.days(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + nextSecond
        }
        return nil
    }

    // MARK: Next firing time

    /// True when the expression runs in every hour (its hour field selects all 24): it then
    /// follows the clock through daylight-saving changes, like an interval.
    public var followsClock: Bool { hours & 0xFF_FFFF == 0xFF_FFFF }

    /// The first time strictly after `date` at which the expression fires in `timeZone`, or nil
    /// if there is none within 30 years (only for dates near the end of the calendar: parsing
    /// rejects expressions that never fire).
    ///
    /// Daylight-saving changes (and any other change of the zone's UTC offset):
    /// - An expression with a fixed set of hours (any hour field but `*`) names wall-clock
    ///   times, and each matching wall-clock time fires exactly once: a time that does not
    ///   exist (skipped by a spring-forward change, `30 2 * * *` in New York on the day clocks
    ///   go from 02:00 to 03:00) fires at the first instant after the gap (03:00 new time), and
    ///   several such times in one gap fire once together; a time that occurs twice (repeated
    ///   by a fall-back change) fires at its first occurrence only.
    /// - An expression that runs every hour (``followsClock``, `*/15 * * * *`, `0 * * * *`)
    ///   fires whenever the clock on the wall shows a matching time: nothing extra for the
    ///   skipped hour, and again in the repeated hour, so its runs stay evenly spaced in real
    ///   time.
    ///
    /// Cost: a few dozen integer steps per year searched, plus one or two time-zone lookups
    /// (offset and next transition) per offset change crossed; no minute-by-minute scan.
    public func next(after date: Date, in timeZone: TimeZone) -> Date? {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        guard seconds.isFinite, abs(seconds) < 200_000_000_000 else { return nil }
        let after = Int(seconds)
        let zone = ZoneOffsets(timeZone)
        var offset = zone.offset(at: after)
        // Wall times before `searchFrom` have fired (or cannot fire) by `after`.
        var searchFrom = after + offset + 1
        var segmentStart = after
        // The first offset change after `after`; for fixed-hour expressions, also the last one
        // within a day before it, since a fall-back change then means the repeated wall times
        // have fired already in their first occurrence.
        var segmentEnd: Int?
        if followsClock {
            segmentEnd = zone.transition(after: after)
        } else {
            var change = zone.transition(after: after - 86_400)
            var lastChange: Int?
            while let instant = change, instant <= after {
                lastChange = instant
                change = zone.transition(after: instant)
            }
            segmentEnd = change
            if let lastChange {
                searchFrom = max(searchFrom, lastChange + zone.offset(at: lastChange - 1))
            }
        }
        var found: (from: Int, wall: Int)?
        // Each round crosses one offset change; 30 years hold at most a few hundred of them.
        for _ in 0..<400 {
            let wall: Int
            if let found, found.from <= searchFrom, found.wall >= searchFrom {
                wall = found.wall
            } else {
                guard let match = firstWallTime(atOrAfter: searchFrom) else { return nil }
                wall = match
                found = (searchFrom, match)
            }
            guard let end = segmentEnd, wall >= end + offset else {
                // In this stretch of constant offset; a wall time in a spring-forward gap
                // (before the stretch's first wall time) fires at the stretch's start.
                return Date(timeIntervalSince1970: Double(max(wall - offset, segmentStart)))
            }
            let newOffset = zone.offset(at: end)
            // Fixed-hour expressions resume where the old offset's wall clock stopped (so gap
            // times fire, and repeated times do not fire twice); the others where the new one starts.
            searchFrom = followsClock ? end + newOffset : max(searchFrom, end + offset)
            offset = newOffset
            segmentStart = end
            segmentEnd = zone.transition(after: end)
        }
        return nil
    }

    /// The next `count` firing times after `date`, in order (fewer if the expression runs out).
    /// Cost: `count` calls of ``next(after:in:)``.
    public func next(after date: Date, in timeZone: TimeZone, count: Int) -> [Date] {
        var dates: [Date] = []
        dates.reserveCapacity(max(0, count))
        var last = date
        while dates.count < count, let run = next(after: last, in: timeZone) {
            dates.append(run)
            last = run
        }
        return dates
    }

    public static func == (lhs: CronExpression, rhs: CronExpression) -> Bool {
        lhs.seconds == rhs.seconds && lhs.minutes == rhs.minutes && lhs.hours == rhs.hours
            && lhs.daysOfMonth == rhs.daysOfMonth && lhs.months == rhs.months && lhs.daysOfWeek == rhs.daysOfWeek
            && lhs.daysMustMatchBoth == rhs.daysMustMatchBoth
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(seconds)
        hasher.combine(minutes)
        hasher.combine(hours)
        hasher.combine(daysOfMonth)
        hasher.combine(months)
        hasher.combine(daysOfWeek)
        hasher.combine(daysMustMatchBoth)
    }
}

/// A cron expression could not be parsed.
///
/// ```
/// invalid cron expression '0 25 * * *': hour '25' is out of range 0-23
/// ```
public struct CronExpressionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The expression as given (whitespace collapsed).
    public let expression: String
    /// The field at fault: `second`, `minute`, `hour`, `day-of-month`, `month` or
    /// `day-of-week`; nil when the expression as a whole is wrong (the number of fields, an
    /// unknown `@` name).
    public let field: String?
    /// The text at fault.
    public let token: String
    /// What is wrong with it.
    public let reason: String

    public var description: String {
        "invalid cron expression '\(expression)': " + (field.map { "\($0) " } ?? "") + "'\(token)' \(reason)"
    }
}

/// One field of a cron expression: its range and names.
struct CronField: Sendable {
    let name: String
    let lowest: Int
    /// The highest value written (7 for the day of week, which means Sunday).
    let highest: Int
    /// Where `*` and `a/n` end (6 for the day of week).
    let end: Int
    let names: [String]

    static let second = CronField(name: "second", lowest: 0, highest: 59, end: 59, names: [])
    static let minute = CronField(name: "minute", lowest: 0, highest: 59, end: 59, names: [])
    static let hour = CronField(name: "hour", lowest: 0, highest: 23, end: 23, names: [])
    static let dayOfMonth = CronField(name: "day-of-month", lowest: 1, highest: 31, end: 31, names: [])
    static let month = CronField(
        name: "month", lowest: 1, highest: 12, end: 12,
        names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
    static let dayOfWeek = CronField(
        name: "day-of-week", lowest: 0, highest: 7, end: 6, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
    )
    static let all = [second, minute, hour, dayOfMonth, month, dayOfWeek]

    /// The field's selected values as a bit set.
    func parse(_ text: String, expression: String) throws -> UInt64 {
        func failure(_ token: some StringProtocol, _ reason: String) -> CronExpressionError {
            CronExpressionError(expression: expression, field: name, token: String(token), reason: reason)
        }
        var mask: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw failure(text, "has an empty item in its list") }
            var range = item
            var step = 1
            if let slash = item.firstIndex(of: "/") {
                let stepText = item[item.index(after: slash)...]
                guard let value = Self.number(stepText), value > 0 else {
                    throw failure(item, "has a step that is not a whole number above 0")
                }
                step = value
                range = item[..<slash]
            }
            let first: Int
            let last: Int
            if range == "*" {
                (first, last) = (lowest, end)
            } else if let dash = range.firstIndex(of: "-") {
                first = try value(range[..<dash], in: item, failure)
                last = try value(range[range.index(after: dash)...], in: item, failure)
                guard first <= last else {
                    throw failure(item, "is a range whose start is after its end (ranges do not wrap around)")
                }
            } else {
                first = try value(range, in: item, failure)
                last = item.contains("/") ? end : first
            }
            for value in stride(from: first, through: last, by: step) {
                mask |= 1 << (name == CronField.dayOfWeek.name ? value % 7 : value)
            }
        }
        return mask
    }

    private func value(
        _ text: Substring, in item: Substring, _ failure: (Substring, String) -> CronExpressionError
    ) throws -> Int {
        if let number = Self.number(text) {
            guard (lowest...highest).contains(number) else {
                throw failure(text, "is out of range \(lowest)-\(highest)")
            }
            return number
        }
        if let index = names.firstIndex(of: text.uppercased()) {
            return index + lowest
        }
        if names.isEmpty {
            throw failure(item, "is not a number, a range (a-b), a step (*/n) or *")
        }
        throw failure(item, "is not a number \(lowest)-\(highest) or a name (\(names.first!)-\(names.last!))")
    }

    /// A whole number written in ASCII digits only (no sign), or nil.
    private static func number(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 4, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(text)
    }
}

/// Calendar arithmetic on the proleptic Gregorian calendar, in days since 1970-01-01
/// (after H. Hinnant's `days_from_civil`): pure integer maths, no `Calendar`.
enum Civil {
    static func floorDiv(_ value: Int, _ divisor: Int) -> Int {
        value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
    }

    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yearOfEra = y - era * 400
        let shiftedMonth = (month + 9) % 12
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func date(days: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = floorDiv(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// 0 for Sunday ... 6 for Saturday (1970-01-01 was a Thursday).
    static func weekday(days: Int) -> Int {
        ((days % 7) + 11) % 7
    }

    static func isLeap(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// A time zone's UTC offsets and offset changes, in whole seconds since 1970.
struct ZoneOffsets {
    let zone: TimeZone

    init(_ zone: TimeZone) {
        self.zone = zone
    }

    /// Seconds to add to UTC for the wall clock at `instant`.
    func offset(at instant: Int) -> Int {
        zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant)))
    }

    /// The first instant after `instant` at which the offset (or daylight-saving state) changes.
    func transition(after instant: Int) -> Int? {
        guard let date = zone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: Double(instant))) else {
            return nil
        }
        let next = Int(date.timeIntervalSince1970.rounded(.up))
        return next > instant ? next : nil
    }
}

fileprivate extension UInt64 {
    /// The lowest set bit at or above `index`, or nil.
    func nextBit(from index: Int) -> Int? {
        guard index < 64 else { return nil }
        let rest = self >> UInt64(Swift.max(0, index))
        return rest == 0 ? nil : Swift.max(0, index) + rest.trailingZeroBitCount
    }
}
