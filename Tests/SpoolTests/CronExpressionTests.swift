import Foundation
import Spool
import Testing

/// An instant written in RFC 3339 with its offset, so expected times are independent of the
/// code under test.
private func instant(_ text: String) throws -> Date {
    try Date.ISO8601FormatStyle(includingFractionalSeconds: text.contains(".")).parse(text)
}

private func zone(_ identifier: String) throws -> TimeZone {
    try #require(TimeZone(identifier: identifier))
}

@Suite("Cron expression")
struct CronExpressionTests {
    // MARK: Parsing

    static let accepted: [(text: String, equals: String)] = [
        ("* * * * *", "0 * * * * *"),
        ("*/1 * * * *", "* * * * *"),
        ("0 0 * * *", "@daily"),
        ("@midnight", "@daily"),
        ("@DAILY", "@daily"),
        ("@annually", "0 0 1 1 *"),
        ("@yearly", "0 0 1 JAN *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * SUN"),
        ("@hourly", "0 * * * *"),
        ("0 0 * * 7", "0 0 * * 0"),
        ("0 0 * * sun", "0 0 * * 7"),
        ("0 0 * * 5-7", "0 0 * * 0,5,6"),
        ("0 0 * * 0-7", "0 0 * * *"),
        ("0 0 * Jan-Mar *", "0 0 * 1,2,3 *"),
        ("0 0 * * mon-FRI", "0 0 * * 1-5"),
        ("0 22 * * 1-5/2", "0 22 * * MON,WED,FRI"),
        ("5/20 * * * *", "5,25,45 * * * *"),
        ("*/20 * * * *", "0-59/20 * * * *"),
        ("0,30 9-17 * * *", "0,30 9,10,11,12,13,14,15,16,17 * * *"),
        ("00 09 01 01 *", "0 9 1 1 *"),
        ("*/15 */5 * * * *", "0,15,30,45 0,5,10,15,20,25,30,35,40,45,50,55 * * * *"),
        ("59 59 23 31 12 *", "59 59 23 31 DEC *"),
        ("0 0 29 2 *", "0 0 29 FEB *"),
        ("  0\t9  * *   MON-FRI ", "0 9 * * 1-5"),
    ]

    @Test(arguments: accepted)
    func acceptsAndMeansTheSameAs(_ pair: (text: String, equals: String)) throws {
        let expression = try CronExpression(pair.text)
        let same = try CronExpression(pair.equals)
        #expect(expression == same)
        #expect(expression.hashValue == same.hashValue)
    }

    static let rejected: [(text: String, field: String?, token: String)] = [
        ("", nil, ""),
        ("* * * *", nil, "* * * *"),
        ("* * * * * * *", nil, "* * * * * * *"),
        ("@every 5m", nil, "@every 5m"),
        ("@reboot", nil, "@reboot"),
        ("@fortnightly", nil, "@fortnightly"),
        ("61 * * * * *", "second", "61"),
        ("60 * * * *", "minute", "60"),
        ("* 24 * * *", "hour", "24"),
        ("* * 0 * *", "day-of-month", "0"),
        ("* * 32 * *", "day-of-month", "32"),
        ("* * * 0 *", "month", "0"),
        ("* * * 13 *", "month", "13"),
        ("* * * * 8", "day-of-week", "8"),
        ("*/0 * * * *", "minute", "*/0"),
        ("*/x * * * *", "minute", "*/x"),
        ("*/ * * * *", "minute", "*/"),
        ("5-1 * * * *", "minute", "5-1"),
        ("1-2-3 * * * *", "minute", "1-2-3"),
        ("-1 * * * *", "minute", "-1"),
        ("+5 * * * *", "minute", "+5"),
        ("a * * * *", "minute", "a"),
        ("1,,2 * * * *", "minute", "1,,2"),
        ("1, * * * *", "minute", "1,"),
        ("L * * * *", "minute", "L"),
        ("* * L * *", "day-of-month", "L"),
        ("* * 15W * *", "day-of-month", "15W"),
        ("* * * FOO *", "month", "FOO"),
        ("* * * JANUARY *", "month", "JANUARY"),
        ("* * * * FUN", "day-of-week", "FUN"),
        ("* * * * MON#2", "day-of-week", "MON#2"),
        ("* * * * ?", "day-of-week", "?"),
        ("* * * * FRI-MON", "day-of-week", "FRI-MON"),
        ("* * * * MON-9", "day-of-week", "9"),
        ("0 0 30 2 *", "day-of-month", "30"),
        ("0 0 31 4,6,9,11 *", "day-of-month", "31"),
        ("0 0 */2 * *x", "day-of-week", "*x"),
    ]

