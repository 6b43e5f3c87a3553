import Foundation
@testable import Spool
import Testing

@Suite("Queue weights and stealing")
struct WeightTests {
    /// Offers `free` slots per claim, `claims` times, and returns the total per queue.
    static func totals(_ queues: [(name: String, weight: Int, limit: Int)], free: Int, claims: Int) -> [Int] {
        var passes: [String: Double] = [:]
        var totals = queues.map { _ in 0 }
        for _ in 0..<claims {
            let shares = WorkerCore.offer(free, to: queues, passes: &passes)
            #expect(shares.reduce(0, +) == min(free, queues.map(\.limit).reduce(0, +)))
            for index in shares.indices { totals[index] += shares[index] }
        }
        return totals
    }

    @Test("slots follow the weights over many claims, however few each claim fills")
    func sharesOverTime() {
        for free in [1, 2, 3, 8] {
            #expect(Self.totals([("high", 3, 8), ("low", 1, 8)], free: free, claims: 400) == [300 * free, 100 * free], "free \(free)")
        }
        #expect(Self.totals([("a", 1, 8), ("b", 1, 8), ("c", 1, 8)], free: 2, claims: 300) == [200, 200, 200])
        #expect(Self.totals([("big", 100, 8), ("small", 1, 8)], free: 1, claims: 1_010) == [1_000, 10])
        // A queue's own cap holds; the slots it cannot take go to the others.
        #expect(Self.totals([("high", 3, 1), ("low", 1, 8)], free: 4, claims: 10) == [10, 30])
    }

    @Test("a queue that was out of the running rejoins without a burst of slots")
    func noBurstAfterAbsence() {
        var passes: [String: Double] = [:]
        for _ in 0..<10 { _ = WorkerCore.offer(2, to: [("high", 1, 8), ("low", 1, 8)], passes: &passes) }
        // Only high for a while: low is not offered anything.
        for _ in 0..<100 { _ = WorkerCore.offer(4, to: [("high", 1, 8)], passes: &passes) }
        // Back together at 1 : 1, low gets at most one slot more than its share.
        var low = 0
        for _ in 0..<10 { low += WorkerCore.offer(2, to: [("high", 1, 8), ("low", 1, 8)], passes: &passes)[1] }
        #expect((10...11).contains(low))
    }

    // Fairness under saturation and stealing run on every driver, the memory driver included:
    // `StorageConformance` ("worker: weighted queues share a saturated worker…", "…stealing").
}
