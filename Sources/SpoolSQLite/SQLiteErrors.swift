import Foundation
import GRDB
import Spool

extension SpoolError {
    /// Wraps an error met while `operation` ran on the file at `path`: a ``SpoolError`` passes
    /// through; an SQLite error becomes `storageUnavailable` with a sentence saying which file,
    /// what failed and what to do.
    static func sqlite(_ error: any Error, path: String, operation: String, busyTimeout: Duration) -> any Error {
        if error is SpoolError || error is CancellationError { return error }
        guard let error = error as? DatabaseError else {
            return SpoolError(code: .storageUnavailable, message: "SQLite job store '\(path)': \(operation) failed: \(error)")
        }
        let detail = error.message.map { ": \($0)" } ?? ""
        let why: String
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            why =
                "the database is locked by another connection or process and stayed locked for the whole busy timeout (\(busyTimeout))\(detail)"
        case .SQLITE_NOTADB:
            why = "the file is not an SQLite database (nothing was changed)\(detail)"
        case .SQLITE_CORRUPT:
            why = "the database file is corrupt (nothing was changed; restore it from a backup or run `sqlite3 FILE .recover`)\(detail)"
        case .SQLITE_CANTOPEN:
            why = "the file cannot be opened (check that its folder exists and is writable)\(detail)"
        case .SQLITE_READONLY:
            why = "the database is read-only (check the permissions of the file, its folder and its -wal/-shm files)\(detail)"
        case .SQLITE_FULL:
            why = "the disk is full (the transaction was rolled back)\(detail)"
        case .SQLITE_IOERR:
            why = "a disk I/O error occurred (the transaction was rolled back)\(detail)"
        case .SQLITE_MISUSE where error.message?.contains("closed") == true, .SQLITE_MISUSE where error.message == nil:
            why = "the storage is closed\(detail)"
        default:
            why = "SQLite error \(error.extendedResultCode.rawValue)\(detail)"
        }
        return SpoolError(code: .storageUnavailable, message: "SQLite job store '\(path)': \(operation) failed: \(why)")
    }
}
