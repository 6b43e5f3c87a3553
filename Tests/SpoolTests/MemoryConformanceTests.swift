import Spool
import SpoolTesting
import Testing

@Suite("Memory driver conformance", .timeLimit(.minutes(5)))
struct MemoryConformanceTests {
    @Test(arguments: StorageConformance.cases)
    func conformance(_ test: ConformanceCase) async throws {
        try await test.run { MemoryStorage(capacity: 100_000) }
    }
}
