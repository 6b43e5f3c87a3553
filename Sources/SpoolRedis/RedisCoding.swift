import Foundation
import Spool

/// How job fields travel to and from Redis: times as whole milliseconds since 1970, ids in
/// their 26-character form, JSON for errors, progress and metadata.
///
/// Reading back treats the replies as hostile (a corrupt hash, a broken or hostile server):
/// nothing traps. A number out of range saturates as ``StoredValue`` documents, a number Lua
/// wrote as a float (`1e+15`) is read too; an unreadable error history, progress or metadata
/// reads as ``StoredValue/unreadableErrors(_:)``, nil and empty. A missing or invalid id, an
/// unknown state, a field of a record that is not a number, or a reply of the wrong shape
/// throws ``SpoolError`` `storageUnavailable` naming the field and (when known) the job.
enum RedisCoding {
    /// Milliseconds since 1970, saturating at the ends of `Int64`.
    static func millis(_ date: Date) -> Int64 {
        Int64(saturating: (date.timeIntervalSince1970 * 1000).rounded())
    }

    /// Milliseconds, saturating at the ends of `Int64`.
    static func millis(_ duration: Duration) -> Int64 {
        Int64(saturating: (duration.seconds * 1000).rounded())
    }

    /// `a + b`, saturating at the ends of `Int64`.
    static func adding(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : sum
    }

