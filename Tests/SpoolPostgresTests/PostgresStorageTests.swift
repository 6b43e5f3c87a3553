import Foundation
import Logging
import PostgresNIO
import Spool
import SpoolPostgres
import SpoolTesting
import Synchronization
import Testing

@Suite("PostgreSQL driver", .enabled(if: PostgresTestServer.enabled, PostgresTestServer.skipMessage))
struct PostgresStorageTests {
    static let logger = Logger(label: "spool.test")

    static func newJob(_ kind: String = "noop", queue: String = "default", uniqueKey: String? = nil, now: Date = Date()) -> NewJob {
        NewJob(queue: queue, kind: kind, payload: JobPayload(bytes: Array("{}".utf8)), runAt: now, createdAt: now, uniqueKey: uniqueKey)
    }

    @Test("a malformed URL or schema name is refused with invalidArgument")
    func badConfiguration() throws {
        #expect(throws: SpoolError.self) { try PostgresStorage(url: "mysql://x@y/z") }
        let error = try #require(throws: SpoolError.self) {
            try PostgresStorage(url: "postgres://u:p@localhost/db", configuration: .init(schema: "Bad-Name"))
        }
        #expect(error.code == .invalidArgument)
    }

    @Test("URL options override the configuration; a bad on/off value is refused")
    func urlOptions() throws {
        let defaults = try PostgresStorage(url: "postgres://u:p@localhost/db")
        #expect(defaults.configuration.preparedStatements && defaults.configuration.notifications)
        let pooled = try PostgresStorage(
            url: "postgres://u:p@localhost/db?prepared_statements=off&notifications=off&pool_size=3&schema=jobs")
        #expect(!pooled.configuration.preparedStatements && !pooled.configuration.notifications)
        #expect(pooled.configuration.poolSize == 3 && pooled.configuration.schema == "jobs")
        let error = try #require(throws: SpoolError.self) {
            try PostgresStorage(url: "postgres://u:p@localhost/db?prepared_statements=maybe")
        }
        #expect(error.code == .invalidArgument && error.message.contains("prepared_statements must be on or off"), "\(error)")
        #expect(!error.message.contains(":p@"), "the password is never shown")
    }

    @Test("a duplicate id fails the whole batch with invalidArgument")
    func duplicateID() async throws {
        try await PostgresTestServer.withStorage { storage in
            let first = Self.newJob()
            var twin = Self.newJob()
            twin.id = first.id
            let error = try await #require(throws: SpoolError.self) {
                try await storage.enqueue([Self.newJob(), first, twin], whenFull: .wait, now: Date())
            }
            #expect(error.code == .invalidArgument)
            #expect(try await storage.stats().count(.available) == 0, "nothing of the batch is stored")
            _ = try await storage.enqueue([first], whenFull: .wait, now: Date())
            let again = try await #require(throws: SpoolError.self) {
                try await storage.enqueue([first], whenFull: .wait, now: Date())
            }
            #expect(again.code == .invalidArgument)
        }
    }

    @Test(
        "a batch stored with COPY (prepared statements on) or INSERT (off) reads back unchanged, escapes and all", arguments: [true, false])
    func bulkRoundTrip(preparedStatements: Bool) async throws {
        try await PostgresTestServer.withStorage(preparedStatements: preparedStatements) { storage in
            let now = Date(timeIntervalSince1970: 1_790_000_000.5)
            // Names hold no control characters (JobInput); metadata and payloads may.
            let awkward = "tab\tnew\nline\r\\N back\\slash ünï \\. 😀"
            let awkwardName = "\\N back\\slash ünï \\. 😀"
            var jobs = [
                NewJob(
                    queue: "q \\ ", kind: awkwardName, payload: JobPayload(bytes: []), priority: -7, maxAttempts: 1,
                    runAt: now, createdAt: now, timeout: .microseconds(1_500), metadata: ["k\t": awkward, "": ""]),
                NewJob(
                    kind: "big", payload: JobPayload(bytes: (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }),
                    priority: JobInput.priorityRange.upperBound, runAt: now.addingTimeInterval(3_600), createdAt: now),
                NewJob(
                    kind: "\\N", payload: JobPayload(bytes: Array("\\.\n\\N\t".utf8)), priority: JobInput.priorityRange.lowerBound,
                    runAt: now, createdAt: now),
            ]
            jobs += (0..<500).map { NewJob(kind: "filler", payload: JobPayload(bytes: [UInt8($0 % 256)]), runAt: now, createdAt: now) }
            let results = try await storage.enqueue(jobs, whenFull: .wait, now: now)
            #expect(results.map(\.id) == jobs.map(\.id) && results.allSatisfy { !$0.existing })
            #expect(results[1].state == .scheduled && results[0].state == .available)
            for (index, job) in jobs.enumerated() where index < 3 || index == jobs.count - 1 {
                let record = try #require(try await storage.job(job.id))
                let (stored, sent) = (try record.payload.encoded(), try job.payload.encoded())
                #expect(record.queue == job.queue && record.kind == job.kind && stored == sent, "job \(index)")
                #expect(record.priority == job.priority && record.maxAttempts == job.maxAttempts, "job \(index)")
                #expect(record.runAt == job.runAt && record.createdAt == job.createdAt, "job \(index)")
                #expect(record.timeout == job.timeout && record.metadata == job.metadata && record.uniqueKey == nil, "job \(index)")
                #expect(record.state == results[index].state && record.attempt == 0 && record.errors.isEmpty, "job \(index)")
            }
            #expect(try await storage.stats().count(.available) == jobs.count - 1)
        }
    }

    /// A payload that refuses to be encoded, as a value with a non-finite number would.
    private struct Unencodable: Encodable, Sendable {
        func encode(to encoder: any Encoder) throws {
            throw EncodingError.invalidValue(Double.nan, EncodingError.Context(codingPath: [], debugDescription: "not a JSON number"))
        }
    }

    /// COPY encodes each payload as it sends its line: a bad one near the end comes after
    /// chunks the server has already taken, and the COPY must be cancelled whole.
    @Test(
        "a batch with an unencodable payload near its end is refused whole, by COPY (prepared statements on) or INSERT (off)",
        arguments: [true, false])
    func unencodablePayloadStoresNothing(preparedStatements: Bool) async throws {
        try await PostgresTestServer.withStorage(preparedStatements: preparedStatements) { storage in
            let now = Date()
            var jobs = (0..<600).map {
                NewJob(kind: "filler", payload: JobPayload(bytes: Array("{\"index\":\($0)}".utf8)), runAt: now, createdAt: now)
            }
            jobs.append(NewJob(kind: "bad", payload: JobPayload(value: Unencodable()), runAt: now, createdAt: now))
            jobs += (0..<10).map { NewJob(kind: "after", payload: JobPayload(bytes: [UInt8($0)]), runAt: now, createdAt: now) }
            let error = await #expect(throws: SpoolError.self) { try await storage.enqueue(jobs, whenFull: .wait, now: now) }
            #expect(error?.code == .unencodablePayload)
            #expect(try await storage.stats().count(.available) == 0)
            // The connection that ran the cancelled COPY is fit for the next batch.
            let results = try await storage.enqueue(Array(jobs[0..<600]), whenFull: .wait, now: now)
            #expect(results.count == 600)
            #expect(try await storage.stats().count(.available) == 600)
        }
    }

    @Test("the error history is capped and a retried job refuses a taken unique key")
    func historyCapAndRetryUniqueKey() async throws {
        try await PostgresTestServer.withStorage { storage in
            let now = Date()
            let id = try await storage.enqueue([Self.newJob(uniqueKey: "k", now: now)], whenFull: .wait, now: now)[0].id
            for attempt in 1...(JobAttemptError.historyLimit + 5) {
                let claimed = try await storage.claim(
                    ClaimRequest(demands: [QueueDemand(queue: "default", limit: 1)], worker: "w", lease: .seconds(30)), now: now)
                #expect(claimed.map(\.id) == [id])
                let error = JobAttemptError(attempt: attempt, at: now, message: "failure \(attempt)")
                _ = try await storage.finish([JobCompletion(id: id, outcome: .retry(at: now, error: error), at: now)], worker: "w")
            }
            let record = try #require(try await storage.job(id))
            #expect(record.errors.count == JobAttemptError.historyLimit)
            #expect(record.errors.last?.message == "failure \(JobAttemptError.historyLimit + 5)")
            #expect(record.errors.first?.message == "failure 6")
            #expect(try await storage.cancel([id], now: now) == [id])
            let holder = try await storage.enqueue([Self.newJob(uniqueKey: "k", now: now)], whenFull: .wait, now: now)[0]
            #expect(!holder.existing)
            #expect(try await storage.retry([id], now: now).isEmpty, "the key is held by a live job")
            #expect(try await storage.cancel([holder.id], now: now) == [holder.id])
            #expect(try await storage.retry([id, holder.id], now: now) == [id], "with the key free, the first one wins")
        }
    }

    /// A statement outside a transaction commits after PostgresNIO reports it done (at
    /// `CommandComplete`; the commit comes at the `Sync` after it). A deferred constraint
    /// trigger that fails at commit stands in for a server that stops in between: an
    /// enqueue, an outcome or a claim must fail then, not report what was rolled back.
    @Test("an enqueue, a claim and an outcome whose commit fails are reported as failed")
    func commitFailureIsReported() async throws {
        let url = try PostgresTestServer.requireURL()
        let schema = PostgresTestServer.schemaName("commit")
        let storage = try PostgresStorage(url: url, configuration: PostgresTestServer.configuration(schema: schema))
        try await PostgresTestServer.running(storage) { storage in
            let job = Self.newJob()
            _ = try await storage.enqueue([job], whenFull: .fail, now: Date())
            // From now on every commit that touched a job of kind 'noop' fails.
            try await PostgresTestServer.withConnection(url: url) { connection in
                for sql in [
                    """
                    CREATE FUNCTION "\(schema)".refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'refused at commit'; END $$
                    """,
                    """
                    CREATE CONSTRAINT TRIGGER refuse AFTER INSERT OR UPDATE ON "\(schema)".jobs
                    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.kind = 'noop') EXECUTE FUNCTION "\(schema)".refuse()
                    """,
                ] {
                    try await connection.query(PostgresQuery(unsafeSQL: sql), logger: Self.logger)
                }
            }
            await #expect(throws: SpoolError.self) { _ = try await storage.enqueue([Self.newJob()], whenFull: .fail, now: Date()) }
            let request = ClaimRequest(demands: [QueueDemand(queue: "default", limit: 10)], worker: "w1", lease: .seconds(30), limit: 10)
            await #expect(throws: SpoolError.self) { _ = try await storage.claim(request, now: Date()) }
            #expect(try await storage.stats().count(.available) == 1, "the failed enqueue stored nothing, the failed claim took nothing")
            // Let the claim through, then refuse the outcome.
            try await PostgresTestServer.withConnection(url: url) { connection in
                try await connection.query(
                    PostgresQuery(unsafeSQL: "ALTER TABLE \"\(schema)\".jobs DISABLE TRIGGER refuse"), logger: Self.logger)
            }
            let claimed = try await storage.claim(request, now: Date())
            #expect(claimed.map(\.id) == [job.id])
            try await PostgresTestServer.withConnection(url: url) { connection in
                try await connection.query(
                    PostgresQuery(unsafeSQL: "ALTER TABLE \"\(schema)\".jobs ENABLE TRIGGER refuse"), logger: Self.logger)
            }
            await #expect(throws: SpoolError.self) {
                _ = try await storage.finish([JobCompletion(id: job.id, outcome: .succeeded(result: nil), at: Date())], worker: "w1")
            }
            #expect(try await storage.job(job.id)?.state == .running)
        }
        try await PostgresTestServer.dropSchema(schema, url: url)
    }

    @Test("a schema newer than the code is refused, and migrate() reports versions")
    func migrationRefusesNewerSchema() async throws {
        let url = try PostgresTestServer.requireURL()
        let schema = PostgresTestServer.schemaName("mig")
        let storage = try PostgresStorage(url: url, configuration: PostgresTestServer.configuration(schema: schema, migrateOnStart: false))
        // Not migrated: run() refuses to start, naming `spool migrate`.
        let tooOld = try await #require(throws: SpoolError.self) { try await storage.run() }
        #expect(tooOld.code == .storageUnavailable && tooOld.message.contains("spool migrate"), "\(tooOld)")

        let migrator = try PostgresStorage(url: url, configuration: PostgresTestServer.configuration(schema: schema))
        try await PostgresTestServer.running(migrator) { migrator in
            let report = try await migrator.migrate()
            #expect(report.to == PostgresStorage.schemaVersion && report.applied.isEmpty, "run() migrated before body: \(report)")
            #expect(try await migrator.databaseSchemaVersion() == PostgresStorage.schemaVersion)
        }
        // A newer build migrated the schema further: this build refuses it.
        try await PostgresTestServer.withConnection(url: url) { connection in
            try await connection.query(
                PostgresQuery(unsafeSQL: "INSERT INTO \"\(schema)\".migrations VALUES (999, 'from the future', 0)"), logger: Self.logger)
        }
        for migrateOnStart in [true, false] {
            let newer = try PostgresStorage(
                url: url, configuration: PostgresTestServer.configuration(schema: schema, migrateOnStart: migrateOnStart))
            let error = try await #require(throws: SpoolError.self) { try await newer.run() }
            #expect(error.code == .storageUnavailable && error.message.contains("999") && error.message.contains("newer"), "\(error)")
        }
        try await PostgresTestServer.dropSchema(schema, url: url)
    }

    @Test("transactional enqueue: the job exists if and only if the caller's transaction commits")
    func transactionalEnqueue() async throws {
        let url = try PostgresTestServer.requireURL()
        try await PostgresTestServer.withStorage { storage in
            // The typed path of the README: the client prepares, the caller's transaction stores.
            let committed = try #require(SpoolClient(storage: storage).prepare([ProbeJob(value: 1)]).first)
            let now = Date()
            let rolledBack = Self.newJob("rollback", now: now)
            try await PostgresTestServer.withConnection(url: url) { connection in
                try await connection.query("CREATE TEMP TABLE orders (id int)", logger: Self.logger)
                try await connection.withTransaction(logger: Self.logger) { connection in
                    try await connection.query("INSERT INTO orders VALUES (1)", logger: Self.logger)
                    let results = try await storage.enqueue([committed], on: connection, now: now)
                    #expect(results.map(\.id) == [committed.id])
                }
                struct Abort: Error {}
                await #expect(throws: PostgresTransactionError.self) {
                    try await connection.withTransaction(logger: Self.logger) { connection in
                        try await connection.query("INSERT INTO orders VALUES (2)", logger: Self.logger)
                        _ = try await storage.enqueue([rolledBack], on: connection, now: now)
                        throw Abort()
                    }
                }
                let orders = try await connection.query("SELECT id FROM orders ORDER BY id", logger: Self.logger).collect()
                #expect(try orders.map { try $0.decode(Int.self) } == [1])
            }
            #expect(try await storage.job(committed.id)?.state == .available, "the committed job exists")
            #expect(try await storage.job(rolledBack.id) == nil, "the rolled-back job does not")
        }
    }

    /// PostgresNIO drops a statement written to a connection whose channel NIO has torn down
    /// (the call would never end); the driver checks the connection on its event loop first.
    @Test("an enqueue on a connection the server closed fails with storageUnavailable instead of waiting forever", .timeLimit(.minutes(1)))
    func enqueueOnClosedConnection() async throws {
        let url = try PostgresTestServer.requireURL()
        try await PostgresTestServer.withStorage { storage in
            try await PostgresTestServer.withConnection(url: url) { victim in
                let pid = try #require(try await victim.query("SELECT pg_backend_pid()", logger: Self.logger).collect().first).decode(
                    Int32.self)
                try await PostgresTestServer.withConnection(url: url) { killer in
                    try await killer.query("SELECT pg_terminate_backend(\(pid))", logger: Self.logger)
                }
                try await victim.closeFuture.get()
                let error = try await #require(throws: SpoolError.self) {
                    try await storage.enqueue([Self.newJob()], on: victim, now: Date())
                }
                #expect(error.code == .storageUnavailable && error.message.contains("connection was lost"), "\(error)")
            }
        }
    }

    /// A storage whose pooled connections carry `applicationName` (so a test can find them in
    /// `pg_stat_activity`); its LISTEN connection does not.
    static func namedStorage(url: String, schema: String, applicationName: String, poolSize: Int) throws -> PostgresStorage {
        let parsed = try #require(URLComponents(string: url))
        let host = parsed.host ?? "127.0.0.1", port = parsed.port ?? 5432, user = parsed.user ?? "spool"
        let database = String(parsed.path.dropFirst())
        var client = PostgresClient.Configuration(
            host: host, port: port, username: user, password: parsed.password, database: database, tls: .disable)
        client.options.additionalStartupParameters = [("application_name", applicationName)]
        let listen = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: parsed.password, database: database, tls: .disable)
        return try PostgresStorage(
            clientConfiguration: client, listenConfiguration: listen,
            configuration: PostgresTestServer.configuration(schema: schema, poolSize: poolSize)
        )
    }

    /// The pool hands out a connection the server closed until it hears of the close, and a
    /// failed transaction rolls back on its connection: neither may leave a call waiting.
    @Test("while the server keeps closing the pool's connections, every operation ends, and the storage recovers", .timeLimit(.minutes(2)))
    func connectionsClosedUnderLoad() async throws {
        let url = try PostgresTestServer.requireURL()
        let schema = PostgresTestServer.schemaName("closing")
        let storage = try Self.namedStorage(url: url, schema: schema, applicationName: schema, poolSize: 4)
        final class Tally: Sendable {
            let succeeded = Atomic<Int>(0)
            let unavailable = Atomic<Int>(0)
            let stop = Atomic<Bool>(false)
        }
        let tally = Tally()
        try await PostgresTestServer.running(storage) { storage in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<8 {
                    group.addTask {
                        while !tally.stop.load(ordering: .relaxed) {
                            do {
                                // A prepared statement, and a transaction of two statements.
                                if caller.isMultiple(of: 2) { _ = try await storage.job(JobID()) } else { _ = try await storage.stats() }
                                tally.succeeded.wrappingAdd(1, ordering: .relaxed)
                            } catch let error as SpoolError where error.code == .storageUnavailable {
                                tally.unavailable.wrappingAdd(1, ordering: .relaxed)
                            }
                        }
                    }
                }
                try await PostgresTestServer.withConnection(url: url) { killer in
                    let start = ContinuousClock.now
                    while ContinuousClock.now - start < .seconds(3) {
                        try await killer.query(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = \(schema)", logger: Self.logger
                        )
                        // The disruption under test: a kill every 20 ms for 3 s, real time.
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
                tally.stop.store(true, ordering: .relaxed)
                try await group.waitForAll()
            }
            #expect(
                tally.succeeded.load(ordering: .relaxed) > 0 && tally.unavailable.load(ordering: .relaxed) > 0,
                "succeeded \(tally.succeeded.load(ordering: .relaxed)), unavailable \(tally.unavailable.load(ordering: .relaxed))")
            try await Expectation.eventually(timeout: .seconds(30), "the storage answers again") {
                (try? await storage.stats()) != nil
            }
        }
        try await PostgresTestServer.dropSchema(schema, url: url)
    }

    @Test("an enqueue from another instance wakes a waiting worker through NOTIFY, not the poll")
    func notifyWakesOtherInstance() async throws {
        let url = try PostgresTestServer.requireURL()
        let schema = PostgresTestServer.schemaName("notify")
        // A poll interval far longer than the test's patience: only the notification can wake it.
        var slow = PostgresTestServer.configuration(schema: schema)
        slow.pollInterval = .seconds(600)
        let waiter = try PostgresStorage(url: url, configuration: slow)
        let producer = try PostgresStorage(url: url, configuration: PostgresTestServer.configuration(schema: schema))
        try await PostgresTestServer.running(waiter) { waiter in
            try await PostgresTestServer.running(producer) { producer in
                let woke = EventRecorder<Duration>()
                // The wait's deadline and poll on a clock that never moves: once the waiter
                // sleeps on it, it has checked for work, found none and waits for a wake-up.
                let clock = ManualClock(start: Date())
                try await withThrowingTaskGroup(of: Void.self) { group in
                    _ = try await waiter.stats()
                    let start = EventRecorder<ContinuousClock.Instant>()
                    group.addTask {
                        await waiter.waitForWork(queues: ["default"], deadline: clock.now.addingTimeInterval(600), clock: clock)
                        woke.record(ContinuousClock.now - (start.all.first ?? ContinuousClock.now))
                    }
                    try await clock.waitForSleepers(atLeast: 1)
                    #expect(woke.count == 0, "nothing to do yet: the waiter is still waiting")
                    start.record(ContinuousClock.now)
                    _ = try await producer.enqueue([Self.newJob()], whenFull: .wait, now: Date())
                    try await woke.waitForCount(1, timeout: .seconds(5))
                    group.cancelAll()
                }
                #expect(try #require(woke.all.first) < .seconds(2), "woke \(woke.all) after the enqueue")
            }
        }
        try await PostgresTestServer.dropSchema(schema, url: url)
    }

    @Test("a killed leader is replaced within twice its TTL", .timeLimit(.minutes(1)))
    func leaderFailover() async throws {
        let url = try PostgresTestServer.requireURL()
        let schema = PostgresTestServer.schemaName("leader")
        let ttl = Duration.seconds(3)  // renewals every second: room for a loaded machine
        let one = try PostgresStorage(url: url, configuration: PostgresTestServer.configuration(schema: schema))
        let two = try PostgresStorage(url: url, configuration: PostgresTestServer.configuration(schema: schema))
        try await PostgresTestServer.running(one) { one in
            try await PostgresTestServer.running(two) { two in
                let a = PostgresLeaderElection(storage: one, duty: "maintenance", holder: "a", ttl: ttl)
                let bStore = RecordingLeadershipStore(two)
                let b = LeaderElection(store: bStore, duty: "maintenance", holder: "b", ttl: ttl)
                try await withThrowingTaskGroup(of: Void.self) { outer in
                    try await withThrowingTaskGroup(of: Void.self) { inner in
                        inner.addTask { try await a.run() }
                        try await a.waitForLeadership()
                        outer.addTask { try await b.run() }
                        // b campaigns twice (a renews in between) and loses each time.
                        let campaigns = try await bStore.campaigns.waitForCount(2, timeout: .seconds(20))
                        #expect(campaigns.allSatisfy { !$0 }, "b never wins against a live leader: \(campaigns)")
                        #expect(a.isLeader && !b.isLeader, "one leader at a time")
                        inner.cancelAll()  // "kill" a: it stops renewing and does not release
                    }
                    let killed = ContinuousClock.now
                    try await b.waitForLeadership()
                    let takeover = ContinuousClock.now - killed
                    #expect(takeover <= ttl * 2, "b took over after \(takeover)")
                    #expect(!a.isLeader)
                    outer.cancelAll()
                }
            }
        }
        try await PostgresTestServer.dropSchema(schema, url: url)
    }
}
