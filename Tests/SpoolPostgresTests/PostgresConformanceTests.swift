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

    /// The hand-over of an enqueued job to a waiting worker of the same process.
    @Test(arguments: DeliveryConformance.cases)
    func delivery(_ test: ConformanceCase) async throws {
        try await PostgresTestServer.withStorage { storage in
            try await test.run { storage }
        }
    }

    /// Every case again as a user behind a transaction-mode pooler runs it: no LISTEN/NOTIFY
    /// and no prepared statements (every statement schema-qualified and unnamed).
    @Test("conformance behind a pooler (notifications and prepared statements off)", arguments: StorageConformance.cases)
    func conformanceBehindPooler(_ test: ConformanceCase) async throws {
        try await PostgresTestServer.withStorage(notifications: false, preparedStatements: false) { storage in
            try await test.run { storage }
        }
    }
}
