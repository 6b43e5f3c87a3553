import Foundation
import Spool

/// The `schedules` of a settings file (``ServeConfigFile``): periodic jobs `spool serve`
/// enqueues at their ticks.
///
/// ```json
/// "schedules": [
///   {"name": "nightly-report", "cron": "0 3 * * *", "time_zone": "Europe/Berlin",
///    "kind": "http", "payload": {"url": "https://example.com/report"}},
///   {"name": "heartbeat", "every_s": 60, "kind": "spool.noop", "missed": "catch_up_once"}
/// ]
/// ```
/// Each needs a unique `name`, one of `cron` (5 or 6 fields or `@hourly`-style names, in
/// `time_zone`, UTC by default) or `every_s`, and a `kind`; optional: `payload` (any JSON, `{}`
/// by default), `queue`, `priority`, `max_attempts`, `missed` (`skip`, the default, or
/// `catch_up_once`).
enum ScheduleConfig {
    static let keys: Set<String> = [
        "name", "cron", "time_zone", "every_s", "kind", "payload", "queue", "priority", "max_attempts", "missed",
    ]

    /// Parses the `schedules` member; every problem is one ``CLIError`` naming the schedule.
    static func parse(_ value: JSONValue, path: String) throws -> [PeriodicSchedule] {
        guard case .array(let items) = value else { throw CLIError("the config file '\(path)': 'schedules' must be an array of objects") }
        return try items.enumerated().map { index, item in
            guard case .object(let members) = item else {
                throw CLIError("the config file '\(path)': schedule \(index + 1) must be an object")
            }
            let label = string(item["name"]).map { "schedule '\($0)'" } ?? "schedule \(index + 1)"
            do {
                return try schedule(item, names: members.map(\.0))
            } catch let error as CLIError {
                throw CLIError("the config file '\(path)': \(label): \(error.message)")
            }
        }
    }

    private static func schedule(_ object: JSONValue, names: [String]) throws -> PeriodicSchedule {
        if let unknown = names.sorted().first(where: { !keys.contains($0) }) {
            throw CLIError("unknown setting '\(unknown)' (known: \(keys.sorted().joined(separator: ", ")))")
        }
        guard let name = string(object["name"]), !name.isEmpty else { throw CLIError("'name' must be a non-empty string") }
        guard let kind = string(object["kind"]), !kind.isEmpty else { throw CLIError("'kind' must be a non-empty string") }
        let timing: PeriodicSchedule.Timing
        switch (object["cron"], object["every_s"]) {
        case (.string(let cron)?, nil):
            var zone = TimeZone.gmt
            if let zoneName = object["time_zone"] {
                guard let text = string(zoneName), let found = TimeZone(identifier: text) else {
                    throw CLIError(
                        "'time_zone' must be a time zone name such as Europe/Berlin (got \(string(zoneName) ?? zoneName.rendered))")
                }
                zone = found
            }
            do {
                timing = .cron(try CronExpression(cron), in: zone)
            } catch {
                throw CLIError(oneLine(describe(error)))
            }
        case (nil, let seconds?) where number(seconds) != nil:
            guard object["time_zone"] == nil else { throw CLIError("'time_zone' applies to 'cron' only") }
            timing = .every(try ArgumentValues.seconds(number(seconds) ?? 0, "'every_s'", allowZero: false))
        case (nil, nil), (.some, .some):
            throw CLIError("give exactly one of 'cron' (an expression) and 'every_s' (seconds)")
        default:
            throw CLIError("'cron' must be a string and 'every_s' a number of seconds")
        }
        // Stored as written in the file: members in their order, numbers with their digits.
        let payload = object["payload"]?.bytes ?? Array("{}".utf8)
        try BuiltinJobs.validate(kind: kind, payload: payload)
        let missed: MissedTickPolicy
        switch object["missed"].map({ string($0) ?? "" }) ?? "skip" {
        case "skip": missed = .skip
        case "catch_up_once": missed = .catchUpOnce
        default: throw CLIError("'missed' must be \"skip\" or \"catch_up_once\"")
        }
        return PeriodicSchedule(
            name, timing,
            job: ScheduledJob(
                kind: kind, payload: payload, queue: try string(object, "queue"),
                priority: try integer(object, "priority"), maxAttempts: try integer(object, "max_attempts")
            ),
            missedTicks: missed
        )
    }

    /// The text of a JSON string; nil for anything else.
    private static func string(_ value: JSONValue?) -> String? {
        guard case .string(let text)? = value else { return nil }
        return text
    }

    private static func string(_ object: JSONValue, _ key: String) throws -> String? {
        guard let value = object[key] else { return nil }
        guard let text = string(value) else { throw CLIError("'\(key)' must be a string") }
        return text
    }

    /// The member `key` of `object` as a whole number (nil when absent).
    static func integer(_ object: JSONValue, _ key: String) throws -> Int? {
        guard let value = object[key] else { return nil }
        guard let number = number(value), number == number.rounded(), abs(number) < 1e15 else {
            throw CLIError("'\(key)' must be a whole number")
        }
        return Int(number)
    }

    /// A JSON number's value; nil for anything else (booleans included).
    static func number(_ value: JSONValue) -> Double? {
        guard case .number(let text) = value else { return nil }
        return Double(text)
    }
}
