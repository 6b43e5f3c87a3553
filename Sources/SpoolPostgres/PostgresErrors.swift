import Foundation
import PostgresNIO
import Spool

extension SpoolError {
    /// Wraps an error met while `operation` ran: a ``SpoolError`` or `CancellationError` passes
    /// through; anything from PostgreSQL or the connection becomes `storageUnavailable` with a
    /// sentence saying where, what failed and why (the server's message and SQLSTATE when it
    /// answered; "cannot reach" when it did not). Callers back off and retry.
    static func postgres(_ error: any Error, target: String, operation: String) -> any Error {
        let error = PostgresFailure.unwrap(error)
        if error is SpoolError || error is CancellationError { return error }
        return SpoolError(
            code: .storageUnavailable, message: "PostgreSQL job store \(target): \(operation) failed: \(PostgresFailure.describe(error))")
    }
}

enum PostgresFailure {
    /// The error inside a transaction wrapper.
    static func unwrap(_ error: any Error) -> any Error {
        if let transaction = error as? PostgresTransactionError {
            if let inner = transaction.closureError ?? transaction.beginError ?? transaction.commitError {
                return unwrap(inner)
            }
        }
        return error
    }

    /// The SQLSTATE of a server error, if the server answered with one.
    static func sqlState(_ error: any Error) -> String? {
        (unwrap(error) as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// The constraint a server error names, if any.
    static func constraint(_ error: any Error) -> String? {
        (unwrap(error) as? PSQLError)?.serverInfo?[.constraintName]
    }

    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let info = error.serverInfo {
            let message = info[.message] ?? "an error"
            let state = info[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            let detail = info[.detail].map { ": \($0)" } ?? ""
            return "the server answered \(message)\(state)\(detail)"
        }
        switch error.code {
        case .connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection:
            return "cannot reach the database or the connection was lost (\(error.code)); the operation may be retried"
        case .poolClosed:
            return "the storage is not running (its connection pool is closed)"
        default:
            return "\(error.code)"
        }
    }
}
