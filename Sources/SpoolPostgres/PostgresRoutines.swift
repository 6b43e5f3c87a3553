import NIOCore
import PostgresNIO

/// A hot write run as a procedure that commits before it answers: one round trip where a
/// transaction of its own takes three.
///
/// Why: PostgresNIO reports a statement done at its `CommandComplete`, before the commit of a
/// statement outside a transaction (see ``PostgresStorage/committedRows(_:_:_:)``), so the
/// claim, the outcome flush and the enqueue each ran as `BEGIN`, the statement, `COMMIT`. A procedure may
/// commit inside (`COMMIT` in PL/pgSQL, allowed when `CALL` runs outside a transaction block,
/// as on the pool's connections), and `CALL` answers only when its body is done: the reply
/// arrives after the commit, and a commit that fails fails the `CALL`. Measured against the
/// three round trips: the claim and the flush each take about 0.3–0.5 ms less on loopback.
///
/// The statement is planned once per connection (a generic plan, forced for the procedure's
/// transaction): left to choose, PostgreSQL planned the claim anew on every call (0.7 ms, four
/// times its run) because the estimates of a job table that turns over are nearly always wrong.
///
/// The procedure runs the statement unchanged (its `$n` are the procedure's parameters) and
/// returns its result in INOUT parameters: a statement that returns one row, that row's
/// columns; one that returns rows, each column as an array (``columns(of:)`` turns them back
/// into rows). Procedures are created by ``PostgresSchema/migrate(_:schema:now:)`` under the
/// name of the statement they run (a changed text takes a new name, as prepared statements do),
/// so processes of several builds can share a schema; a schema without this build's procedures
/// (migrated by an older build, with `migrateOnStart` off) gets the three round trips.
struct PostgresRoutine: Sendable {
    /// The procedure's name: the hot statement's (``PostgresHotStatement/name``).
    let name: String
    /// The types of `$1`, `$2`, …, as the statement reads them.
    let parameters: [String]
    /// The types of the statement's result columns.
    let columns: [String]
    /// Whether the statement returns any number of rows (their columns travel as arrays) or
    /// exactly one.
    let rows: Bool
    /// The statement, split where the procedure wraps it.
    let statement: @Sendable (PostgresStatements) -> PostgresSplitStatement

    /// The `CREATE OR REPLACE PROCEDURE` in the schema of `statements` (qualified).
    ///
    /// ``PostgresRoutine/install(_:schema:)`` creates only the names a schema lacks: a change
    /// to this text, or to a statement's, must come with new statement names.
    func definition(_ statements: PostgresStatements) -> String {
        let results = columns.indices.map { "spool_r\($0 + 1)" }
        let declared =
            parameters.map { "IN \($0)" }
            + zip(results, columns).map { "INOUT \($0) \($1)\(rows ? "[]" : "") DEFAULT NULL" }
        let names = columns.indices.map { "spool_c\($0 + 1)" }
        let picked = rows ? names.map { "array_agg(\($0))" } : names
        let split = statement(statements)
        return """
            CREATE OR REPLACE PROCEDURE \(statements.prefix)\(name)(\(declared.joined(separator: ", ")))
            LANGUAGE plpgsql AS $spool$
            BEGIN
                PERFORM set_config('plan_cache_mode', 'force_generic_plan', true);
                WITH \(split.ctes), spool_out(\(names.joined(separator: ", "))) AS (
                    \(split.select)
                )
                SELECT \(picked.joined(separator: ", ")) INTO \(results.joined(separator: ", ")) FROM spool_out;
                COMMIT;
            END
            $spool$
            """
    }

    /// The `CALL` with the statement's parameters, its result parameters NULL.
    func call(_ statements: PostgresStatements) -> String {
        let arguments = parameters.enumerated().map { "$\($0.offset + 1)::\($0.element)" } + columns.map { _ in "NULL" }
        return "CALL \(statements.prefix)\(name)(\(arguments.joined(separator: ", ")))"
    }
}

/// A statement whose text is `WITH ctes select`, kept in its two parts.
struct PostgresSplitStatement: Sendable {
    let ctes: String
    let select: String
    var text: String { "WITH \(ctes)\n\(select)" }
}

extension PostgresRoutine {
    /// The one-statement claim (``PostgresStatements/fastClaim``).
    static let fastClaim = PostgresRoutine(
        name: HotSQL.FastClaim.name, parameters: ["text[]", "int8[]", "int8", "int8", "text", "int8"],
        columns: [
            "uuid", "text", "text", "bytea", "int8", "int4", "int4", "int8", "int8", "int8", "text", "uuid", "int8", "bool", "int8", "int8",
        ],
        rows: true, statement: { $0.fastClaimParts })
    /// The outcome flush (``PostgresStatements/finish``).
    static let finish = PostgresRoutine(
        name: HotSQL.Finish.name,
        parameters: [
            "uuid[]", "text[]", "int4[]", "int8[]", "bool[]", "bool[]", "int8[]", "bytea[]", "bool[]", "text[]", "bool[]", "bool[]", "text",
            "text",
        ],
        columns: ["uuid", "text", "text", "bool"], rows: true, statement: { $0.finishParts })
    /// The flush of successes (``PostgresStatements/finishSucceeded``).
    static let finishSucceeded = PostgresRoutine(
        name: HotSQL.FinishSucceeded.name, parameters: ["uuid[]", "int8[]", "bytea[]", "bool[]", "text", "text"],
        columns: ["text[]", "uuid[]", "bool"], rows: false, statement: { $0.finishSucceededParts })

