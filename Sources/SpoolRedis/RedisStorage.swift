import Foundation
import Logging
import ServiceLifecycle
import Spool
import Synchronization

/// The Redis driver: jobs live in one Redis server (a namespace of keys of their own, default
/// `spool`), shared by every process that points at it. Speaks RESP itself, on SwiftNIO.
///
/// It is a swift-service-lifecycle `Service`: ``run()`` connects, loads the scripts, keeps the
/// wake-up listener and must be running for any operation to complete. Put it in the same
/// `ServiceGroup` as the workers, **before** them, so that on shutdown the workers drain and
/// store their outcomes before the storage stops:
/// ```swift
/// let storage = try RedisStorage(url: "redis://:secret@cache:6379/0")
/// let worker = Worker(storage: storage, registry: registry)
/// let group = ServiceGroup(services: [storage, worker], gracefulShutdownSignals: [.sigterm], logger: logger)
/// try await group.run()
/// ```
/// With ``Configuration/maintenance`` (the default) one process among those sharing the
/// namespace, elected with ``RedisLeaderElection``, rescues expired leases and prunes old
/// finished jobs.
///
/// Operations called before ``run()`` is ready wait for it up to
/// ``Configuration/startTimeout``, then fail with `storageUnavailable`.
///
/// Guarantees (on top of ``JobStorage``'s):
/// - Every operation that changes jobs is one Lua script, so one atomic step on the server
///   whatever its batch size: a claim, a batch of outcomes, an enqueue with its unique keys.
/// - Outcomes and heartbeats are written only where the job is `running` and its lease owner is
///   the caller; the script reports the ids it did not write.
/// - Durability is the server's: with `appendonly yes` and `appendfsync always` an enqueue that
///   returned survives a crash of the server; with `everysec` (Redis's default for AOF) up to a
///   second of changes can be lost; without persistence everything is lost with the server.
/// - An enqueue (and a hand-back, retry, rescue or resume) pushes a marker to every waiting
///   process's wake-up list, which each blocks on (BLPOP on a dedicated connection); idle
///   workers everywhere wake at once, and notice anything missed within
///   ``Configuration/pollInterval``.
///
/// Failure: when the server cannot be reached, operations fail with ``SpoolError`` code
/// `storageUnavailable`; connections are replaced on next use and the worker retries with
/// backoff. A script whose reply was lost with the connection may or may not have run (the
/// usual at-least-once caveat).
///
/// Run it against a server with `maxmemory-policy noeviction` (the default): a server that
/// evicts keys under memory pressure silently drops jobs; ``run()`` logs a warning when it can
/// see such a policy.
///
/// Times are the callers' clocks, stored to the millisecond: machines sharing a server must
/// keep their clocks in sync (NTP).
///
/// Cost: listings walk ids newest first and read three fields of each job they pass over
/// (bounded per call); stats read one small hash of counters.
public final class RedisStorage: JobStorage, Service, Sendable {
    /// Settings of the Redis driver. Every field has a working default.
    public struct Configuration: Sendable {
        /// Cluster-wide maintenance run by one elected leader among the processes sharing the
        /// store: the rescue of expired leases and the pruning of finished jobs.
        public typealias Maintenance = ClusterMaintenance

        /// The prefix of every key (inside a hash tag: `{spool}:…`): 1 to 64 letters, digits,
        /// `-`, `_` or `.`. Processes sharing a namespace share jobs. Default `spool`.
        public var namespace: String
        /// How many pipelined connections operations share (the blocking wake-up connection is
        /// one more). Default 4.
        public var poolSize: Int
        /// The longest an idle ``RedisStorage/waitForWork(queues:deadline:clock:)`` sleeps
        /// before looking again; only a safety net for lost wake-ups. Default 1 s.
        public var pollInterval: Duration
        /// Whether waiting processes block on a wake-up list (else they poll every
        /// ``pollInterval``). Default true.
        public var wakeups: Bool
        /// How long a connection attempt (and its login) may take. Default 5 s.
        public var connectTimeout: Duration
        /// How long commands may wait for the server's next reply before their connection is
        /// closed and they fail with `storageUnavailable` (a hung server, a half-open
        /// connection). Long scripts on a huge batch must fit in it. Default 30 s.
        public var commandTimeout: Duration
        /// How long operations wait for ``RedisStorage/run()`` to be ready before failing with
        /// `storageUnavailable`. Default 10 s.
        public var startTimeout: Duration
        /// Leader-elected rescue and prune; nil turns it off (then let workers rescue, with
        /// `WorkerConfiguration.rescueInterval`). Default on.
        public var maintenance: Maintenance?
        /// The clock for maintenance (rescue and prune times).
        public var clock: any JobClock
        /// Where the driver reports what it cannot throw (a lost wake-up connection, a failed
        /// rescue).
        public var logger: Logger

