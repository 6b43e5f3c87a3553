import Dispatch
import Foundation
import Spool
import SpoolTesting
import Synchronization
import Testing

struct Crunch: JobParameters {
    static let kind = "test.crunch"
    var index: Int
}

struct Ping: JobParameters {
    static let kind = "test.ping"
    var index: Int
}

@Suite("Lanes")
struct LaneTests {
    @Test("a kind bound to a lane runs there; with the lane's threads all blocked, other jobs still run")
    func laneIsolatesBlockingWork() async throws {
        let lane = BlockingPool(threads: 2, name: "test.lane")
        defer { lane.shutdown() }
        let storage = MemoryStorage()
        let registry = JobRegistry()
        // Holds every lane thread until released: blocking, not suspending (what CPU-bound or
        // blocking code does to a thread).
        let release = DispatchSemaphore(value: 0)
        let onLane = EventRecorder<Bool>()
        registry.register(Crunch.self, options: JobOptions(lane: lane)) { _, _ in
            onLane.record(lane.isCurrentThread)
            release.wait()
        }
        let pings = EventRecorder<Int>()
        registry.register(Ping.self) { ping, _ in
            pings.record(ping.index)
            try await Task.sleep(for: .milliseconds(1))
        }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [])
        let worker = Worker(storage: storage, registry: registry, configuration: WorkerConfiguration(concurrency: 20))
        try await withRunningWorker(worker) {
            // More blocking jobs than the machine has cooperative threads: on the shared pool
            // they would stall every other job; on the lane only its own threads are held.
            let crunches = try await client.enqueue((0..<4).map { Crunch(index: $0) })
            _ = try await onLane.waitForCount(2)
            _ = try await client.enqueue((0..<50).map { Ping(index: $0) })
            #expect(Set(try await pings.waitForCount(50)) == Set(0..<50), "pings ran while both lane threads were blocked")
            #expect(onLane.count == 2, "the other crunches wait for a lane thread")
            for _ in 0..<4 { release.signal() }
            for handle in crunches { #expect(try await handle.value.state == .succeeded) }
            #expect(onLane.all == [true, true, true, true], "every crunch ran on a lane thread")
        }
    }

    @Test("a queue bound to a lane runs its jobs there unless their kind names another")
    func queueLane() async throws {
        let queueLane = BlockingPool(threads: 1, name: "test.queue-lane")
        defer { queueLane.shutdown() }
        let storage = MemoryStorage()
        let registry = JobRegistry()
        let seen = EventRecorder<Bool>()
        registry.register(Ping.self, options: JobOptions(queue: "images")) { _, _ in seen.record(queueLane.isCurrentThread) }
        let client = SpoolClient(storage: storage, registry: registry, middleware: [])
        let worker = Worker(
            storage: storage, registry: registry,
            configuration: WorkerConfiguration(queues: [WorkerQueue("images", lane: queueLane), "default"])
        )
        try await withRunningWorker(worker) {
            _ = try await client.enqueue(Ping(index: 1))
            _ = try await client.enqueue(Ping(index: 2), options: EnqueueOptions(queue: "default"))
            let where_ = try await seen.waitForCount(2)
            #expect(Set(where_) == [true, false], "the images job on the lane, the default one not")
        }
    }
}
