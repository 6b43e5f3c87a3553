import Foundation
import Testing

/// `spool enqueue` and `spool work` refuse values out of range with one line naming the flag,
/// before any store is opened, and take the ends of the ranges.
@Suite("spool with extreme values", .timeLimit(.minutes(2)))
struct EdgeCLITests {
    static let refused: [(arguments: [String], message: String)] = [
        (["enqueue", "spool.noop", "--run-at", "1700-01-01T00:00:00Z"], "--run-at must be from 1970-01-01T00:00:00Z"),
        (["enqueue", "spool.noop", "--run-at", "10000-01-01T00:00:00Z"], "--run-at must be an RFC 3339 time"),
        (["enqueue", "spool.noop", "--run-at", "2026-02-30T00:00:00Z"], "--run-at must be an RFC 3339 time"),
        (["enqueue", "spool.noop", "--run-at", "2030-01-01T00:00:00Z", "--delay", "5"], "cannot both be given"),
        (["enqueue", "spool.noop", "--priority", "40000"], "priority must be from -32768 to 32767"),
        (["enqueue", "spool.noop", "--max-attempts", "70000"], "max_attempts must be at most 65535"),
        (["enqueue", "spool.noop", "--queue", "mail\u{1}"], "queue must not hold control characters"),
        (["enqueue", "spool.noop", "--delay", "1e300"], "--delay must be at most a year"),
        (["work", "--concurrency", "9223372036854775807"], "--concurrency must be from 1 to 10000"),
        (["work", "--queues", String(repeating: "q", count: 256)], "at most 255 characters"),
        (["queues", "pause", "a\u{7}b"], "must not hold control characters"),
    ]

    @Test("each value out of range is one error line naming it, exit status 1; the ends of the ranges are taken")
    func refusals() async throws {
        try await withTemporaryFolder { folder in
            let database = ["--database", "sqlite:\(folder)/jobs.sqlite"]
            for (arguments, message) in Self.refused {
                let run = try await spool(arguments + database, in: folder)
                #expect(run.status == 1 && run.stderr.contains(message), "\(arguments): \(run)")
            }
            let accepted = try await spool(
                ["enqueue", "spool.noop", "--run-at", "9999-12-31T23:59:59Z", "--priority", "32767", "--json"] + database, in: folder)
            #expect(accepted.status == 0, "\(accepted)")
            #expect(try accepted.jsonObject()["state"] as? String == "scheduled", "\(accepted)")
        }
    }
}