    /// A stored time, clamped to 1970...9999 (``StoredValue/date(millis:)``).
    static func date(millis: Int64) -> Date {
        StoredValue.date(millis: millis)
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

    // MARK: Numbers

    /// A stored number: decimal digits with an optional sign (read from the bytes, without
    /// allocating), or a float as Lua formats one (`1e+15`, `2.5`), rounded and saturating;
    /// nil when the bytes are not a number.
    static func number(_ bytes: some Collection<UInt8>) -> Int64? {
        var value: Int64 = 0
        var negative = false
        var digits = 0
        var plain = true
        for byte in bytes {
            if digits == 0, !negative, byte == UInt8(ascii: "-") {
                negative = true
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 18 else {
                plain = false
                break
            }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            digits += 1
        }
        if plain, digits > 0 { return negative ? -value : value }
        // Rare: more than 18 digits, a float, or not a number.
        guard bytes.count <= 64 else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        if let exact = Int64(text) { return exact }
        guard let double = Double(text), !double.isNaN else { return nil }
        return Int64(saturating: double.rounded())
    }

    /// A number in a reply: an integer, a double (saturating), or a string-like reply holding
    /// one (read as the bytes are); nil otherwise.
    static func number(_ value: RESPValue) -> Int64? {
        switch value {
        case .integer(let integer): return integer
        case .double(let double): return double.isNaN ? nil : Int64(saturating: double.rounded())
        case .bulkString(let bytes), .simpleString(let bytes): return number(bytes)
        default: return value.bytes.flatMap { number($0) }
        }
    }

    /// A string-like reply as text, invalid UTF-8 replaced; nil for other replies.
    static func text(_ value: RESPValue) -> String? {
        switch value {
        case .bulkString(let bytes), .simpleString(let bytes): return String(decoding: bytes, as: UTF8.self)
        default: return value.bytes.map { String(decoding: $0, as: UTF8.self) }
        }
    }

    // MARK: JSON fields

    /// One failed attempt as the scripts store it (`at` in milliseconds).
    struct StoredError: Codable {
        var attempt: Int
        var at: Double
        var message: String
        var reason: String
    }

    static func encode(_ error: JobAttemptError) throws -> [UInt8] {
        try JSONCoding.encode(
            StoredError(attempt: error.attempt, at: Double(millis(error.at)), message: error.message, reason: error.reason))
    }

    /// A stored error history; one that is not a JSON array of errors reads as
    /// ``StoredValue/unreadableErrors(_:)``.
    static func decodeErrors(_ bytes: [UInt8]) -> [JobAttemptError] {
        guard !bytes.isEmpty else { return [] }
        // An empty Lua table encodes as `{}`.
        if bytes == Array("{}".utf8) { return [] }
        guard let stored = try? StoredValue.decodeJSON([StoredError].self, bytes) else {
            return StoredValue.unreadableErrors(String(decoding: bytes.prefix(800), as: UTF8.self))
        }
        return stored.map {
            JobAttemptError(
                attempt: StoredValue.attempt(Int64($0.attempt)), at: date(millis: Int64(saturating: $0.at.rounded())),
                message: $0.message, reason: $0.reason
            )
        }
    }

    static func encodeMetadata(_ metadata: [String: String]) throws -> [UInt8] {
        if metadata.isEmpty { return Array("{}".utf8) }
        return try JSONCoding.encode(metadata)
    }

    /// Stored metadata; a value that is not a JSON object of strings reads as empty.
    static func decodeMetadata(_ bytes: [UInt8]?) -> [String: String] {
        guard let bytes, !bytes.isEmpty, bytes != Array("{}".utf8) else { return [:] }
        return (try? StoredValue.decodeJSON([String: String].self, bytes)) ?? [:]
    }

    static func encodeProgress(_ progress: JobProgress?) throws -> [UInt8]? {
        guard let progress else { return nil }
        return try JSONCoding.encode(progress)
    }

    private struct StoredProgress: Decodable {
        var fraction: Double
        var message: String?
    }

    /// Stored progress; one that is not `{"fraction", "message"?}` reads as nil, a fraction
    /// outside 0...1 as the nearest end.
    static func decodeProgress(_ bytes: [UInt8]?) -> JobProgress? {
        guard let bytes, let stored = try? StoredValue.decodeJSON(StoredProgress.self, bytes) else { return nil }
        return JobProgress(fraction: stored.fraction, message: stored.message)
    }

    // MARK: Replies

    /// The fields of a hash from an `HGETALL` reply (an array of name, value, … or a RESP3
    /// map); nil for an empty hash (no such key). Pairs whose name or value is not string-like
    /// are skipped, and an odd last element is ignored.
    /// - Throws: ``SpoolError`` `storageUnavailable` when the reply is not an aggregate.
    static func hash(_ reply: RESPValue) throws -> [String: [UInt8]]? {
        guard let cells = reply.elements else { throw corrupt("expected a hash, got \(String(describing: reply).prefix(80))") }
        if cells.count < 2 { return nil }
        var fields: [String: [UInt8]] = [:]
        for pair in stride(from: 0, to: cells.count - 1, by: 2) {
            guard let name = cells[pair].string, let value = cells[pair + 1].bytes else { continue }
            fields[name] = value
        }
        return fields
    }

    /// A job record from the fields of its hash (HGETALL).
    /// - Throws: ``SpoolError`` `storageUnavailable` naming the field (and the job, once its id
    ///   is read) for a missing or invalid id, an unknown state, or a numeric field that holds
    ///   something other than a number.
    static func record(_ fields: [String: [UInt8]]) throws -> JobRecord {
        func text(_ name: String) -> String? { fields[name].map { String(decoding: $0, as: UTF8.self) } }
        guard let idText = text("id"), let id = JobID(idText) else {
            throw corrupt("a job hash without a valid id (field 'id' is '\((text("id") ?? "missing").prefix(40))')")
        }
        func int(_ name: String) throws -> Int64? {
            guard let bytes = fields[name], !bytes.isEmpty else { return nil }
            guard let number = number(bytes) else {
                throw corrupt("field '\(name)' is not a number: '\(String(decoding: bytes.prefix(40), as: UTF8.self))'", job: id)
            }
            return number
        }
        guard let stateText = text("state"), let state = JobState(rawValue: stateText) else {
            throw corrupt("field 'state' holds an unknown job state '\((text("state") ?? "").prefix(40))'", job: id)
        }
        return JobRecord(
            id: id, queue: text("queue") ?? "", kind: text("kind") ?? "", payload: JobPayload(bytes: fields["payload"] ?? []),
            priority: StoredValue.priority(try int("prio") ?? 0), state: state, attempt: StoredValue.attempt(try int("attempt") ?? 0),
            maxAttempts: StoredValue.maxAttempts(try int("max") ?? 1), runAt: date(millis: try int("runat") ?? 0),
            createdAt: date(millis: try int("created") ?? 0), attemptedAt: try int("attempted").map { date(millis: $0) },
            finishedAt: try int("finished").map { date(millis: $0) }, leaseOwner: state == .running ? text("owner") : nil,
            leaseExpiresAt: state == .running ? try int("lease").map { date(millis: $0) } : nil,
            errors: decodeErrors(fields["errors"] ?? []), uniqueKey: text("ukey"),
            timeout: try int("timeout").map { StoredValue.timeout(nanos: $0) }, result: fields["result"],
            progress: decodeProgress(fields["progress"]),
            expiredLeases: StoredValue.count(try int("expired") ?? 0), metadata: decodeMetadata(fields["meta"]),
            batch: try batch(text("batch"), job: id), dependencies: try dependencies(text("deps"), job: id),
            dependencyFailure: text("onfail").flatMap(DependencyFailure.init(rawValue:)) ?? .cancel
        )
    }

    /// A job's stored batch; nil when none.
    /// - Throws: ``SpoolError`` `storageUnavailable` naming the field when it is not an id.
    static func batch(_ text: String?, job: JobID) throws -> BatchID? {
        guard let text, !text.isEmpty else { return nil }
        guard let batch = BatchID(text) else { throw corrupt("field 'batch' is not a batch id: '\(text.prefix(40))'", job: job) }
        return batch
    }

    /// A job's stored dependencies (ids, comma-separated); empty when none.
    /// - Throws: ``SpoolError`` `storageUnavailable` naming the field when one is not an id.
    static func dependencies(_ text: String?, job: JobID) throws -> [JobID] {
        guard let text, !text.isEmpty else { return [] }
        return try text.split(separator: ",").prefix(JobInput.maximumDependencies).map { part in
            guard let id = JobID(String(part)) else { throw corrupt("field 'deps' holds '\(part.prefix(40))', not a job id", job: job) }
            return id
        }
    }

    /// The cells per job of a claim reply: id, queue, kind, payload, priority, attempt, max
    /// attempts, created, run-at, timeout (ns, or empty), metadata, batch (or empty).
    static let claimWidth = 12

    /// The jobs of a claim reply (``claimWidth`` cells per job), then whether the claim took
    /// every due job it saw and the earliest scheduled run-at of its queues (the last two
    /// cells; see ``RedisScript/claim``). A cell that is missing or not
    /// a number reads as the default (priority 0, attempt 1, max attempts 1, times 1970, no
    /// timeout, no batch), and numbers saturate: one bad field must not lose the whole claimed
    /// batch.
    /// - Throws: ``SpoolError`` `storageUnavailable` for a reply of the wrong shape or a job
    ///   without a valid id.
    static func claimed(_ reply: RESPValue) throws -> (jobs: [ClaimedJob], exhaustive: Bool, nextDue: Date?) {
        guard let all = reply.elements, all.count >= 2, (all.count - 2) % claimWidth == 0 else {
            throw corrupt("a claim reply of the wrong shape (not \(claimWidth) cells per job and two more)")
        }
        let cells = all.dropLast(2)
        var claimed: [ClaimedJob] = []
        claimed.reserveCapacity(cells.count / claimWidth)
        // The jobs of one claim mostly share a batch (or none): its id is parsed once.
        var lastBatch: (bytes: [UInt8], id: BatchID?) = ([], nil)
        for start in stride(from: 0, to: cells.count, by: claimWidth) {
            let batchBytes = cells[start + 11].bytes ?? []
            if batchBytes != lastBatch.bytes {
                lastBatch = (batchBytes, batchBytes.isEmpty ? nil : BatchID(String(decoding: batchBytes, as: UTF8.self)))
            }
            guard let id = cells[start].string.flatMap({ JobID($0) }) else {
                throw corrupt("a claimed job without a valid id: \(String(describing: cells[start]).prefix(80))")
            }
            let timeout = number(cells[start + 9]).map { StoredValue.timeout(nanos: $0) }
            claimed.append(
                ClaimedJob(
                    id: id, queue: text(cells[start + 1]) ?? "", kind: text(cells[start + 2]) ?? "",
                    payload: JobPayload(bytes: cells[start + 3].bytes ?? []),
                    priority: StoredValue.priority(number(cells[start + 4]) ?? 0),
                    attempt: StoredValue.attempt(number(cells[start + 5]) ?? 1),
                    maxAttempts: StoredValue.maxAttempts(number(cells[start + 6]) ?? 1),
                    createdAt: date(millis: number(cells[start + 7]) ?? 0), runAt: date(millis: number(cells[start + 8]) ?? 0),
                    timeout: timeout, metadata: decodeMetadata(cells[start + 10].bytes),
                    batch: lastBatch.id
                ))
        }
        return (claimed, number(all[all.count - 2]) == 1, number(all[all.count - 1]).map { date(millis: $0) })
    }

    static func corrupt(_ message: String) -> SpoolError {
        SpoolError(code: .storageUnavailable, message: "the Redis job store holds data this build cannot read: \(message)")
    }

    static func corrupt(_ message: String, job: JobID) -> SpoolError {
        SpoolError(
            code: .storageUnavailable, message: "the Redis job store holds data this build cannot read: job \(job): \(message)", job: job)
    }
}
