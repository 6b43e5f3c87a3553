import Spool
import SpoolPostgres
import SpoolTesting
import Testing

@Suite("PostgreSQL driver conformance", .enabled(if: PostgresTestServer.enabled, PostgresTestServer.skipMessage), .timeLimit(.minutes(5)))
struct PostgresConformanceTests {
    /// Every case of the shared suite, each against a running storage on a fresh schema.
    @Test(arguments: StorageConformance.cases)
    func conformance(_ test: ConformanceCase) async throws {
        try await PostgresTestServer.withStorage { storage in
            try await test.run { storage }
        }
    }
}
