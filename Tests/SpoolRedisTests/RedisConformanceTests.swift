import Spool
import SpoolRedis
import SpoolTesting
import Testing

@Suite("Redis driver conformance", .enabled(if: RedisTestServer.enabled, RedisTestServer.skipMessage), .timeLimit(.minutes(5)))
struct RedisConformanceTests {
    /// Every case of the shared suite, each against a running storage on a fresh namespace.
    @Test(arguments: StorageConformance.cases)
    func conformance(_ test: ConformanceCase) async throws {
        try await RedisTestServer.withStorage { storage in
            try await test.run { storage }
        }
    }

    /// The hand-over of an enqueued job to a waiting worker of the same process.
    @Test(arguments: DeliveryConformance.cases)
    func delivery(_ test: ConformanceCase) async throws {
        try await RedisTestServer.withStorage { storage in
            try await test.run { storage }
        }
    }
}