        public init(
            namespace: String = "spool", poolSize: Int = 4, pollInterval: Duration = .seconds(1), wakeups: Bool = true,
            connectTimeout: Duration = .seconds(5), commandTimeout: Duration = .seconds(30), startTimeout: Duration = .seconds(10),
            maintenance: Maintenance? = Maintenance(), clock: any JobClock = SystemClock(),
            logger: Logger = Logger(label: "spool.redis")
        ) {
            self.maintenance = maintenance
            self.clock = clock
            self.namespace = namespace
            self.poolSize = max(1, poolSize)
            self.pollInterval = pollInterval
            self.wakeups = wakeups
            self.connectTimeout = connectTimeout
            self.commandTimeout = commandTimeout
            self.startTimeout = startTimeout
            self.logger = logger
        }

        static func isValidNamespace(_ name: String) -> Bool {
            !name.isEmpty && name.utf8.count <= 64
                && name.utf8.allSatisfy { $0.isASCIIAlphanumeric || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
        }
    }

    /// The settings the storage was made with.
    public let configuration: Configuration
    let endpoint: RedisEndpoint
    let pool: RESPConnectionPool
    /// `{namespace}`: the first argument of every script.
    let prefix: String
    /// `host:port/db (namespace n)`, for messages; never the password.
    let target: String
    private let scripts = Mutex<[RedisScript: String]>([:])
    private let workSignal = WakeSignal()
    private let readiness = StorageReadiness(store: "Redis job store")
    /// This process's name in the listener set.
    private let listener: String
    private let logger: Logger

    /// A storage for the server at `url`: `redis://[[USER]:PASS@]HOST[:PORT][/DB]` (port 6379
    /// and database 0 by default). Query options `namespace=NAME` and `pool_size=N` override
    /// `configuration`'s fields. Connects nothing until ``run()``.
    /// - Throws: ``SpoolError`` `invalidArgument` for a malformed URL, an unknown option or a
    ///   bad namespace (the message never shows the password).
    public convenience init(url: String, configuration: Configuration = Configuration()) throws {
        let parsed = try RedisURL(url)
        var configuration = configuration
        if let namespace = parsed.namespace { configuration.namespace = namespace }
        if let poolSize = parsed.poolSize { configuration.poolSize = poolSize }
        try self.init(endpoint: parsed.endpoint, configuration: configuration)
    }

    init(endpoint: RedisEndpoint, configuration: Configuration) throws {
        guard Configuration.isValidNamespace(configuration.namespace) else {
            throw SpoolError(code: .invalidArgument, message: "namespace must be 1 to 64 letters, digits, '-', '_' or '.'; got '\(configuration.namespace)'")
        }
        self.configuration = configuration
        self.endpoint = endpoint
        self.logger = configuration.logger
        self.pool = RESPConnectionPool(
            endpoint: endpoint, size: configuration.poolSize, connectTimeout: configuration.connectTimeout, replyTimeout: configuration.commandTimeout
        )
        self.prefix = "{\(configuration.namespace)}"
        self.target = "'redis://\(endpoint.description)' (namespace \(configuration.namespace))"
        self.listener = JobID().description
    }

    // MARK: Running

    /// Connects and loads the scripts (retrying with backoff while the server cannot be
    /// reached), then serves until graceful shutdown or cancellation: the wake-up listener on a
    /// dedicated connection (reconnecting with backoff when lost) and, when configured, the
    /// leader-elected maintenance. Closes every connection when it returns; run it once (a
    /// storage whose `run()` has returned stays stopped).
    /// - Throws: ``SpoolError`` `storageUnavailable` when the server refuses the login (a wrong
    ///   password or a missing permission); other start failures are retried.
    public func run() async throws {
        defer { pool.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            do {
                try await prepare()
            } catch {
                readiness.fail(error)
                throw error
            }
            readiness.open()
            if configuration.wakeups {
                group.addTask { await self.listenLoop() }
            }
            var election: RedisLeaderElection?
            if let maintenance = configuration.maintenance {
                let candidate = RedisLeaderElection(storage: self, duty: "maintenance", ttl: maintenance.leaderTTL)
                election = candidate
                group.addTask { try await candidate.run() }
                group.addTask { await maintenance.run(on: self, election: candidate, clock: self.configuration.clock, logger: self.logger) }
            }
            try? await gracefulShutdown()
            // Hand the duty on at once rather than after its TTL (best effort).
            if let election, election.isLeader, !Task.isCancelled { try? await election.resign() }
            readiness.stop()
            group.cancelAll()
        }
    }

