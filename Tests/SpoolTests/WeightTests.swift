import Foundation
@testable import Spool
import Testing

@Suite("Queue weights and stealing")
struct WeightTests {
    @Test("free slots split by weight, largest remainders first, nobody rounded to nothing")
    func shares() {
        #expect(WorkerCore.shares(of: 100, weights: [3, 1]) == [75, 25])
        #expect(WorkerCore.shares(of: 10, weights: [100, 1]) == [9, 1])
        #expect(WorkerCore.shares(of: 7, weights: [1, 1, 1]).sorted() == [2, 2, 3])
        #expect(WorkerCore.shares(of: 2, weights: [1, 1, 1]).reduce(0, +) == 2)
        #expect(WorkerCore.shares(of: 0, weights: [1, 2]) == [0, 0])
    }

    // Fairness under saturation and stealing run on every driver, the memory driver included:
    // `StorageConformance` ("worker: weighted queues share a saturated worker…", "…stealing").
}
