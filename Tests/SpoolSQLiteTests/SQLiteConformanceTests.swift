import Dispatch
import Spool
import SpoolSQLite
import SpoolTesting
import Testing

@Suite("SQLite driver conformance", .timeLimit(.minutes(5)))
struct SQLiteConformanceTests {
    /// Every case of the shared suite, each against a fresh temporary file with the default
    /// (durable) configuration.
    @Test(arguments: StorageConformance.cases)
    func conformance(_ test: ConformanceCase) async throws {
        try await test.run { try await Self.temporaryStore() }
    }

    /// A temporary store opened on a thread of its own. Opening blocks its thread while it
    /// creates, migrates and syncs the file; dozens of cases doing that at once on the
    /// cooperative pool (two threads here) starved the other suites of this test process,
    /// which then timed out waiting for events.
    static func temporaryStore() async throws -> SQLiteStorage {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try SQLiteStorage.temporary() })
            }
        }
    }
}