    /// Suspends until ``run()`` has connected and loaded the scripts.
    /// - Throws: ``SpoolError`` `storageUnavailable` when the start failed or took longer than
    ///   ``Configuration/startTimeout``.
    public func waitUntilReady() async throws {
        try await readiness.wait(timeout: configuration.startTimeout, target: target)
    }

    private func prepare() async throws {
        var delay = Duration.milliseconds(100)
        while true {
            do {
                let connection = try await pool.connection()
                for script in RedisScript.allCases { _ = try await load(script, on: connection) }
                await checkEvictionPolicy(on: connection)
                return
            } catch {
                if error is CancellationError || Task.isCancelled { throw error }
                let wrapped = wrap(error, "connecting and loading the scripts")
                if let reply = error as? RedisReplyError, ["WRONGPASS", "NOAUTH", "NOPERM"].contains(String(reply.code)) { throw wrapped }
                readiness.noteFailure(wrapped)
                logger.warning("cannot reach the Redis job store yet; retrying", metadata: ["spool.error": "\(wrapped)", "spool.retry_in": "\(delay)"])
                try await Task.sleep(for: delay)
                delay = min(.seconds(5), delay * 2)
            }
        }
    }

    /// Warns when the server may evict keys under memory pressure (jobs would vanish). Servers
    /// that refuse `CONFIG GET` (managed services, ACLs) are not checked.
    private func checkEvictionPolicy(on connection: RESPConnection) async {
        guard let reply = try? await connection.send("CONFIG", "GET", "maxmemory-policy"),
            let cells = reply.elements, cells.count == 2, let policy = cells[1].string
        else { return }
        if policy != "noeviction" {
            logger.warning("the Redis server may evict keys when its memory is full, and jobs with them; set maxmemory-policy to noeviction", metadata: [
                "spool.redis.maxmemory_policy": "\(policy)",
            ])
        }
    }

    /// Deletes every key of the namespace (jobs, queues, counters): for throwaway namespaces
    /// (tests, benchmarks); irreversible. Cost: a SCAN of the whole keyspace, in steps of 1000.
    public func dropNamespace() async throws {
        do {
            let connection = try await pool.connection()
            var cursor = "0"
            var steps = 0
            repeat {
                let reply = try checked(try await connection.send("SCAN", cursor, "MATCH", "\(prefix):*", "COUNT", "1000"))
                guard let parts = reply.elements, parts.count == 2, let next = parts[0].string, let keys = parts[1].elements else {
                    throw RedisCoding.corrupt("an unexpected SCAN reply")
                }
                let names = keys.compactMap(\.bytes)
                if !names.isEmpty { _ = try checked(try await connection.send([Array("UNLINK".utf8)] + names)) }
                cursor = next
                steps += 1
            } while cursor != "0" && steps < 1_000_000
        } catch {
            throw wrap(error, "dropping the namespace")
        }
    }

    /// Blocks on this process's wake-up list on a connection of its own; every marker (and
    /// every reconnect, which may have missed some) wakes the local waiters.
    private func listenLoop() async {
        var delay = Duration.milliseconds(100)
        let wakeKey = Array("\(prefix):wake:\(listener)".utf8)
        let ttl = RedisCoding.arg(Int64(10_000))
        while !Task.isCancelled {
            do {
                // The reply timeout covers the 2 s BLPOP.
                let connection = try await RESPConnection.connect(
                    to: endpoint, timeout: configuration.connectTimeout, replyTimeout: configuration.commandTimeout + .seconds(2)
                )
                defer { connection.close() }
                try await withTaskCancellationHandler {
                    workSignal.signal()
                    while !Task.isCancelled {
                        _ = try await evaluate(.register, [RedisCoding.arg(listener), ttl], on: connection)
                        let reply = try checked(try await connection.send([Array("BLPOP".utf8), wakeKey, Array("2".utf8)]))
                        if !reply.isNull { workSignal.signal() }
                        delay = .milliseconds(100)
                    }
                } onCancel: {
                    connection.close()
                }
            } catch {
                if Task.isCancelled { break }
                logger.warning("the Redis wake-up connection failed; reconnecting (idle workers poll meanwhile)", metadata: [
                    "spool.error": "\(wrap(error, "waiting for wake-ups"))", "spool.retry_in": "\(delay)",
                ])
            }
            do { try await Task.sleep(for: delay) } catch { break }
            delay = min(.seconds(5), delay * 2)
        }
        // Best effort: leave the listener set at once rather than when the entry expires.
        _ = try? await pool.send([Array("ZREM".utf8), Array("\(prefix):listeners".utf8), RedisCoding.arg(listener)])
    }

