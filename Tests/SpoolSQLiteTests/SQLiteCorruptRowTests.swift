import Foundation
import GRDB
import Spool
import SpoolSQLite
import SpoolTesting
import Testing

/// Rows corrupted straight in the file (as a disk error, a hand edit or another program might
/// leave them), read back through the driver's public API: nothing traps; a job reads with its
/// fields in their documented ranges, or the read throws a `SpoolError` naming the column.
@Suite("SQLite driver, corrupt rows")
struct SQLiteCorruptRowTests {
    /// Values no Spool build writes, as SQL literals, per column.
    static let corruptions: [(column: String, value: String)] = [
        ("attempt", "-5"), ("attempt", "9223372036854775807"), ("attempt", "1e30"), ("attempt", "-1e30"), ("attempt", "'abc'"),
        ("priority", "1e30"), ("priority", "-1e30"), ("priority", "9223372036854775807"), ("priority", "40000"), ("priority", "X'01'"),
        ("max_attempts", "0"), ("max_attempts", "-1"), ("max_attempts", "1e300"), ("max_attempts", "9223372036854775807"),
        ("run_at", "9e18"), ("run_at", "-9223372036854775808"), ("run_at", "9223372036854775807"), ("run_at", "1e300"),
        ("created_at", "-1e300"), ("created_at", "9223372036854775807"), ("attempted_at", "9e18"), ("finished_at", "-9e18"),
        ("lease_expires_at", "1e30"), ("lease_expires_at", "-9223372036854775808"),
        ("errors", "'{{{'"), ("errors", "'[{\"attempt\":1,\"at\":1e30,\"message\":\"m\",\"reason\":\"error\"}]'"),
        ("errors", "'[{\"attempt\":-7,\"at\":-5,\"message\":\"m\",\"reason\":\"error\"}]'"), ("errors", "X'FFFE'"), ("errors", "'null'"),
        ("errors", "42"), ("progress", "'{{{'"), ("progress", "'{\"fraction\":1e308}'"), ("progress", "X'FF'"), ("progress", "'[]'"),
        ("metadata", "'{{{'"), ("metadata", "'[1]'"), ("metadata", "X'C0AF'"), ("metadata", "'{\"a\":1}'"),
        ("timeout_us", "-1"), ("timeout_us", "0"), ("timeout_us", "9223372036854775807"), ("timeout_us", "1e30"), ("timeout_us", "-1e30"),
        ("expired_leases", "9223372036854775807"), ("expired_leases", "-3"), ("expired_leases", "1e30"),
        ("state", "'bogus'"), ("state", "''"), ("queue", "X'FFFE'"), ("kind", "X'80'"), ("kind", "7"), ("payload", "'text'"),
        ("payload", "3.5"), ("result", "42"), ("lease_owner", "X'FF'"), ("unique_key", "X'FF' || hex(id)"),
    ]

    static func inRange(_ job: JobRecord) -> Bool {
        let dates = [job.runAt, job.createdAt, job.attemptedAt, job.finishedAt, job.leaseExpiresAt] + job.errors.map(\.at)
        return JobInput.priorityRange.contains(job.priority) && job.attempt >= 0 && job.attempt <= Int(Int32.max)
            && (1...JobInput.maximumAttempts).contains(job.maxAttempts) && job.expiredLeases >= 0
            && dates.allSatisfy { $0.map { $0 >= JobInput.earliestRunAt && $0 <= JobInput.latestRunAt } ?? true }
            && job.timeout.map { $0 > .zero && $0 <= JobInput.maximumDuration } ?? true
            && job.progress.map { (0...1).contains($0.fraction) } ?? true && job.errors.allSatisfy { $0.attempt >= 0 }
    }

    /// A read of a corrupt job: in range, or a `SpoolError` naming a column and the job.
    static func checkRead(_ storage: SQLiteStorage, _ id: JobID) async -> Bool {
        do {
            guard let job = try await storage.job(id) else { return false }
            #expect(inRange(job), "\(job)")
            return true
        } catch let error as SpoolError {
            #expect(error.message.contains("column '") && error.job == id, "\(error)")
            return false
        } catch {
            Issue.record("not a SpoolError: \(error)")
            return false
        }
    }

    @Test("10,000 jobs with 1 to 3 corrupt columns each: read, listed, claimed and rescued without a trap")
    func corruptRows() async throws {
        try await withTemporaryFolder { folder in
            let path = folder + "/corrupt.sqlite"
            let storage = try await SQLiteStorage.open(path: path)
            var options = Configuration()
            options.busyMode = .timeout(10)
            let file = try DatabaseQueue(path: path, configuration: options)
            var random = SplitMix64(seed: 0xC0_22_07)
            var readable = 0
            var refused = 0
            var claimed = 0
            for _ in 0..<20 {
                let jobs = (0..<500).map { _ in newJob(timeout: .seconds(5)) }
                _ = try await storage.enqueue(jobs, whenFull: .fail, now: t0)
                var plan: [(JobID, [(column: String, value: String)])] = []
                for job in jobs {
                    let count = Int(random.next() % 3) + 1
                    plan.append((job.id, (0..<count).map { _ in Self.corruptions[Int(random.next() % UInt64(Self.corruptions.count))] }))
                }
                let sql = plan.map { id, changes in
                    (
                        "UPDATE spool_jobs SET \(changes.map { "\($0.column) = \($0.value)" }.joined(separator: ", ")) WHERE id = ?",
                        Self.blob(id)
                    )
                }
                try await file.write { db in
                    try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
                    for (statement, id) in sql { try db.execute(sql: statement, arguments: [id]) }
                }
                for job in jobs {
                    if await Self.checkRead(storage, job.id) { readable += 1 } else { refused += 1 }
                }
                // A listing either reads every job of its page or names the corrupt column.
                do {
                    let page = try await storage.jobs(JobFilter(), after: nil, limit: 100)
                    #expect(page.jobs.allSatisfy(Self.inRange))
                } catch let error as SpoolError {
                    #expect(error.message.contains("column '"), "\(error)")
                }
                // The claim path reads numbers as SQLite converts them, clamped: it never throws here.
                let got = try await claim(storage, 1000, at: t0.addingTimeInterval(1))
                claimed += got.count
                for job in got {
                    #expect(
                        JobInput.priorityRange.contains(job.priority) && job.attempt >= 0
                            && (1...JobInput.maximumAttempts).contains(job.maxAttempts))
                    #expect(
                        job.runAt >= JobInput.earliestRunAt && job.runAt <= JobInput.latestRunAt && job.timeout.map { $0 > .zero } ?? true)
                }
                // Their leases expire; the rescue reads attempts, counts and error histories back.
                _ = try await storage.rescueExpired(now: t0.addingTimeInterval(3600), poisonAfter: 3)
                for job in got { _ = await Self.checkRead(storage, job.id) }
            }
            #expect(readable > 2_000 && refused > 1_000 && claimed > 2_000, "\(readable) readable, \(refused) refused, \(claimed) claimed")
            try storage.close()
        }
    }

    static func blob(_ id: JobID) -> Data {
        withUnsafeBytes(of: (id.high.bigEndian, id.low.bigEndian)) { Data($0) }
    }
}
