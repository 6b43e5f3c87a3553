import Logging
import NIOCore
import PostgresNIO

/// A connection used from its own event loop, whose statements fail, instead of waiting
/// forever, when the server has closed it.
///
/// Why: PostgresNIO (1.33) hands a statement to the connection's channel with a write whose own
/// failure nobody hears (`channel.write(task, promise: nil)`). Once the channel has closed and
/// NIO has torn its pipeline down, that write is dropped and the statement's promise is never
/// completed: the call neither returns nor throws, ignores cancellation, and closing the
/// connection again changes nothing. The pool hands out a connection the server closed until it
/// hears of the close, which NIO reports only after the teardown; and a transaction's
/// `ROLLBACK` after a statement that failed because the server left is written after it. A
/// database restart under load hit both: a worker's claim or outcome flush waited forever.
/// (PostgresNIO fixed this in its pull request 487 and reverted the fix in 501.)
///
/// The remedy: NIO marks a channel inactive, and later tears its pipeline down, on the
/// channel's event loop. So on that loop, a connection that is not closed still has its
/// pipeline, and a write made there reaches PostgresNIO's handler at once, which sends the
/// statement or fails it (a statement sent and then cut off is failed by the handler, as
/// always). Here every statement checks the connection and is written by PostgresNIO in the
/// same turn of the loop: the caller runs under a task executor on the connection's loop
/// (``PostgresStorage/withConnection(_:)``), PostgresNIO's `query` and `execute` write before
/// their first suspension, and a call between nonisolated functions on one task executor does
/// not hop.
///
/// Guarantee: every statement run here returns or throws; on a connection that is closed, or
/// closes meanwhile, it throws ``PostgresConnectionClosed`` or PostgresNIO's connection error,
/// which ``SpoolError/postgres(_:target:operation:)`` reports as `storageUnavailable` (the
/// worker retries). Cost of the check: one atomic load.
struct CheckedConnection {
    let connection: PostgresConnection
    let logger: Logger

    /// Runs one statement and collects its rows.
    func query(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try checkOpen()
        return try await connection.query(query, logger: logger).collect()
    }

    /// Runs one statement, prepared on this connection the first time it runs it.
    func execute<Statement: PostgresPreparedStatement>(_ statement: Statement) async throws -> [PostgresRow]
    where Statement.Row == PostgresRow {
        try checkOpen()
        var rows: [PostgresRow] = []
        for try await row in try await connection.execute(statement, logger: logger) { rows.append(row) }
        return rows
    }

    /// Runs `COPY table (columns) FROM STDIN` (text format; `table` is found on the
    /// connection's `search_path`) with the data `write` hands to its argument, chunk by chunk.
    /// When `write` throws, the COPY is cancelled (it stores nothing) and its error is thrown.
    func copy(into table: String, columns: [String], _ write: (_ send: (ByteBuffer) async throws -> Void) async throws -> Void) async throws
    {
        try checkOpen()
        try await connection.copyFrom(table: table, columns: columns, logger: logger) { writer in
            try await write { chunk in try await writer.write(chunk) }
        }
    }

    /// Runs `body` in a transaction: `BEGIN`, then `COMMIT` when `body` returns, or `ROLLBACK`
    /// when it throws (which fails at once on a closed connection: the server has rolled back).
    /// Throws `body`'s error, or the error of `BEGIN` or `COMMIT`.
    func transaction<T>(_ body: (CheckedConnection) async throws -> T) async throws -> T {
        _ = try await query("BEGIN")
        let value: T
        do {
            value = try await body(self)
        } catch {
            _ = try? await query("ROLLBACK")
            throw error
        }
        _ = try await query("COMMIT")
        return value
    }

    private func checkOpen() throws {
        // The premise of the check (see the type's comment); debug builds verify it.
        connection.eventLoop.assertInEventLoop()
        if connection.isClosed { throw PostgresConnectionClosed() }
    }
}

/// A statement was not sent: its connection was closed (by the server, or lost).
struct PostgresConnectionClosed: Error, CustomStringConvertible {
    var description: String {
        "cannot reach the database or the connection was lost (closed before the statement was sent); the operation may be retried"
    }
}

/// A task executor that runs jobs on one NIO event loop, so that a task preferring it runs its
/// nonisolated code on that loop's thread.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// The task executors of an event loop group's loops, made once.
struct EventLoopTaskExecutors: Sendable {
    private let executors: [ObjectIdentifier: EventLoopTaskExecutor]

    init(_ group: any EventLoopGroup) {
        var executors: [ObjectIdentifier: EventLoopTaskExecutor] = [:]
        for loop in group.makeIterator() { executors[ObjectIdentifier(loop)] = EventLoopTaskExecutor(loop) }
        self.executors = executors
    }

    /// The executor of `loop`; a new one for a loop of another group (a caller's connection).
    func executor(for loop: any EventLoop) -> EventLoopTaskExecutor {
        executors[ObjectIdentifier(loop)] ?? EventLoopTaskExecutor(loop)
    }
}