    // MARK: Scripts

    private func load(_ script: RedisScript, on connection: RESPConnection) async throws -> String {
        let reply = try checked(try await connection.send("SCRIPT", "LOAD", script.source))
        guard let sha = reply.string else { throw RedisCoding.corrupt("SCRIPT LOAD answered \(reply)") }
        scripts.withLock { $0[script] = sha }
        return sha
    }

    /// Runs a script with `EVALSHA`, loading it first when the server does not know it.
    private func evaluate(_ script: RedisScript, _ arguments: [[UInt8]], on connection: RESPConnection) async throws -> RESPValue {
        let sha: String
        if let known = scripts.withLock({ $0[script] }) {
            sha = known
        } else {
            sha = try await load(script, on: connection)
        }
        var command: [[UInt8]] = [Array("EVALSHA".utf8), Array(sha.utf8), Array("0".utf8), Array(prefix.utf8)] + arguments
        var reply = try await connection.send(command)
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            command[1] = Array(try await load(script, on: connection).utf8)
            reply = try await connection.send(command)
        }
        return try checked(reply)
    }

    /// Runs a script on a pooled connection once the storage is ready; errors become
    /// ``SpoolError``s naming `operation`.
    func perform(_ script: RedisScript, _ arguments: [[UInt8]], _ operation: @autoclosure () -> String) async throws -> RESPValue {
        try await readiness.wait(timeout: configuration.startTimeout, target: target)
        do {
            return try await evaluate(script, arguments, on: try await pool.connection())
        } catch {
            throw wrap(error, operation())
        }
    }

    /// Sends a plain command on a pooled connection once the storage is ready.
    func command(_ arguments: [[UInt8]], _ operation: @autoclosure () -> String) async throws -> RESPValue {
        try await readiness.wait(timeout: configuration.startTimeout, target: target)
        do {
            return try checked(try await pool.send(arguments))
        } catch {
            throw wrap(error, operation())
        }
    }

    private func checked(_ reply: RESPValue) throws -> RESPValue {
        if case .error(let message) = reply { throw RedisReplyError(message: message) }
        return reply
    }

    private func wrap(_ error: any Error, _ operation: String) -> any Error {
        if error is SpoolError || error is CancellationError { return error }
        if let reply = error as? RedisReplyError, reply.code == "DUPLICATE" {
            return SpoolError(code: .invalidArgument, message: String(reply.message.dropFirst("DUPLICATE ".count)))
        }
        return SpoolError(code: .storageUnavailable, message: "Redis job store \(target): \(operation) failed: \(error)")
    }

    // MARK: Enqueue

