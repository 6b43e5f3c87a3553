#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Spool
import SpoolTesting
import Testing

struct Ping: JobParameters {
    static let kind = "test.ping"
    var index: Int
}

/// Lanes on every driver (a blocked lane holds up no other job) are in the conformance suite.
@Suite("Lanes")
struct LaneTests {
    #if os(Linux)
    @Test("a lane that yields to other work runs at nice 19 in an idle cgroup where the process may make one, removed at shutdown")
    func idleCgroup() async throws {
        let pool = BlockingPool(threads: 2, name: "test.idle lane", yieldsToOtherWork: true)
        let nice = try await pool.run { getpriority(__priority_which_t(0), 0) }
        #expect(nice == 19)
        switch pool.isolation {
        case .idleCgroup(let path):
            let group = URL(fileURLWithPath: path).lastPathComponent
            #expect(group.hasPrefix("spool-lane-\(getpid())-test.idle_lane-"))
            if FileManager.default.fileExists(atPath: path + "/cpu.idle") {
                #expect(
                    try String(contentsOfFile: path + "/cpu.idle", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            } else {
                #expect(
                    try String(contentsOfFile: path + "/cpu.shares", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == "2"
                )
            }
            let seen = try await pool.run { try String(contentsOfFile: "/proc/thread-self/cgroup", encoding: .utf8) }
            #expect(seen.contains("/" + group + "\n"), "a pool thread is in the group: \(seen)")
            let outside = try String(contentsOfFile: "/proc/thread-self/cgroup", encoding: .utf8)
            #expect(!outside.contains(group), "other threads stay where they were")
            pool.shutdown()
            #expect(!FileManager.default.fileExists(atPath: path), "the group is removed at shutdown")
        case .lowPriority(let reason):
            pool.shutdown()
            // Only where this process may not make a group: this machine's image runs tests as
            // root with a cgroup v1 cpu controller, so CI takes the branch above.
            #expect(access("/sys/fs/cgroup/cpu/tasks", W_OK) != 0, "fell back to nice 19 although the cpu cgroup is writable: \(reason)")
        case .none:
            pool.shutdown()
            Issue.record("a pool that yields to other work reports no isolation")
        }
    }
    #endif

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
