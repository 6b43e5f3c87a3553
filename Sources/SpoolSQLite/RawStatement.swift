import Foundation
import GRDB
import GRDBSQLite
import Spool

// The hot statements (enqueue, claim, finish) bind their values and read their rows through
// SQLite's C API on GRDB's prepared statement: no `StatementArguments` array, no
// `DatabaseValue` box and no `Row` copy per value. GRDB still executes the statement
// (`execute()` / `Row.fetchCursor`), so its transaction bookkeeping and error reporting
// (extended result codes, failed statements leaving the cache) are unchanged.

/// SQLite copies the bytes it is given (`SQLITE_TRANSIENT`): the Swift buffers need not
/// outlive the bind call.
private var transient: sqlite3_destructor_type {
    unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
}

/// Binds parameters 1, 2, … of a statement in order, through the C API.
///
/// Start one with ``Statement/rawBinder(_:)``.
struct RawBinder {
    let statement: SQLiteStatement
    private let database: Database
    private(set) var index: CInt = 0

    init(statement: SQLiteStatement, database: Database) {
        self.statement = statement
        self.database = database
    }

    private func check(_ code: CInt) throws {
        guard code == SQLITE_OK else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: database.lastErrorMessage)
        }
    }

    mutating func bind(_ value: Int64) throws {
        index += 1
        try check(sqlite3_bind_int64(statement, index, value))
    }

    mutating func bind(_ value: Int) throws {
        try bind(Int64(value))
    }

    mutating func bind(_ value: Int64?) throws {
        if let value { try bind(value) } else { try bindNull() }
    }

    mutating func bind(_ value: Bool) throws {
        try bind(Int64(value ? 1 : 0))
    }

    mutating func bindNull() throws {
        index += 1
        try check(sqlite3_bind_null(statement, index))
    }

    mutating func bind(_ value: String) throws {
        index += 1
        var text = value
        let index = self.index
        let statement = self.statement
        let code = text.withUTF8 { buffer -> CInt in
            // An empty buffer may have no address: bind a real empty string, not NULL.
            guard let base = buffer.baseAddress, buffer.count > 0 else {
                return sqlite3_bind_text(statement, index, "", 0, transient)
            }
            return base.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                sqlite3_bind_text(statement, index, $0, CInt(buffer.count), transient)
            }
        }
        try check(code)
    }

    mutating func bind(_ value: String?) throws {
        if let value { try bind(value) } else { try bindNull() }
    }

    /// Binds bytes as a BLOB; empty bytes bind NULL (as GRDB binds an empty `Data`).
    mutating func bindBlobOrNull(_ value: [UInt8]?) throws {
        guard let value, !value.isEmpty else { return try bindNull() }
        index += 1
        let index = self.index
        let statement = self.statement
        try check(
            value.withUnsafeBytes { raw in
                sqlite3_bind_blob(statement, index, raw.baseAddress, CInt(raw.count), transient)
            })
    }

    /// Binds a job id as its 16-byte BLOB (``SQLiteCoding/blob(_:)``).
    mutating func bind(_ id: JobID) throws {
        index += 1
        let index = self.index
        let statement = self.statement
        let bytes = (id.high.bigEndian, id.low.bigEndian)
        try check(
            withUnsafeBytes(of: bytes) { raw in
                sqlite3_bind_blob(statement, index, raw.baseAddress, 16, transient)
            })
    }
}

extension Statement {
    /// Resets the statement for new values bound through the returned binder, and marks its
    /// arguments as set, so that GRDB's `execute()` or `Row.fetchCursor(_:)` (without
    /// arguments) run it with them.
    func rawBinder(_ db: Database) -> RawBinder {
        // A reset reports the error of a failed last run (GRDB drops failed statements from
        // its cache, so there is none here); the second reset, in GRDB, then succeeds.
        sqlite3_reset(sqliteStatement)
        setUncheckedArguments(StatementArguments())
        return RawBinder(statement: sqliteStatement, database: db)
    }
}

/// Reads the columns of the row a statement is on, through the C API.
struct RawColumns {
    let statement: SQLiteStatement

    func isNull(_ column: CInt) -> Bool {
        sqlite3_column_type(statement, column) == SQLITE_NULL
    }

    func int64(_ column: CInt) -> Int64 {
        sqlite3_column_int64(statement, column)
    }

    func int(_ column: CInt) -> Int {
        Int(sqlite3_column_int64(statement, column))
    }

    func optionalInt64(_ column: CInt) -> Int64? {
        isNull(column) ? nil : int64(column)
    }

    func text(_ column: CInt) -> String {
        guard let pointer = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    func optionalText(_ column: CInt) -> String? {
        isNull(column) ? nil : text(column)
    }

    /// The bytes of a BLOB column; NULL reads as empty.
    func bytes(_ column: CInt) -> [UInt8] {
        guard let pointer = sqlite3_column_blob(statement, column) else { return [] }
        let count = Int(sqlite3_column_bytes(statement, column))
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// A job id stored as its 16-byte BLOB.
    func id(_ column: CInt) throws -> JobID {
        let pointer = sqlite3_column_blob(statement, column)
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count == 16, let pointer else {
            throw SQLiteCoding.corrupt("a job id is \(count) bytes long, not 16")
        }
        let raw = UnsafeRawBufferPointer(start: pointer, count: 16)
        let high = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        let low = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        return JobID(high: high, low: low)
    }

    /// A job or batch id stored as a 16-byte BLOB; nil for NULL.
    func optionalID(_ column: CInt) throws -> JobID? {
        isNull(column) ? nil : try id(column)
    }
}