    /// Stores the jobs in one script (all of them or, on an error, none) and wakes idle
    /// workers everywhere.
    ///
    /// A job whose unique key is held by a live job (from an earlier call, another process, or
    /// earlier in the same batch) is not stored; its result names the holder. `whenFull` is
    /// ignored: the driver is unbounded (bounded by the server's memory).
    /// Cost: one script; Redis runs nothing else meanwhile (about 40 µs per job on a small
    /// machine, so a batch of 100,000 holds the server for seconds: prefer batches of a few
    /// thousand). A batch must fit in ``Configuration/commandTimeout``.
    /// - Throws: ``SpoolError`` `invalidArgument` for an invalid job or an id that already
    ///   exists (or appears twice in the batch), `unencodablePayload`, or `storageUnavailable`;
    ///   nothing of the batch is stored.
    public func enqueue(_ jobs: [NewJob], whenFull: WhenFull, now: Date) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        var arguments: [[UInt8]] = [RedisCoding.arg(now), RedisCoding.arg(jobs.count)]
        arguments.reserveCapacity(2 + 12 * jobs.count)
        for job in jobs {
            try job.validate()
            arguments += [
                RedisCoding.arg(job.id), RedisCoding.arg(job.queue), RedisCoding.arg(job.kind), try job.payload.encoded(),
                RedisCoding.arg(job.priority), RedisCoding.arg(job.maxAttempts), RedisCoding.arg(job.runAt),
                RedisCoding.arg(job.createdAt), job.uniqueKey == nil ? [48] : [49], RedisCoding.arg(job.uniqueKey ?? ""),
                job.timeout.map { RedisCoding.arg(RedisCoding.nanos($0)) } ?? [], try RedisCoding.encodeMetadata(job.metadata),
            ]
        }
        let reply = try await perform(.enqueue, arguments, "enqueue of \(jobs.count) job(s)")
        guard let cells = reply.elements, cells.count == 3 * jobs.count else { throw RedisCoding.corrupt("an enqueue reply of the wrong shape") }
        var results: [EnqueueResult] = []
        results.reserveCapacity(jobs.count)
        for index in 0..<jobs.count {
            guard let id = cells[3 * index].string.flatMap({ JobID($0) }), let state = cells[3 * index + 1].string.flatMap(JobState.init(rawValue:)) else {
                throw RedisCoding.corrupt("an enqueue reply without an id or state")
            }
            results.append(EnqueueResult(id: id, state: state, existing: cells[3 * index + 2].int == 1))
        }
        workSignal.signal()
        return results
    }

    // MARK: Claim

    /// The most jobs one claim hands out.
    static let claimLimit = 10_000

    /// Claims due jobs in one script: for each demand of a queue that is not paused, it first
    /// makes the queue's due scheduled jobs available (at most 1000 per call), then takes its
    /// available jobs by priority (highest first), run-at, then id, within the demand's and the
    /// request's limits, and moves them to `running` with a lease owned by `request.worker`
    /// until `now + request.lease`. Two claims never return the same job. At most
    /// 10,000 jobs per call (a larger request gets that many).
    /// Cost: O(log n) per job claimed or promoted.
    public func claim(_ request: ClaimRequest, now: Date) async throws -> [ClaimedJob] {
        let total = min(request.limit, Self.claimLimit)
        guard total > 0 else { return [] }
        let demands = request.demands.filter { $0.limit > 0 }
        guard !demands.isEmpty else { return [] }
        var arguments: [[UInt8]] = [
            RedisCoding.arg(now), RedisCoding.arg(RedisCoding.adding(RedisCoding.millis(now), RedisCoding.millis(request.lease))),
            RedisCoding.arg(request.worker), RedisCoding.arg(total), RedisCoding.arg(demands.count),
        ]
        for demand in demands { arguments += [RedisCoding.arg(demand.queue), RedisCoding.arg(min(demand.limit, total))] }
        let reply = try await perform(.claim, arguments, "claim for worker '\(request.worker)'")
        return try RedisCoding.claimed(reply)
    }

    // MARK: Finish, heartbeat, rescue

    /// Records how runs ended, in one script. Each outcome is written only if the job is
    /// `running` with its lease held by `worker`; the others are returned and nothing is
    /// written for them. Snooze and hand-back give the attempt back; every outcome clears the
    /// lease and resets the count of expired leases; failures append to the error history
    /// (newest ``JobAttemptError/historyLimit`` kept).
    public func finish(_ completions: [JobCompletion], worker: String) async throws -> [JobID] {
        guard !completions.isEmpty else { return [] }
        var arguments: [[UInt8]] = [RedisCoding.arg(worker), RedisCoding.arg(completions.count)]
        var reschedules = false
        for completion in completions {
            var outcome = "", runAt: [UInt8] = [], error: [UInt8] = [], hasResult: [UInt8] = [48], result: [UInt8] = []
            switch completion.outcome {
            case .succeeded(let value):
                outcome = "succeeded"
                if let value { hasResult = [49]; result = value }
            case .retry(let at, let failure):
                outcome = "retry"; runAt = RedisCoding.arg(at); error = try RedisCoding.encode(failure); reschedules = true
            case .snooze(let until):
                outcome = "snooze"; runAt = RedisCoding.arg(until); reschedules = true
            case .dead(let failure):
                outcome = "dead"; error = try RedisCoding.encode(failure)
            case .cancelled(let reason):
                outcome = "cancelled"
                error = try RedisCoding.encode(JobAttemptError(attempt: 0, at: completion.at, message: reason, reason: "cancelled"))
            case .handBack:
                outcome = "handback"; reschedules = true
            }
            arguments += [RedisCoding.arg(completion.id), RedisCoding.arg(outcome), RedisCoding.arg(completion.at), runAt, error, hasResult, result]
        }
        let reply = try await perform(.finish, arguments, "finish of \(completions.count) job(s) by worker '\(worker)'")
        if reschedules { workSignal.signal() }
        return try ids(reply)
    }

    /// Extends the leases `worker` holds to `now + lease` and stores reported progress, in one
    /// script.
    /// - Returns: the ids whose lease `worker` no longer holds (the worker should stop them).
    public func heartbeat(_ beats: [JobHeartbeat], worker: String, lease: Duration, now: Date) async throws -> [JobID] {
        guard !beats.isEmpty else { return [] }
        var arguments: [[UInt8]] = [
            RedisCoding.arg(worker), RedisCoding.arg(RedisCoding.millis(now) + RedisCoding.millis(lease)), RedisCoding.arg(beats.count),
        ]
        for beat in beats {
            let progress = try RedisCoding.encodeProgress(beat.progress)
            arguments += [RedisCoding.arg(beat.id), progress == nil ? [48] : [49], progress ?? []]
        }
        return try ids(try await perform(.heartbeat, arguments, "heartbeat of \(beats.count) job(s) by worker '\(worker)'"))
    }

    /// Returns running jobs whose lease expired before `now` to `available`, keeping the
    /// attempt and recording a `lease_expired` error; a job whose lease has now expired more
    /// than `poisonAfter` times in a row goes to `dead` with a `poison` error instead. One
    /// script per 1000 expired leases (it loops until none is left, at most 1000 times).
    public func rescueExpired(now: Date, poisonAfter: Int) async throws -> RescueReport {
        var report = RescueReport()
        for _ in 0..<1000 {
            let reply = try await perform(.rescue, [RedisCoding.arg(now), RedisCoding.arg(max(0, poisonAfter)), RedisCoding.arg(1000)], "rescue of expired leases")
            guard let parts = reply.elements, parts.count == 2 else { throw RedisCoding.corrupt("a rescue reply of the wrong shape") }
            let rescued = try ids(parts[0])
            let poisoned = try ids(parts[1])
            report.rescued += rescued
            report.poisoned += poisoned
            if rescued.count + poisoned.count < 1000 { break }
        }
        report.rescued.sort()
        report.poisoned.sort()
        if !report.rescued.isEmpty { workSignal.signal() }
        return report
    }

    private func ids(_ reply: RESPValue) throws -> [JobID] {
        guard let cells = reply.elements else { throw RedisCoding.corrupt("expected a list of ids, got \(reply)") }
        return try cells.map { cell in
            guard let id = cell.string.flatMap({ JobID($0) }) else { throw RedisCoding.corrupt("expected a job id, got \(cell)") }
            return id
        }
    }

    // MARK: Waiting

    /// Suspends until a job may be claimable in one of `queues`, `deadline` passes, or the task
    /// is cancelled.
    ///
    /// Returns at once when one of `queues` (not paused) has an available job or a due
    /// scheduled one; otherwise sleeps on `clock` until the earliest of `deadline`, the next
    /// scheduled run-at and ``Configuration/pollInterval`` from now, or until a wake-up (an
    /// enqueue, hand-back, retry, rescue or resume in any process) arrives. Cost: one script
    /// reading two keys per queue.
    public func waitForWork(queues: [String], deadline: Date, clock: any JobClock) async {
        let ticket = workSignal.ticket()
        let now = clock.now
        var until = min(deadline, now.adding(configuration.pollInterval))
        do {
            let reply = try await perform(.ready, [RedisCoding.arg(now)] + queues.map { RedisCoding.arg($0) }, "checking for work")
            if let parts = reply.elements, parts.count == 2 {
                if parts[0].int == 1 { return }
                if let next = parts[1].int { until = min(until, RedisCoding.date(millis: next)) }
            }
        } catch {
            if Task.isCancelled { return }
            logger.warning("checking for work failed; waiting for the next poll", metadata: ["spool.error": "\(error)"])
            // The poll in real time: a test's manual clock must not stall a store that failed.
            await workSignal.wait(ticket, until: Date().adding(configuration.pollInterval), clock: SystemClock())
            return
        }
        await workSignal.wait(ticket, until: until, clock: clock)
    }

    // MARK: Inspection

    /// The job with `id`, or nil. One `HGETALL`.
    public func job(_ id: JobID) async throws -> JobRecord? {
        let reply = try await command([Array("HGETALL".utf8), Array("\(prefix):job:\(id)".utf8)], "reading job \(id)")
        return try record(reply)
    }

    private func record(_ reply: RESPValue) throws -> JobRecord? {
        try RedisCoding.hash(reply).map { try RedisCoding.record($0) }
    }

    /// Jobs passing `filter`, newest (highest id) first, at most `limit` (capped at 10,000),
    /// after the cursor. Cost: one script walks ids newest first reading the state, queue and
    /// kind of each, at most 100,000 per call (a page may then be short, with a cursor to go
    /// on from), then one pipelined `HGETALL` per job returned.
    public func jobs(_ filter: JobFilter, after: JobID?, limit: Int) async throws -> JobPage {
        let limit = min(max(1, limit), 10_000)
        if let states = filter.states, states.isEmpty { return JobPage(jobs: [], nextCursor: nil) }
        let states = filter.states.map { $0.map(\.rawValue).sorted().joined(separator: ",") } ?? "*"
        let arguments: [[UInt8]] = [
            after.map { RedisCoding.arg($0) } ?? [], RedisCoding.arg(limit), RedisCoding.arg(100_000), RedisCoding.arg(states),
            filter.queue == nil ? [48] : [49], RedisCoding.arg(filter.queue ?? ""), filter.kind == nil ? [48] : [49],
            RedisCoding.arg(filter.kind ?? ""),
        ]
        let reply = try await perform(.list, arguments, "listing jobs")
        guard let cells = reply.elements, let cursorText = cells.first?.string else { throw RedisCoding.corrupt("a listing reply of the wrong shape") }
        let ids = try cells.dropFirst().map { cell in
            guard let id = cell.string.flatMap({ JobID($0) }) else { throw RedisCoding.corrupt("a listed id that is not an id") }
            return id
        }
        var records: [JobRecord] = []
        if !ids.isEmpty {
            let replies: [RESPValue]
            do {
                let connection = try await pool.connection()
                replies = try await connection.pipeline(ids.map { [Array("HGETALL".utf8), Array("\(prefix):job:\($0)".utf8)] })
            } catch {
                throw wrap(error, "reading listed jobs")
            }
            for reply in replies {
                if let record = try record(try checked(reply)) { records.append(record) }
            }
        }
        return JobPage(jobs: records, nextCursor: cursorText.isEmpty ? nil : JobID(cursorText))
    }

    /// Counts by queue and state. One `HGETALL` of a counter hash the scripts keep.
    public func stats() async throws -> StorageStats {
        let reply = try await command([Array("HGETALL".utf8), Array("\(prefix):counts".utf8)], "counting jobs")
        guard let cells = reply.elements else { throw RedisCoding.corrupt("expected a hash of counts") }
        var stats = StorageStats()
        for pair in stride(from: 0, to: cells.count - 1, by: 2) {
            guard let field = cells[pair].string, let count = cells[pair + 1].int, count > 0,
                let colon = field.firstIndex(of: ":"), let state = JobState(rawValue: String(field[..<colon]))
            else { continue }
            stats.queues[String(field[field.index(after: colon)...]), default: [:]][state] = Int(count)
        }
        return stats
    }

    // MARK: Operator actions

    /// Makes dead or cancelled jobs available again with a fresh budget of attempts (attempt 0,
    /// run-at `now`), in one script. A job whose unique key another live job holds now is not
    /// retried.
    /// - Returns: the ids that were retried, in the order given.
    public func retry(_ ids: [JobID], now: Date) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let done = Set(try self.ids(try await perform(.retry, [RedisCoding.arg(now)] + ids.map { RedisCoding.arg($0) }, "retry of \(ids.count) job(s)")))
        if !done.isEmpty { workSignal.signal() }
        return ids.filter { done.contains($0) }
    }

    /// Cancels jobs that have not finished, in one script, recording a `cancelled` error. A
    /// running job's lease is void at once: its worker's outcome and heartbeats are refused.
    /// - Returns: the ids that were cancelled, in the order given.
    public func cancel(_ ids: [JobID], now: Date) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let done = Set(try self.ids(try await perform(.cancel, [RedisCoding.arg(now)] + ids.map { RedisCoding.arg($0) }, "cancel of \(ids.count) job(s)")))
        return ids.filter { done.contains($0) }
    }

    /// Deletes jobs in any state, in one script. A running job's worker loses its lease.
    /// - Returns: the ids that existed and were deleted, in the order given.
    public func delete(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let done = Set(try self.ids(try await perform(.delete, ids.map { RedisCoding.arg($0) }, "delete of \(ids.count) job(s)")))
        return ids.filter { done.contains($0) }
    }

    /// Deletes at most `limit` finished jobs (succeeded, dead, cancelled) that finished before
    /// `before`, oldest first, in one script (at most 10,000 per call).
    /// - Returns: how many were deleted.
    public func prune(finishedBefore before: Date, limit: Int) async throws -> Int {
        guard limit > 0 else { return 0 }
        let reply = try await perform(.prune, [RedisCoding.arg(before), RedisCoding.arg(min(limit, 10_000))], "prune of finished jobs")
        return Int(reply.int ?? 0)
    }

    // MARK: Queues

    /// Pauses or resumes a queue for every process sharing the namespace. A resume wakes idle
    /// workers everywhere.
    public func setPaused(_ paused: Bool, queue: String) async throws {
        _ = try await command(
            [Array((paused ? "SADD" : "SREM").utf8), Array("\(prefix):paused".utf8), Array(queue.utf8)],
            "\(paused ? "pausing" : "resuming") queue '\(queue)'"
        )
        if !paused {
            try await wakeEveryProcess("resuming queue '\(queue)'")
        }
    }

    /// The paused queues.
    public func pausedQueues() async throws -> Set<String> {
        let reply = try await command([Array("SMEMBERS".utf8), Array("\(prefix):paused".utf8)], "reading paused queues")
        return Set((reply.elements ?? []).compactMap(\.string))
    }

    /// Sets a queue's limits for every process sharing the namespace (the `P:limits` hash);
    /// claims from the next one on honour them. Wakes idle workers everywhere.
    public func setLimits(_ limits: QueueLimits, queue: String) async throws {
        try limits.validate()
        let key = Array("\(prefix):limits".utf8)
        if limits.isNone {
            _ = try await command([Array("HDEL".utf8), key, Array(queue.utf8)], "removing the limits of queue '\(queue)'")
        } else {
            let value = [
                limits.maxRunning.map(String.init) ?? "", limits.rate.map { String($0.count) } ?? "",
                limits.rate.map { String(max(1, $0.period.milliseconds)) } ?? "",
            ].joined(separator: ",")
            _ = try await command([Array("HSET".utf8), key, Array(queue.utf8), Array(value.utf8)], "setting the limits of queue '\(queue)'")
        }
        if limits.rate == nil {
            _ = try await command([Array("DEL".utf8), Array("\(prefix):q:\(queue):starts".utf8)], "clearing the starts of queue '\(queue)'")
        }
        try await wakeEveryProcess("limiting queue '\(queue)'")
    }

    /// Wakes this process's idle workers and every other process's: an empty enqueue batch
    /// only runs the script's wake-up.
    private func wakeEveryProcess(_ after: String) async throws {
        workSignal.signal()
        _ = try await perform(.enqueue, [RedisCoding.arg(Int64(0)), RedisCoding.arg(0)], "waking workers after \(after)")
    }

    /// The queues with limits.
    public func queueLimits() async throws -> [String: QueueLimits] {
        let reply = try await command([Array("HGETALL".utf8), Array("\(prefix):limits".utf8)], "reading queue limits")
        let cells = reply.elements ?? []
        var limits: [String: QueueLimits] = [:]
        for pair in stride(from: 0, to: cells.count - 1, by: 2) {
            guard let name = cells[pair].string, let value = cells[pair + 1].string else { continue }
            let fields = value.split(separator: ",", omittingEmptySubsequences: false).map { Int64($0) }
            guard fields.count == 3 else { throw RedisCoding.corrupt("queue limits of '\(name)': '\(value)'") }
            limits[name] = QueueLimits.stored(maxRunning: fields[0], rateCount: fields[1], period: fields[2].map { .milliseconds($0) })
        }
        return limits
    }
}

extension UInt8 {
    fileprivate var isASCIIAlphanumeric: Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
    }
}