    @Test(arguments: rejected)
    func rejectsNamingTheFieldAndToken(_ bad: (text: String, field: String?, token: String)) {
        let error = #expect(throws: CronExpressionError.self) { try CronExpression(bad.text) }
        #expect(error?.field == bad.field)
        #expect(error?.token == bad.token)
    }

    @Test func errorsReadAsASentence() {
        let error = #expect(throws: CronExpressionError.self) { try CronExpression("0 25 * * *") }
        #expect(error?.description == "invalid cron expression '0 25 * * *': hour '25' is out of range 0-23")
        let count = #expect(throws: CronExpressionError.self) { try CronExpression("* *") }
        #expect(
            count?.description
                == "invalid cron expression '* *': '* *' has 2 fields; expected 5 (minute hour day-of-month month day-of-week) or 6 (with a leading second)"
        )
    }

    @Test func describesItselfAsWritten() throws {
        #expect(try CronExpression("  0   9 * *  MON-FRI ").description == "0 9 * * MON-FRI")
        #expect(try CronExpression("@hourly").description == "@hourly")
    }

    @Test func eitherDayFieldUnlessOneIsAStar() throws {
        #expect(try CronExpression("0 0 13 * FRI") != CronExpression("0 0 13 * *"))
        // A restricted day of week with `*` as day of month is that weekday only.
        #expect(try CronExpression("0 0 * * FRI") != CronExpression("0 0 13 * FRI"))
        // `*/1` starts with `*`: both fields must match (Vixie cron).
        #expect(try CronExpression("0 0 */1 * FRI") == CronExpression("0 0 * * FRI"))
    }

    // MARK: Next times in UTC

    static let nextInUTC: [(text: String, after: String, expected: [String])] = [
        ("* * * * *", "2024-01-01T00:00:00Z", ["2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"]),
        ("* * * * *", "2024-01-01T00:00:59.999Z", ["2024-01-01T00:01:00Z"]),
        ("* * * * * *", "2024-01-01T00:00:00.500Z", ["2024-01-01T00:00:01Z", "2024-01-01T00:00:02Z"]),
        ("*/20 * * * * *", "2024-01-01T00:00:00Z", ["2024-01-01T00:00:20Z", "2024-01-01T00:00:40Z", "2024-01-01T00:01:00Z"]),
        (
            "*/15 * * * *", "2024-01-01T00:07:00Z",
            ["2024-01-01T00:15:00Z", "2024-01-01T00:30:00Z", "2024-01-01T00:45:00Z", "2024-01-01T01:00:00Z"]
        ),
        (
            "5/20 * * * *", "2024-01-01T00:00:00Z",
            ["2024-01-01T00:05:00Z", "2024-01-01T00:25:00Z", "2024-01-01T00:45:00Z", "2024-01-01T01:05:00Z"]
        ),
        ("0 9 * * MON-FRI", "2024-01-05T10:00:00Z", ["2024-01-08T09:00:00Z", "2024-01-09T09:00:00Z"]),
        (
            "0 22 * * 1-5/2", "2024-01-01T00:00:00Z",
            ["2024-01-01T22:00:00Z", "2024-01-03T22:00:00Z", "2024-01-05T22:00:00Z", "2024-01-08T22:00:00Z"]
        ),
        (
            "0 0 * * 5-7", "2024-01-01T00:00:00Z",
            ["2024-01-05T00:00:00Z", "2024-01-06T00:00:00Z", "2024-01-07T00:00:00Z", "2024-01-12T00:00:00Z"]
        ),
        ("0 12 * * 7", "2024-01-01T00:00:00Z", ["2024-01-07T12:00:00Z", "2024-01-14T12:00:00Z"]),
        ("30 4 1,15 * *", "2024-01-01T05:00:00Z", ["2024-01-15T04:30:00Z", "2024-02-01T04:30:00Z"]),
        (
            "0 0 31 * *", "2024-01-31T00:00:00Z",
            ["2024-03-31T00:00:00Z", "2024-05-31T00:00:00Z", "2024-07-31T00:00:00Z", "2024-08-31T00:00:00Z"]
        ),
        ("0 0 1 JAN,jul *", "2024-01-01T00:00:00Z", ["2024-07-01T00:00:00Z", "2025-01-01T00:00:00Z"]),
        (
            "0 0 13 * FRI", "2024-01-01T00:00:00Z",
            ["2024-01-05T00:00:00Z", "2024-01-12T00:00:00Z", "2024-01-13T00:00:00Z", "2024-01-19T00:00:00Z"]
        ),
        ("0 0 */2 * MON", "2024-01-01T00:00:00Z", ["2024-01-15T00:00:00Z", "2024-01-29T00:00:00Z", "2024-02-05T00:00:00Z"]),
        ("@hourly", "2024-01-01T00:30:00Z", ["2024-01-01T01:00:00Z", "2024-01-01T02:00:00Z"]),
        ("@daily", "2024-02-28T00:00:00Z", ["2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z"]),
        ("@weekly", "2024-01-01T00:00:00Z", ["2024-01-07T00:00:00Z", "2024-01-14T00:00:00Z"]),
        ("@monthly", "2024-01-15T00:00:00Z", ["2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"]),
        ("@yearly", "2024-01-01T00:00:00Z", ["2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"]),
        ("59 23 31 12 *", "2024-12-31T23:59:00Z", ["2025-12-31T23:59:00Z"]),
        ("59 59 23 31 12 *", "2024-12-31T23:59:58Z", ["2024-12-31T23:59:59Z", "2025-12-31T23:59:59Z"]),
        // Leap days: every four years, but 2100 is not a leap year.
        ("0 0 29 2 *", "2024-03-01T00:00:00Z", ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]),
        ("0 0 29 2 *", "2096-03-01T00:00:00Z", ["2104-02-29T00:00:00Z"]),
        ("0 0 29 2 *", "2000-01-01T00:00:00Z", ["2000-02-29T00:00:00Z"]),
        // Feb 29 on a Sunday (both fields must match, `*/7` starts with `*`): 28 years apart.
        ("0 0 29 2 */7", "2004-03-01T00:00:00Z", ["2032-02-29T00:00:00Z"]),
        // Before 1970.
        ("0 0 1 1 *", "1969-06-01T00:00:00Z", ["1970-01-01T00:00:00Z"]),
    ]

    @Test(arguments: nextInUTC)
    func nextTimesInUTC(_ row: (text: String, after: String, expected: [String])) throws {
        let expression = try CronExpression(row.text)
        let runs = expression.next(after: try instant(row.after), in: .gmt, count: row.expected.count)
        #expect(runs == (try row.expected.map(instant)))
    }

    @Test func nextIsStrictlyAfter() throws {
        let expression = try CronExpression("0 0 * * *")
        let midnight = try instant("2024-01-01T00:00:00Z")
        #expect(expression.next(after: midnight, in: .gmt) == (try instant("2024-01-02T00:00:00Z")))
        #expect(expression.next(after: midnight.addingTimeInterval(-0.001), in: .gmt) == midnight)
    }

    // MARK: Daylight-saving changes

    /// New York: 2024-03-10 02:00 EST → 03:00 EDT; 2024-11-03 02:00 EDT → 01:00 EST.
    /// Berlin: 2024-03-31 02:00 CET → 03:00 CEST; 2024-10-27 03:00 CEST → 02:00 CET.
    static let acrossDST: [(zone: String, text: String, after: String, expected: [String])] = [
        // Spring forward: a time in the gap fires once, at the end of the gap.
        ("America/New_York", "30 2 * * *", "2024-03-09T12:00:00-05:00", ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"]),
        ("America/New_York", "30 2 * * *", "2024-03-10T03:00:00-04:00", ["2024-03-11T02:30:00-04:00"]),
        ("America/New_York", "*/30 2 * * *", "2024-03-10T01:00:00-05:00", ["2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"]),
        ("America/New_York", "0 2-3 * * *", "2024-03-10T00:00:00-05:00", ["2024-03-10T03:00:00-04:00", "2024-03-11T02:00:00-04:00"]),
        ("America/New_York", "0 0 * * *", "2024-03-09T12:00:00-05:00", ["2024-03-10T00:00:00-05:00", "2024-03-11T00:00:00-04:00"]),
        // Every hour follows the clock: nothing extra for the skipped hour.
        (
            "America/New_York", "0 * * * *", "2024-03-10T00:30:00-05:00",
            ["2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T04:00:00-04:00"]
        ),
        (
            "America/New_York", "*/20 * * * *", "2024-03-10T01:30:00-05:00",
            ["2024-03-10T01:40:00-05:00", "2024-03-10T03:00:00-04:00", "2024-03-10T03:20:00-04:00"]
        ),
        // Fall back: a repeated time fires at its first occurrence only.
        ("America/New_York", "30 1 * * *", "2024-11-02T12:00:00-04:00", ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"]),
        ("America/New_York", "30 1 * * *", "2024-11-03T01:40:00-04:00", ["2024-11-04T01:30:00-05:00"]),
        ("America/New_York", "30 1 * * *", "2024-11-03T01:10:00-05:00", ["2024-11-04T01:30:00-05:00"]),
        (
            "America/New_York", "*/30 1 * * *", "2024-11-03T00:00:00-04:00",
            ["2024-11-03T01:00:00-04:00", "2024-11-03T01:30:00-04:00", "2024-11-04T01:00:00-05:00"]
        ),
        ("America/New_York", "0 2 * * *", "2024-11-03T00:00:00-04:00", ["2024-11-03T02:00:00-05:00", "2024-11-04T02:00:00-05:00"]),
        // Every hour follows the clock: it runs again in the repeated hour.
        (
            "America/New_York", "0 * * * *", "2024-11-03T00:30:00-04:00",
            ["2024-11-03T01:00:00-04:00", "2024-11-03T01:00:00-05:00", "2024-11-03T02:00:00-05:00"]
        ),
        (
            "America/New_York", "*/30 * * * *", "2024-11-03T01:45:00-04:00",
            ["2024-11-03T01:00:00-05:00", "2024-11-03T01:30:00-05:00", "2024-11-03T02:00:00-05:00"]
        ),
        ("Europe/Berlin", "30 2 * * *", "2024-03-30T12:00:00+01:00", ["2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"]),
        // The gap's times and 03:00 itself are one instant: one run.
        (
            "Europe/Berlin", "0,30 2,3 * * *", "2024-03-31T01:00:00+01:00",
            ["2024-03-31T03:00:00+02:00", "2024-03-31T03:30:00+02:00", "2024-04-01T02:00:00+02:00"]
        ),
        ("Europe/Berlin", "0 3 * * SUN", "2024-03-24T04:00:00+01:00", ["2024-03-31T03:00:00+02:00", "2024-04-07T03:00:00+02:00"]),
        ("Europe/Berlin", "@daily", "2024-03-30T12:00:00+01:00", ["2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00"]),
        ("Europe/Berlin", "30 2 * * *", "2024-10-26T12:00:00+02:00", ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"]),
        ("Europe/Berlin", "30 2 * * *", "2024-10-27T02:10:00+01:00", ["2024-10-28T02:30:00+01:00"]),
        (
            "Europe/Berlin", "*/30 * * * *", "2024-10-27T01:45:00+02:00",
            [
                "2024-10-27T02:00:00+02:00", "2024-10-27T02:30:00+02:00", "2024-10-27T02:00:00+01:00", "2024-10-27T02:30:00+01:00",
                "2024-10-27T03:00:00+01:00",
            ]
        ),
    ]

    @Test(arguments: acrossDST)
    func nextTimesAcrossDaylightSavingChanges(_ row: (zone: String, text: String, after: String, expected: [String])) throws {
        let expression = try CronExpression(row.text)
        let runs = expression.next(after: try instant(row.after), in: try zone(row.zone), count: row.expected.count)
        #expect(runs == (try row.expected.map(instant)))
    }

    @Test(arguments: ["America/New_York", "Europe/Berlin"])
    func aDailyRunInTheSkippedHourFiresOnceOnTheDayOfTheChange(_ identifier: String) throws {
        let timeZone = try zone(identifier)
        let expression = try CronExpression("30 2 * * *")
        let start = try instant(identifier == "Europe/Berlin" ? "2024-03-28T12:00:00Z" : "2024-03-07T12:00:00Z")
        let runs = expression.next(after: start, in: timeZone, count: 7)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let days = runs.map { calendar.component(.day, from: $0) }
        #expect(Set(days).count == 7, "one run per day: \(runs)")
        let changeDay = identifier == "Europe/Berlin" ? 31 : 10
        let onChangeDay = runs.filter { calendar.component(.day, from: $0) == changeDay }
        #expect(onChangeDay.count == 1)
        #expect(onChangeDay.map { calendar.component(.hour, from: $0) * 60 + calendar.component(.minute, from: $0) } == [3 * 60])
    }

    /// For expressions that run every hour, the rule is simply "whenever the wall clock shows a
    /// matching time": check that against a minute-by-minute scan of the weeks around each change.
    @Test(arguments: ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "UTC"])
    func hourlyExpressionsMatchAMinuteByMinuteScan(_ identifier: String) throws {
        let timeZone = try zone(identifier)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let rules: [(text: String, matches: (DateComponents) -> Bool)] = [
            ("*/7 * * * *", { $0.minute! % 7 == 0 }),
            ("13 * * * *", { $0.minute == 13 }),
            ("*/5 * * * MON,SUN", { $0.minute! % 5 == 0 && ($0.weekday == 1 || $0.weekday == 2) }),
            ("0,45 * 1-7,30-31 * *", { ($0.minute == 0 || $0.minute == 45) && ($0.day! <= 7 || $0.day! >= 30) }),
        ]
        let weeks = [
            "2024-03-04T00:00:00Z", "2024-03-27T00:00:00Z", "2024-04-04T00:00:00Z",
            "2024-10-02T00:00:00Z", "2024-10-24T00:00:00Z", "2024-10-31T00:00:00Z",
        ]
        for week in weeks {
            let from = try instant(week)
            let minutes = (1...(7 * 24 * 60)).map { from.addingTimeInterval(Double($0 * 60)) }
            let walls = minutes.map { calendar.dateComponents([.minute, .day, .weekday], from: $0) }
            for rule in rules {
                let expected = zip(minutes, walls).filter { rule.matches($0.1) }.map(\.0)
                let runs = try CronExpression(rule.text).next(after: from, in: timeZone, count: expected.count)
                #expect(runs == expected, "\(rule.text) in \(identifier) from \(week)")
            }
        }
    }

    @Test func runsAreStrictlyIncreasingThroughAYearOfChanges() throws {
        for identifier in ["America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Tehran"] {
            let timeZone = try zone(identifier)
            for text in ["30 2 * * *", "0 1-3 * * *", "*/45 * * * *", "15 1 * * SUN"] {
                let runs = try CronExpression(text).next(after: try instant("2024-01-01T00:00:00Z"), in: timeZone, count: 800)
                #expect(runs.count == 800)
                #expect(zip(runs, runs.dropFirst()).allSatisfy { $0 < $1 }, "\(text) in \(identifier)")
            }
        }
    }

    @Test func aFixedOffsetZoneIsAPlainShift() throws {
        let expression = try CronExpression("0 9 * * *")
        let tokyo = try #require(TimeZone(secondsFromGMT: 9 * 3600))
        #expect(expression.next(after: try instant("2024-06-01T00:00:00Z"), in: tokyo) == (try instant("2024-06-02T00:00:00Z")))
    }
}
