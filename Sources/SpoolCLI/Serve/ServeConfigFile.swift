import Foundation
import Logging
import Spool

/// The optional settings file of `spool serve` (`--config FILE` or `SPOOL_CONFIG`): a JSON
/// object with any of these members, each the same as the flag or variable of that name:
///
/// ```json
/// {"database": "postgres://spool:secret@db/app", "host": "0.0.0.0", "port": 9000,
///  "queues": ["default", "mail"], "concurrency": 20, "body_limit": 1048576,
///  "idle_timeout_s": 60, "header_timeout_s": 10, "drain_timeout_s": 25, "log_level": "info",
///  "admin_token": "…", "read_token": "…", "http_allow_hosts": ["hooks.example.com"], "schedules": [...],
///  "limits": {"mail": {"max_running": 5, "rate": "100/1m"}}}
/// ```
/// `schedules` lists periodic jobs (see ``ScheduleConfig``); `limits` sets queues' limits
/// (``QueueLimits``) in the store when the server starts.
///
/// A flag beats the environment, which beats the file, which beats the defaults. An unknown
/// member, a value of the wrong type, malformed JSON or a missing file is refused with one line
/// naming it, before anything is opened.
struct ServeConfigFile: Decodable {
    var database: String?
    var host: String?
    var port: Int?
    var queues: [String]?
    var concurrency: Int?
    var bodyLimit: Int?
    var idleTimeoutSeconds: Double?
    var headerTimeoutSeconds: Double?
    var drainTimeoutSeconds: Double?
    var logLevel: Logger.Level?
    var adminToken: String?
    var readToken: String?
    /// The hosts `http` jobs may send to (see `--http-allow-hosts`).
    var httpAllowHosts: [String]?
    /// Periodic jobs to enqueue (parsed apart: their payloads are any JSON).
    var schedules: [PeriodicSchedule] = []
    /// Queue limits to set at start, by queue.
    var limits: [String: QueueLimits] = [:]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case database, host, port, queues, concurrency
        case bodyLimit = "body_limit"
        case idleTimeoutSeconds = "idle_timeout_s"
        case headerTimeoutSeconds = "header_timeout_s"
        case drainTimeoutSeconds = "drain_timeout_s"
        case logLevel = "log_level"
        case adminToken = "admin_token"
        case readToken = "read_token"
        case httpAllowHosts = "http_allow_hosts"
    }

    /// The variable naming the file when `--config` is absent.
    static let environmentKey = "SPOOL_CONFIG"

    /// The file named by `flag`, else by `SPOOL_CONFIG`, else no settings (every member nil).
    /// - Throws: ``CLIError`` naming the file and what is wrong with it.
    static func load(flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServeConfigFile {
        let named = flag ?? environment[environmentKey].flatMap { $0.isEmpty ? nil : $0 }
        guard let path = named else { return ServeConfigFile() }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError(
                "cannot read the config file '\(path)' (\(FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"))"
            )
        }
        return try parse(data, path: path)
    }

    /// Parses a settings file's bytes (with the package's one JSON parser: strict, a member
    /// name given twice refused); `path` names it in errors.
    static func parse(_ data: Data, path: String) throws -> ServeConfigFile {
        let bytes = Array(data)
        let json: JSONValue
        do throws(JSONSyntaxError) {
            json = try JSONParser.parse(bytes)
        } catch {
            throw CLIError("the config file '\(path)' is not valid JSON: \(error.located(in: bytes))")
        }
        guard case .object(let members) = json else {
            throw CLIError("the config file '\(path)' must hold one JSON object")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue) + ["schedules", "limits"])
        if let unknown = members.map(\.0).sorted().first(where: { !known.contains($0) }) {
            throw CLIError(
                "the config file '\(path)' has an unknown setting '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        do {
            var file = try JSONDecoder().decode(ServeConfigFile.self, from: data)
            if let schedules = json["schedules"] { file.schedules = try ScheduleConfig.parse(schedules, path: path) }
            if let limits = json["limits"] { file.limits = try parseLimits(limits, path: path) }
            return file
        } catch let error as CLIError {
            throw error
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.dataCorrupted(context) {
            let key = context.codingPath.first?.stringValue ?? "?"
            throw CLIError("the config file '\(path)': '\(key)' has the wrong type or value")
        } catch {
            throw CLIError("the config file '\(path)': \(oneLine(describe(error)))")
        }
    }

    /// `{"QUEUE": {"max_running": N, "rate": "COUNT/PERIOD"}, ...}`.
    static func parseLimits(_ value: JSONValue, path: String) throws -> [String: QueueLimits] {
        guard case .object(let queues) = value else {
            throw CLIError("the config file '\(path)': 'limits' must be an object of queue name → {\"max_running\", \"rate\"}")
        }
        var limits: [String: QueueLimits] = [:]
        for (queue, entry) in queues {
            let what = "the config file '\(path)': limits of queue '\(queue)'"
            guard !queue.isEmpty, case .object(let fields) = entry else {
                throw CLIError("\(what) must be an object {\"max_running\", \"rate\"}")
            }
            if let unknown = fields.map(\.0).sorted().first(where: { $0 != "max_running" && $0 != "rate" }) {
                throw CLIError("\(what) has an unknown setting '\(unknown)' (known: max_running, rate)")
            }
            var queueLimits = QueueLimits()
            if let maxRunning = entry["max_running"], maxRunning != .null {
                do { queueLimits.maxRunning = try ScheduleConfig.integer(entry, "max_running") } catch let error as CLIError {
                    throw CLIError("\(what): \(error.message)")
                }
            }
            if let rate = entry["rate"], rate != .null {
                guard case .string(let text) = rate else { throw CLIError("\(what): 'rate' must be a string like \"100/1m\"") }
                do { queueLimits.rate = try QueueLimits.Rate(parsing: text) } catch let error as SpoolError {
                    throw CLIError("\(what): \(error.message)")
                }
            }
            do { try queueLimits.validate() } catch let error as SpoolError { throw CLIError("\(what): \(error.message)") }
            limits[queue] = queueLimits
        }
        return limits
    }
}
