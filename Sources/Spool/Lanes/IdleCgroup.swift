import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A group of Linux's CPU controller (cgroup v1) marked idle (`cpu.idle = 1`), for the threads
/// of a ``BlockingPool`` that yields to other work.
///
/// Why a group and not only nice 19: Linux shares the CPU first between scheduling groups
/// (each session is an autogroup; a database server started by `pg_ctl` is another), and only
/// then between the threads inside each. A nice-19 thread is low only against its own
/// process's threads: when those are idle, it carries its whole group's weight, as much as a
/// database server's backends together. An idle group's threads run only on cycles nothing
/// else wants, and any waking thread outside it takes the core at once (measured with
/// `spool bench --workload L0,L1` beside PostgreSQL on 2 cores: L1's p50 and p99 fell to L0's).
///
/// Creating it needs write access to the CPU controller (root, or a delegated hierarchy), a
/// cgroup v1 `cpu` hierarchy, and a kernel with `cpu.idle` (5.15 and later; older kernels get
/// `cpu.shares = 2`). On cgroup v2 a thread can only move within a threaded subtree, which
/// needs the process's own cgroup prepared for it, so the pool keeps nice 19 there.
struct IdleCgroup: Sendable {
    /// The group's folder.
    let path: String
    /// The parent's thread list: where a thread returns before the group is removed.
    private let parentTasks: String

    /// What made ``make(label:)`` fall back (for the log and ``BlockingPool/isolation``).
    struct Unavailable: Error, CustomStringConvertible {
        let description: String
    }

    /// Creates a new idle group inside this process's CPU group (so any limit on that group
    /// still holds for the lane), named `spool-lane-PID-LABEL-N`, after removing empty groups
    /// of that naming left behind by processes that are gone.
    static func make(label: String) -> Result<IdleCgroup, Unavailable> {
        #if os(Linux)
        guard let parent = processCPUGroup() else {
            return .failure(Unavailable(description: "no cgroup v1 cpu controller for this process"))
        }
        guard access(parent + "/tasks", W_OK) == 0 else {
            return .failure(Unavailable(description: "no write access to the cpu cgroup \(parent)"))
        }
        removeLeftovers(in: parent)
        let pid = getpid()
        let safeLabel = String(label.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" ? $0 : "_" }.prefix(40))
        let path = "\(parent)/spool-lane-\(pid)-\(safeLabel)-\(counter.add(1, ordering: .relaxed).newValue)"
        guard mkdir(path, 0o755) == 0 else {
            return .failure(Unavailable(description: "cannot create \(path): \(String(cString: strerror(errno)))"))
        }
        let group = IdleCgroup(path: path, parentTasks: parent + "/tasks")
        if !write("1", to: path + "/cpu.idle") && !write("2", to: path + "/cpu.shares") {
            group.remove()
            return .failure(Unavailable(description: "cannot mark \(path) idle (cpu.idle) nor lower its cpu.shares"))
        }
        return .success(group)
        #else
        return .failure(Unavailable(description: "cgroups are Linux-only"))
        #endif
    }

    /// Moves the calling thread into the group; a refusal leaves it where it was, at nice 19.
    func enterCurrentThread() {
        _ = Self.write("0", to: path + "/tasks")
    }

    /// Moves the calling thread back to the parent group, so that the group can be removed
    /// once every thread has left (a thread that has ended has left too).
    func leaveCurrentThread() {
        _ = Self.write("0", to: parentTasks)
    }

    /// Removes the group; fails quietly while a thread is still in it.
    func remove() {
        #if os(Linux)
        _ = rmdir(path)
        #endif
    }

    private static let counter = Atomic<Int>(0)

    /// Writes `text` to a cgroup control file in one `write`, as the kernel expects.
    private static func write(_ text: String, to file: String) -> Bool {
        #if os(Linux)
        let descriptor = open(file, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) } == bytes.count
        #else
        return false
        #endif
    }

    /// The folder of this process's group in the cgroup v1 hierarchy that has the `cpu`
    /// controller: its mount point (from /proc/self/mountinfo) joined with the process's path
    /// in it (from /proc/self/cgroup), relative to the mount's root.
    private static func processCPUGroup() -> String? {
        guard let cgroups = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8),
            let mounts = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        else { return nil }
        // "ID:controllers:path", e.g. "1:cpu:/" or "4:cpu,cpuacct:/user.slice".
        var groupPath: String?
        for line in cgroups.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if fields.count == 3, fields[1].split(separator: ",").contains("cpu") { groupPath = String(fields[2]) }
        }
        guard let groupPath else { return nil }
        // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS"
        for line in mounts.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1).map { $0.split(separator: " ") }
            guard halves.count == 2, halves[0].count >= 5, halves[1].count >= 3, halves[1][0] == "cgroup",
                halves[1][2].split(separator: ",").contains("cpu")
            else { continue }
            let root = String(halves[0][3])
            let mountPoint = String(halves[0][4])
            guard groupPath.hasPrefix(root) else { continue }
            let relative = root == "/" ? groupPath : String(groupPath.dropFirst(root.count))
            let joined = mountPoint + (relative == "/" ? "" : relative)
            return joined.hasSuffix("/") ? String(joined.dropLast()) : joined
        }
        return nil
    }

    /// Removes empty `spool-lane-PID-…` groups of processes that no longer exist.
    private static func removeLeftovers(in parent: String) {
        #if os(Linux)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        for name in names where name.hasPrefix("spool-lane-") {
            let pidText = name.dropFirst("spool-lane-".count).prefix { $0.isNumber }
            guard let pid = Int32(pidText), kill(pid, 0) != 0, errno == ESRCH else { continue }
            _ = rmdir(parent + "/" + name)
        }
        #endif
    }
}
