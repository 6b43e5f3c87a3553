// RedisStorage: the type, its stored properties, initializers, and running it (scripts, wake-up listener, maintenance).

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
/// - Batches and dependencies (``JobBatching``) are kept by the same scripts that move the jobs:
///   a batch's counts and callbacks, and a job's dependents, change in the script of the
///   outcome, cancel, delete, rescue or retry that causes it.
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
    /// The settings the storage was made with.
    public let configuration: Configuration
    let endpoint: RedisEndpoint
    let pool: RESPConnectionPool
    /// `{namespace}`: the first argument of every script.
    let prefix: String
    /// `host:port/db (namespace n)`, for messages; never the password.
    let target: String
    let scripts = Mutex<[RedisScript: String]>([:])
    package let workSignal = WakeSignal()
    /// The last claim of each set of queues, when it took every due job it saw, for
    /// ``waitForWork(queues:deadline:clock:)``.
    let exhaustiveClaims = ExhaustiveClaims()
    /// This process's workers waiting for work, to whom an enqueue may hand its job.
    package let claimWaiters = ClaimWaiters()
    let readiness = StorageReadiness(store: "Redis job store")
    /// This process's name in the listener set.
    private let listener: String
    let logger: Logger

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
            throw SpoolError(
                code: .invalidArgument,
                message: "namespace must be 1 to 64 letters, digits, '-', '_' or '.'; got '\(configuration.namespace)'")
        }
        self.configuration = configuration
        self.endpoint = endpoint
        self.logger = configuration.logger
        self.pool = RESPConnectionPool(
            endpoint: endpoint, size: configuration.poolSize, connectTimeout: configuration.connectTimeout,
            replyTimeout: configuration.commandTimeout
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
                logger.warning(
                    "cannot reach the Redis job store yet; retrying", metadata: ["spool.error": "\(wrapped)", "spool.retry_in": "\(delay)"])
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
            logger.warning(
                "the Redis server may evict keys when its memory is full, and jobs with them; set maxmemory-policy to noeviction",
                metadata: [
                    "spool.redis.maxmemory_policy": "\(policy)"
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
                    // Registered for 10 s, renewed after 3 s: with a 2 s BLPOP the entry never
                    // lapses while this loop runs, and a wake-up costs no script.
                    var registered: ContinuousClock.Instant?
                    while !Task.isCancelled {
                        let now = ContinuousClock.now
                        if registered.map({ now - $0 >= .seconds(3) }) ?? true {
                            _ = try await evaluate(.register, [RedisCoding.arg(listener), ttl], on: connection)
                            registered = now
                        }
                        let reply = try checked(try await connection.send([Array("BLPOP".utf8), wakeKey, Array("2".utf8)]))
                        if !reply.isNull { workSignal.signal() }
                        delay = .milliseconds(100)
                    }
                } onCancel: {
                    connection.close()
                }
            } catch {
                if Task.isCancelled { break }
                logger.warning(
                    "the Redis wake-up connection failed; reconnecting (idle workers poll meanwhile)",
                    metadata: [
                        "spool.error": "\(wrap(error, "waiting for wake-ups"))", "spool.retry_in": "\(delay)",
                    ])
            }
            do { try await Task.sleep(for: delay) } catch { break }
            delay = min(.seconds(5), delay * 2)
        }
        // Best effort: leave the listener set at once rather than when the entry expires.
        _ = try? await pool.send([Array("ZREM".utf8), Array("\(prefix):listeners".utf8), RedisCoding.arg(listener)])
    }
}
