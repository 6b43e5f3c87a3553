import ArgumentParser
import Foundation
import Logging
import Spool

/// `--database URL`, shared by every command that uses a store.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database"),
        help: ArgumentHelp(
            "The store: sqlite:PATH, memory:, postgres://… or redis://… (default: $SPOOL_DATABASE_URL, else sqlite:spool.sqlite).",
            valueName: "url"
        )
    )
    var url: String?

    /// Resolves the URL, opens the store for `access`, runs `body` while the store runs, and
    /// closes the store. `leaderRescue` and `logger`: see
    /// ``StorageURL/open(_:leaderRescue:logger:)``.
    func withStorage<T>(
        _ access: StorageURL.Access, leaderRescue: Duration? = nil, logger: Logger = StorageURL.quietLogger,
        _ body: (OpenedStorage) async throws -> T
    ) async throws -> T {
        try await StorageURL.withStorage(flag: url, access: access, leaderRescue: leaderRescue, logger: logger, body)
    }
}

/// `--json`, shared by every command that prints a result.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON (snake_case keys, RFC 3339 UTC times) instead of a table.")
    var json = false
}

/// Parsing of the values commands take as text so that a bad value is reported as one line
/// (argument-parser's own validation errors print the usage too).
enum ArgumentValues {
    /// `a,b , c` → `["a", "b", "c"]`; empty items are dropped.
    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// `name` in NFC, checked as ``JobInput`` checks every queue name.
    /// - Throws: ``CLIError`` saying what is wrong with it.
    static func queueName(_ name: String) throws -> String {
        do {
            return try JobInput.name(name, field: "the queue name")
        } catch let error as SpoolError {
            throw CLIError(error.message)
        }
    }

    /// Checks `--concurrency`: 1 to ``WorkerConfiguration/maximumConcurrency``.
    static func checkConcurrency(_ concurrency: Int) throws {
        guard (1...WorkerConfiguration.maximumConcurrency).contains(concurrency) else {
            throw CLIError("--concurrency must be from 1 to \(WorkerConfiguration.maximumConcurrency) (got \(concurrency))")
        }
    }

    /// A non-negative number of seconds as a `Duration`.
    static func seconds(_ value: Double, _ flag: String, allowZero: Bool = true) throws -> Duration {
        guard value.isFinite, allowZero ? value >= 0 : value > 0 else {
            throw CLIError("\(flag) must be \(allowZero ? "zero or more" : "more than zero") seconds (got \(value))")
        }
        guard value <= 366 * 86_400 else { throw CLIError("\(flag) must be at most a year (got \(value) s)") }
        return .milliseconds(Int64((value * 1000).rounded()))
    }
}
