// A counter for progress lines (Counter).
import Synchronization

/// A counter for progress lines, bumped by one task and read by another.
final class Counter: Sendable {
    private let value = Atomic<Int>(0)

    func add(_ amount: Int) {
        value.wrappingAdd(amount, ordering: .relaxed)
    }

    func set(_ amount: Int) {
        value.store(amount, ordering: .relaxed)
    }

    @Sendable func read() -> Int {
        value.load(ordering: .relaxed)
    }
}
