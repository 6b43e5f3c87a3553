import Foundation
import Spool

/// How job fields travel to and from Redis: times as whole milliseconds since 1970, ids in
/// their 26-character form, JSON for errors, progress and metadata.
enum RedisCoding {
    static func millis(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static func millis(_ duration: Duration) -> Int64 {
        Int64((duration.seconds * 1000).rounded())
    }

    static func date(millis: Int64) -> Date {
        Date(timeIntervalSince1970: Double(millis) / 1000)
    }

    static func nanos(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000
    }

    static func arg(_ text: String) -> [UInt8] { Array(text.utf8) }
    static func arg(_ number: Int64) -> [UInt8] { Array(String(number).utf8) }
    static func arg(_ number: Int) -> [UInt8] { Array(String(number).utf8) }
    static func arg(_ date: Date) -> [UInt8] { arg(millis(date)) }
    static func arg(_ id: JobID) -> [UInt8] { Array(id.description.utf8) }

    /// One failed attempt as the scripts store it (`at` in milliseconds).
    struct StoredError: Codable {
        var attempt: Int
        var at: Double
        var message: String
        var reason: String
    }

    static func encode(_ error: JobAttemptError) throws -> [UInt8] {
        Array(try JSONEncoder().encode(StoredError(attempt: error.attempt, at: Double(millis(error.at)), message: error.message, reason: error.reason)))
    }

    static func decodeErrors(_ bytes: [UInt8]) throws -> [JobAttemptError] {
        guard !bytes.isEmpty else { return [] }
        // An empty Lua table encodes as `{}`.
        if bytes == Array("{}".utf8) { return [] }
        return try JSONDecoder().decode([StoredError].self, from: Data(bytes)).map {
            JobAttemptError(attempt: $0.attempt, at: date(millis: Int64($0.at.rounded())), message: $0.message, reason: $0.reason)
        }
    }

    static func encodeMetadata(_ metadata: [String: String]) throws -> [UInt8] {
        if metadata.isEmpty { return Array("{}".utf8) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array(try encoder.encode(metadata))
    }

    static func decodeMetadata(_ bytes: [UInt8]?) throws -> [String: String] {
        guard let bytes, !bytes.isEmpty, bytes != Array("{}".utf8) else { return [:] }
        return try JSONDecoder().decode([String: String].self, from: Data(bytes))
    }

    static func encodeProgress(_ progress: JobProgress?) throws -> [UInt8]? {
        guard let progress else { return nil }
        return Array(try JSONEncoder().encode(progress))
    }

    /// A job record from the fields of its hash (HGETALL).
    static func record(_ fields: [String: [UInt8]]) throws -> JobRecord {
        func text(_ name: String) -> String? { fields[name].map { String(decoding: $0, as: UTF8.self) } }
        func int(_ name: String) throws -> Int64? {
            guard let value = text(name), !value.isEmpty else { return nil }
            guard let number = Int64(value) else { throw corrupt("field '\(name)' is not a number: '\(value.prefix(40))'") }
            return number
        }
        guard let idText = text("id"), let id = JobID(idText) else { throw corrupt("a job hash without a valid id") }
        guard let stateText = text("state"), let state = JobState(rawValue: stateText) else {
            throw corrupt("job \(idText) has an unknown state '\(text("state") ?? "")'")
        }
        return JobRecord(
            id: id, queue: text("queue") ?? "", kind: text("kind") ?? "", payload: JobPayload(bytes: fields["payload"] ?? []),
            priority: Int(try int("prio") ?? 0), state: state, attempt: Int(try int("attempt") ?? 0),
            maxAttempts: Int(try int("max") ?? 1), runAt: date(millis: try int("runat") ?? 0),
            createdAt: date(millis: try int("created") ?? 0), attemptedAt: try int("attempted").map { date(millis: $0) },
            finishedAt: try int("finished").map { date(millis: $0) }, leaseOwner: state == .running ? text("owner") : nil,
            leaseExpiresAt: state == .running ? try int("lease").map { date(millis: $0) } : nil,
            errors: try decodeErrors(fields["errors"] ?? []), uniqueKey: text("ukey"),
            timeout: try int("timeout").map { Duration.nanoseconds($0) }, result: fields["result"],
            progress: try fields["progress"].map { try JSONDecoder().decode(JobProgress.self, from: Data($0)) },
            expiredLeases: Int(try int("expired") ?? 0), metadata: try decodeMetadata(fields["meta"])
        )
    }

    static func corrupt(_ message: String) -> SpoolError {
        SpoolError(code: .storageUnavailable, message: "the Redis job store holds data this build cannot read: \(message)")
    }
}
