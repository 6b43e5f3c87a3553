import Foundation
import Logging
import PostgresNIO
import Spool
import SpoolPostgres
import Testing

/// Job rows corrupted on a real server (UPDATEs of values no Spool build writes, within what the
/// column types allow), read back through the driver's public API: nothing traps; a job reads
/// in range, or the read throws a `SpoolError` naming the column and the job.
@Suite("PostgreSQL driver, corrupt rows", .enabled(if: PostgresTestServer.enabled, PostgresTestServer.skipMessage))
struct PostgresCorruptRowTests {
    static let corruptions = [
        "priority = 9223372036854775807", "priority = -9223372036854775808", "attempt = -5", "attempt = 2147483646", "attempt = 2147483647",
        "max_attempts = 0", "max_attempts = 2147483647", "run_at = 9223372036854775807", "created_at = -9223372036854775808",
        "timeout_us = -1", "timeout_us = 9223372036854775807", "expired_leases = 2147483647",
        "errors = '{\"not\": \"an array\"}'", "errors = '[{\"attempt\": 1, \"at\": 1e30, \"message\": \"m\", \"reason\": \"error\"}]'",
        "progress = '{\"fraction\": 1e300}'", "progress = '[1]'", "metadata = '[1, 2]'", "metadata = '{\"a\": 1}'",
        "on_dependency_failure = 'sometimes'", "batch_id = '00000000-0000-0000-0000-000000000000'", "state = 'bogus'",
    ]

    @Test("each corrupt column: the job reads in range, or names the column and job; claims go on")
    func corruptColumns() async throws {
        let schema = PostgresTestServer.schemaName("corrupt")
        let url = try PostgresTestServer.requireURL()
        try await PostgresTestServer.withStorage(schema: schema) { storage in
            let now = Date()
            let jobs = Self.corruptions.map { _ in
                NewJob(
                    queue: "default", kind: "k", payload: JobPayload(bytes: Array("{}".utf8)), runAt: now, createdAt: now,
                    timeout: .seconds(5))
            }
            _ = try await storage.enqueue(jobs, whenFull: .fail, now: now)
            try await PostgresTestServer.withConnection(url: url) { connection in
                let logger = Logger(label: "spool.test")
                try await connection.query(
                    PostgresQuery(unsafeSQL: "ALTER TABLE \"\(schema)\".jobs DROP CONSTRAINT IF EXISTS jobs_state_check"), logger: logger)
                for (job, set) in zip(jobs, Self.corruptions) {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "UPDATE \"\(schema)\".jobs SET \(set) WHERE id = '\(Self.uuid(job.id))'"), logger: logger)
                }
            }
            var refused: [String] = []
            for (job, set) in zip(jobs, Self.corruptions) {
                do {
                    let record = try #require(try await storage.job(job.id))
                    #expect(JobInput.priorityRange.contains(record.priority) && record.attempt >= 0, "\(set)")
                    #expect((1...JobInput.maximumAttempts).contains(record.maxAttempts), "\(set)")
                    #expect(record.runAt <= JobInput.latestRunAt && record.createdAt >= JobInput.earliestRunAt, "\(set)")
                    #expect(record.timeout.map { $0 > .zero && $0 <= JobInput.maximumDuration } ?? true, "\(set)")
                    #expect(record.progress.map { (0...1).contains($0.fraction) } ?? true, "\(set)")
                } catch let error as SpoolError {
                    #expect(error.job == job.id && error.message.contains("column '"), "\(error)")
                    refused.append(set)
                }
            }
            #expect(refused == ["on_dependency_failure = 'sometimes'", "state = 'bogus'"])
            let claimed = try await storage.claim(
                ClaimRequest(demands: [QueueDemand(queue: "default", limit: 100)], worker: "w", lease: .seconds(30)), now: now)
            #expect(
                claimed.allSatisfy {
                    JobInput.priorityRange.contains($0.priority) && (1...JobInput.maximumAttempts).contains($0.maxAttempts)
                })
            #expect(!claimed.isEmpty)
        }
    }

    @Test("a batch's counts out of range read clamped, its state without a trap; an unknown state among its jobs names the batch")
    func corruptBatch() async throws {
        let schema = PostgresTestServer.schemaName("corrupt_batch")
        let url = try PostgresTestServer.requireURL()
        try await PostgresTestServer.withStorage(schema: schema) { storage in
            let now = Date()
            let batch = NewBatch(
                jobs: (0..<3).map { _ in NewJob(queue: "default", kind: "k", payload: JobPayload(bytes: []), runAt: now, createdAt: now) },
                createdAt: now)
            _ = try await storage.enqueueBatch(batch, whenFull: .fail, now: now)
            let logger = Logger(label: "spool.test")
            try await PostgresTestServer.withConnection(url: url) { connection in
                try await connection.query(
                    PostgresQuery(
                        unsafeSQL: """
                            UPDATE "\(schema)".batches SET total = -1, succeeded = 9223372036854775807, dead = -9223372036854775808,
                                cancelled = 9223372036854775807, created_at = -9223372036854775808, finished_at = 9223372036854775807
                            WHERE id = '\(Self.uuid(batch.id.raw))'
                            """), logger: logger)
            }
            let record = try #require(try await storage.batch(batch.id))
            #expect(record.total == 0 && record.count(.available) == 3, "\(record)")
            #expect(record.state == .succeeded && record.createdAt >= JobInput.earliestRunAt, "\(record)")
            #expect(try await storage.batches(after: nil, limit: 10).batches.map(\.id) == [batch.id])
            try await PostgresTestServer.withConnection(url: url) { connection in
                try await connection.query(
                    PostgresQuery(unsafeSQL: "ALTER TABLE \"\(schema)\".jobs DROP CONSTRAINT IF EXISTS jobs_state_check"), logger: logger)
                try await connection.query(
                    PostgresQuery(unsafeSQL: "UPDATE \"\(schema)\".jobs SET state = 'bogus' WHERE id = '\(Self.uuid(batch.jobs[0].id))'"),
                    logger: logger)
            }
            do {
                _ = try await storage.batch(batch.id)
                Issue.record("a batch with a job in an unknown state was read")
            } catch let error as SpoolError {
                #expect(error.job == batch.id.raw && error.message.contains("bogus"), "\(error)")
            }
        }
    }

    /// The uuid text of `id` (the two halves big-endian, as the driver stores it).
    static func uuid(_ id: JobID) -> String {
        let hex = String(id.high, radix: 16).leftPad(16) + String(id.low, radix: 16).leftPad(16)
        let parts = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { range in
            String(hex[hex.index(hex.startIndex, offsetBy: range.lowerBound)..<hex.index(hex.startIndex, offsetBy: range.upperBound)])
        }
        return parts.joined(separator: "-")
    }
}

extension String {
    fileprivate func leftPad(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
