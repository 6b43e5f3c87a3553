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
        try await test.run { try await SQLiteStorage.openTemporary() }
    }

    /// The hand-over of an enqueued job to a waiting worker of the same process.
    @Test(arguments: DeliveryConformance.cases)
    func delivery(_ test: ConformanceCase) async throws {
        try await test.run { try await SQLiteStorage.openTemporary() }
    }
}
