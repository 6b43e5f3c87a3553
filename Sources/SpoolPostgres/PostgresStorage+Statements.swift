// PostgresStorage: running statements on pooled connections (on their event loops, in transactions) and announcing work.

import Logging
import PostgresNIO
import Spool

extension PostgresStorage {
    // MARK: Running statements

    /// Runs `body` with a pooled connection, on that connection's event loop, where its
    /// statements cannot be lost when the server closes it (see ``CheckedConnection``).
    ///
    /// Cost, against calling PostgresNIO directly: about the same, and no task is created. The
    /// task hops onto the connection's event loop (where PostgresNIO would send the write), is
    /// resumed there when the answer comes (without waking another thread), and hops back to
    /// the cooperative pool when `body` ends (where PostgresNIO would resume it). The rows are
    /// collected on the event loop; `body` should do little else there.
    func withConnection<T: Sendable>(_ body: (CheckedConnection) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await withTaskExecutorPreference(executors.executor(for: connection.eventLoop)) {
                try await body(CheckedConnection(connection: connection, logger: logger))
            }
        }
    }

    /// Runs `body` with `connection` (the caller's, for a transactional enqueue) on the
    /// connection's event loop (see ``CheckedConnection``).
    func onLoop<T: Sendable>(of connection: PostgresConnection, _ body: (CheckedConnection) async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(executors.executor(for: connection.eventLoop)) {
            try await body(CheckedConnection(connection: connection, logger: logger))
        }
    }

    /// Runs `body` in a transaction on a pooled connection (see ``CheckedConnection/transaction(_:)``).
    func withTransaction<T: Sendable>(_ body: (CheckedConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in try await connection.transaction(body) }
    }

    /// Runs `body` once the storage is ready, reporting its failure as a ``SpoolError`` that
    /// names `operation`.
    func performing<T>(_ operation: @autoclosure () -> String, _ body: () async throws -> T) async throws -> T {
        try await readiness.wait(timeout: configuration.startTimeout, target: target)
        do {
            return try await body()
        } catch {
            throw SpoolError.postgres(error, target: target, operation: operation())
        }
    }

    /// Runs one statement on a pooled connection and collects its rows. Outside a transaction:
    /// for reads; writes take ``committedRows(_:_:_:)``.
    func rows(_ statement: String, _ bindings: PostgresBindings, _ operation: @autoclosure () -> String) async throws -> [PostgresRow] {
        try await performing(operation()) {
            try await withConnection { connection in
                try await connection.query(PostgresQuery(unsafeSQL: statement, binds: bindings))
            }
        }
    }

    /// Runs one statement that writes in a transaction of its own on a pooled connection and
    /// collects its rows.
    ///
    /// Why a transaction for one statement: PostgresNIO reports a statement done at its
    /// `CommandComplete`, but a statement outside a transaction commits only when the server
    /// then processes the `Sync` that follows it. A server that stops or crashes in between
    /// rolls it back after the caller was told it succeeded: an acknowledged change (an
    /// enqueue, an outcome, a retry through the API) that never happened, or a claim whose jobs
    /// run although they were never taken, so they run twice. `COMMIT`'s reply comes only once
    /// the commit is done. Cost: two more round trips.
    func committedRows(
        _ statement: String, _ bindings: PostgresBindings, _ operation: @autoclosure () -> String
    ) async throws -> [PostgresRow] {
        try await performing(operation()) {
            try await withTransaction { connection in
                try await connection.query(PostgresQuery(unsafeSQL: statement, binds: bindings))
            }
        }
    }

    /// Runs one hot statement that writes in a transaction of its own (why: see
    /// ``committedRows(_:_:_:)`` for a statement as text) and collects its rows.
    func committedRows<Statement: PostgresHotStatement>(
        _ statement: Statement.Type, _ bindings: PostgresBindings, _ operation: @autoclosure () -> String
    ) async throws -> [PostgresRow] {
        try await performing(operation()) {
            try await withTransaction { connection in try await self.run(statement, bindings, on: connection) }
        }
    }

    /// Runs one hot statement that writes and returns once it is committed, and gives its rows
    /// as cells: as its procedure's `CALL` (one round trip, see ``PostgresRoutine``) when the
    /// schema has this build's procedures, else in a transaction of its own (three).
    func committedCells<Statement: PostgresCommittedStatement>(
        _ statement: Statement.Type, _ bindings: PostgresBindings, _ operation: @autoclosure () -> String
    ) async throws -> [[PostgresCell]] {
        guard hasRoutines else {
            return try await committedRows(statement, bindings, operation()).map { Array($0) }
        }
        return try await performing(operation()) { try await called(statement, bindings) }
    }

    /// Runs a hot write as its procedure's `CALL` on a pooled connection (one round trip; the
    /// schema must have this build's procedures) and gives its rows as cells. Throws the
    /// driver's errors as they are, for a caller that reads them (``performing(_:_:)`` wraps).
    func called<Statement: PostgresCommittedStatement>(
        _ statement: Statement.Type, _ bindings: PostgresBindings
    ) async throws -> [[PostgresCell]] {
        let rows = try await withConnection { connection in try await self.run(RoutineCall<Statement>.self, bindings, on: connection) }
        guard let row = rows.first else { return [] }
        return Statement.routine.rows ? try PostgresRoutine.columns(of: row) : [Array(row)]
    }

    /// Runs one hot statement on a pooled connection (prepared, see ``run(_:_:on:prepare:)``)
    /// and collects its rows. Outside a transaction: for reads, and writes whose loss is
    /// harmless (a heartbeat); the others take ``committedRows(_:_:_:)``.
    func rows<Statement: PostgresHotStatement>(
        _ statement: Statement.Type, _ bindings: PostgresBindings, _ operation: @autoclosure () -> String
    ) async throws -> [PostgresRow] {
        try await performing(operation()) {
            try await withConnection { connection in try await self.run(statement, bindings, on: connection) }
        }
    }

    /// Wakes local waiters and, with notifications on, every other process's.
    func announceWork(_ queues: some Sequence<String>) async {
        workSignal.signal()
        guard configuration.notifications else { return }
        let names = Array(Set(queues))
        guard !names.isEmpty else { return }
        do {
            _ = try await rows(
                HotSQL.Notify.self,
                binds {
                    $0.append(channel); $0.append(names)
                }, "notifying")
        } catch {
            logger.warning("notifying other processes failed; they notice at their next poll", metadata: ["spool.error": "\(error)"])
        }
    }
}