    /// The enqueue of jobs without unique keys (``PostgresStatements/enqueueKeyless``), $14 the
    /// channel to notify.
    static let keylessEnqueue = PostgresRoutine(
        name: HotSQL.KeylessEnqueue.name, parameters: keylessEnqueueParameters + ["text"], columns: ["int8"], rows: false,
        statement: { $0.keylessEnqueueParts })
    /// The same without notifications.
    static let quietKeylessEnqueue = PostgresRoutine(
        name: HotSQL.QuietKeylessEnqueue.name, parameters: keylessEnqueueParameters, columns: ["int8"], rows: false,
        statement: { $0.quietKeylessEnqueueParts })
    private static let keylessEnqueueParameters = [
        "uuid[]", "text[]", "text[]", "bytea[]", "int8[]", "text[]", "int8[]", "int8[]", "int8[]", "int8[]", "bool[]", "text[]", "bool[]",
    ]

    /// The enqueue of one job for a waiting worker (``PostgresStatements/handOffEnqueueParts``).
    static let handOffEnqueue = PostgresRoutine(
        name: HotSQL.HandOffEnqueue.name, parameters: keylessEnqueueParameters + ["text", "bool", "int8", "text", "int8"],
        columns: ["text", "int8"], rows: false, statement: { $0.handOffEnqueueParts })

    /// Every procedure this build calls.
    static let all: [PostgresRoutine] = [fastClaim, finish, finishSucceeded, keylessEnqueue, quietKeylessEnqueue, handOffEnqueue]

    /// The rows of a call of a routine that returns rows: `row`'s columns are arrays of equal
    /// length (NULL when the statement returned no row), read as the statement's rows.
    /// - Throws: ``PostgresRoutineResultError`` when a column is not a one-dimensional array in
    ///   binary format or the lengths differ.
    static func columns(of row: PostgresRow) throws -> [[PostgresCell]] {
        var rows: [[PostgresCell]] = []
        for (column, cell) in row.enumerated() {
            guard var bytes = cell.bytes else {
                if !rows.isEmpty { throw PostgresRoutineResultError(column: column) }
                continue
            }
            guard cell.format == .binary, let elements = readArray(&bytes, column: column) else {
                throw PostgresRoutineResultError(column: column)
            }
            if column == 0 {
                rows = elements.map { [$0] }
            } else {
                guard elements.count == rows.count else { throw PostgresRoutineResultError(column: column) }
                for index in elements.indices { rows[index].append(elements[index]) }
            }
        }
        return rows
    }

    /// The elements of a one-dimensional array in PostgreSQL's binary format, nil when `bytes`
    /// holds something else.
    private static func readArray(_ bytes: inout ByteBuffer, column: Int) -> [PostgresCell]? {
        guard let dimensions = bytes.readInteger(as: Int32.self), bytes.readInteger(as: Int32.self) != nil,
            let element = bytes.readInteger(as: UInt32.self)
        else { return nil }
        if dimensions == 0 { return [] }
        guard dimensions == 1, let count = bytes.readInteger(as: Int32.self), count >= 0, bytes.readInteger(as: Int32.self) != nil
        else { return nil }
        var cells: [PostgresCell] = []
        cells.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard let length = bytes.readInteger(as: Int32.self) else { return nil }
            var value: ByteBuffer?
            if length >= 0 {
                guard let slice = bytes.readSlice(length: Int(length)) else { return nil }
                value = slice
            }
            cells.append(
                PostgresCell(bytes: value, dataType: PostgresDataType(element), format: .binary, columnName: "", columnIndex: column))
        }
        return cells
    }
}

/// A procedure's result was not what its statement returns (arrays of equal length).
struct PostgresRoutineResultError: Error, CustomStringConvertible {
    let column: Int
    var description: String { "a Spool procedure returned a malformed column \(column + 1) (not an array of the others' length)" }
}

extension PostgresRoutine {
    /// The names of this build's procedures that `schema` lacks.
    static func missing(_ connection: CheckedConnection, schema: String) async throws -> [String] {
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT ARRAY(SELECT proname::text FROM pg_proc
                                 WHERE pronamespace = to_regnamespace($1) AND prokind = 'p' AND proname = ANY($2::text[]))
                    """,
                binds: binds {
                    $0.append("\"\(schema)\"")
                    $0.append(all.map(\.name))
                }))
        let present = Set(try rows.first?.decode([String].self) ?? [])
        return all.map(\.name).filter { !present.contains($0) }
    }

    /// Creates this build's procedures that `schema` lacks (in the caller's transaction, under
    /// the migration lock).
    static func install(_ connection: CheckedConnection, schema: String) async throws {
        let missing = try await missing(connection, schema: schema)
        let statements = PostgresStatements(schema: schema, notifications: true)
        for routine in all where missing.contains(routine.name) {
            _ = try await connection.query(PostgresQuery(unsafeSQL: routine.definition(statements)))
        }
    }
}
