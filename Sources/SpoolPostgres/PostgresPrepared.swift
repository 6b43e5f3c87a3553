import PostgresNIO

/// One of the statements on the hot path (enqueue, claim, finish, heartbeat, the check for
/// work). With ``PostgresStorage/Configuration/preparedStatements`` on, each pooled connection
/// parses it once, under ``name``, and later runs only bind and execute: planning a claim
/// costs the server about four times what running it does, so an unprepared statement spends
/// most of its time being planned. Prepared texts name tables without their schema and find
/// them on the pool's `search_path` (PostgresNIO knows a prepared statement by its type, so
/// its text cannot carry a schema chosen at run time).
protocol PostgresHotStatement {
    /// The name the statement is prepared under; unique per statement text.
    static var name: String { get }
    /// This statement's text in `statements`: schema-qualified for running unprepared, or
    /// unqualified in ``PostgresStatements/onSearchPath``.
    static func text(_ statements: PostgresStatements) -> String
    /// The unqualified text, for preparing (a requirement, so that a statement can pick
    /// another unqualified set).
    static var prepared: String { get }
}

extension PostgresHotStatement {
    static var prepared: String { text(.onSearchPath) }
}

/// A hot statement that writes, with a procedure that runs it and commits (see
/// ``PostgresRoutine``), named as the statement.
protocol PostgresCommittedStatement: PostgresHotStatement {
    static var routine: PostgresRoutine { get }
}

/// The `CALL` of a statement's procedure, as a hot statement of its own.
enum RoutineCall<Statement: PostgresCommittedStatement>: PostgresHotStatement {
    static var name: String { "call_\(Statement.name)" }
    static func text(_ statements: PostgresStatements) -> String { Statement.routine.call(statements) }
}

/// A hot statement with its bindings, as PostgresNIO's prepared statement: prepared on a
/// connection the first time that connection runs it, then executed by name.
struct Prepared<Statement: PostgresHotStatement>: PostgresPreparedStatement {
    typealias Row = PostgresRow
    static var name: String { Statement.name }
    static var sql: String { Statement.prepared }
    let bindings: PostgresBindings
    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// The hot statements.
enum HotSQL {
    enum Enqueue: PostgresHotStatement {
        static let name = "spool_enqueue_v1"
        static func text(_ statements: PostgresStatements) -> String { statements.enqueue }
    }
    /// The enqueue without `pg_notify` (notifications off).
    enum QuietEnqueue: PostgresHotStatement {
        static let name = "spool_enqueue_quiet_v1"
        static var prepared: String { text(.onSearchPathQuiet) }
        static func text(_ statements: PostgresStatements) -> String { statements.enqueue }
    }
    /// The enqueue of jobs without unique keys.
    enum KeylessEnqueue: PostgresCommittedStatement {
        static let name = "spool_enqueue_keyless_v1"
        static var routine: PostgresRoutine { .keylessEnqueue }
        static func text(_ statements: PostgresStatements) -> String { statements.enqueueKeyless }
    }
    /// The same without `pg_notify`.
    enum QuietKeylessEnqueue: PostgresCommittedStatement {
        static let name = "spool_enqueue_keyless_quiet_v1"
        static var routine: PostgresRoutine { .quietKeylessEnqueue }
        static var prepared: String { text(.onSearchPathQuiet) }
        static func text(_ statements: PostgresStatements) -> String { statements.enqueueKeyless }
    }
    /// The enqueue of one job that a waiting worker of this process may take at once.
    enum HandOffEnqueue: PostgresCommittedStatement {
        static let name = "spool_enqueue_handoff_v1"
        static var routine: PostgresRoutine { .handOffEnqueue }
        static func text(_ statements: PostgresStatements) -> String { statements.handOffEnqueueParts.text }
    }
    enum Holders: PostgresHotStatement {
        static let name = "spool_holders_v1"
        static func text(_ statements: PostgresStatements) -> String { statements.holders }
    }
    enum ClaimLocks: PostgresHotStatement {
        static let name = "spool_claim_locks_v1"
        static func text(_ statements: PostgresStatements) -> String { statements.claimLocks }
    }
    enum LimitedQueues: PostgresHotStatement {
        static let name = "spool_limited_queues_v1"
        static func text(_ statements: PostgresStatements) -> String { statements.limitedQueues }
    }
    enum Claim: PostgresHotStatement {
        static let name = "spool_claim_v3"
        static func text(_ statements: PostgresStatements) -> String { statements.claim }
    }
    enum FastClaim: PostgresCommittedStatement {
        static let name = "spool_fast_claim_v4"
        static var routine: PostgresRoutine { .fastClaim }
        static func text(_ statements: PostgresStatements) -> String { statements.fastClaim }
    }
    enum RecordStarts: PostgresHotStatement {
        static let name = "spool_record_starts_v1"
        static func text(_ statements: PostgresStatements) -> String { statements.recordStarts }
    }
    enum Finish: PostgresCommittedStatement {
        static let name = "spool_finish_v3"
        static var routine: PostgresRoutine { .finish }
        static func text(_ statements: PostgresStatements) -> String { statements.finish }
    }
    /// The finish of a batch of successes only.
    enum FinishSucceeded: PostgresCommittedStatement {
        static let name = "spool_finish_succeeded_v4"
        static var routine: PostgresRoutine { .finishSucceeded }
        static func text(_ statements: PostgresStatements) -> String { statements.finishSucceeded }
    }
    enum Heartbeat: PostgresHotStatement {
        static let name = "spool_heartbeat_v1"
        static func text(_ statements: PostgresStatements) -> String { statements.heartbeat }
    }
    enum Ready: PostgresHotStatement {
        static let name = "spool_ready_v1"
        static func text(_ statements: PostgresStatements) -> String { statements.ready }
    }
    enum Job: PostgresHotStatement {
        static let name = "spool_job_v2"
        static func text(_ statements: PostgresStatements) -> String { statements.job }
    }
    enum Notify: PostgresHotStatement {
        static let name = "spool_notify_v1"
        static func text(_ statements: PostgresStatements) -> String { statements.notify }
    }
}

extension PostgresStorage {
    /// Runs a hot statement on `connection` and collects its rows: prepared when the
    /// configuration says so, else as an unnamed statement with the schema-qualified text. A
    /// connection that is not the pool's (the caller's, for a transactional enqueue) must pass
    /// `prepare: false`: its `search_path` is the caller's.
    func run<Statement: PostgresHotStatement>(
        _ statement: Statement.Type, _ bindings: PostgresBindings, on connection: CheckedConnection, prepare: Bool? = nil
    ) async throws -> [PostgresRow] {
        if prepare ?? configuration.preparedStatements {
            return try await connection.execute(Prepared<Statement>(bindings: bindings))
        }
        return try await connection.query(PostgresQuery(unsafeSQL: Statement.text(sql), binds: bindings))
    }
}
