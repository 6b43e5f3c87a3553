import ArgumentParser
import Foundation
import Spool
import SpoolPostgres
import SpoolSQLite

/// `spool migrate`: brings the store's schema to the version this build knows.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create the store or bring its schema up to date, and print what was done.",
        discussion: """
            Creates the SQLite file if it is missing, or the PostgreSQL schema (default `spool`, \
            or ?schema=NAME in the URL). Running it again is harmless (it reports the store up \
            to date); several processes may run it at once. A store whose schema is newer than \
            this build is refused and left as it is. `spool work`, `spool serve` and `spool \
            enqueue` also migrate on open; run this as a separate deployment step if you prefer.

            Examples:
              spool migrate
              spool migrate --database sqlite:/var/lib/spool/jobs.sqlite --json
              spool migrate --database 'postgres://spool:secret@db:5432/app?schema=jobs'
            """
    )

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await reportingErrors {
            let url = try StorageURL.resolve(flag: database.url)
            let from: Int, to: Int, applied: [String], summary: String
            switch url {
            case .memory:
                (from, to, applied, summary) = (0, 0, [], "has no schema to migrate")
            case .redis:
                // Redis keeps no schema; connecting (and loading the scripts) checks the URL.
                try await StorageURL.withStorage(flag: database.url, access: .create) { _ in }
                (from, to, applied, summary) = (0, 0, [], "has no schema to migrate (Redis keys need none)")
            case .postgres:
                // Opening with `.create` migrates on start, under the driver's advisory lock.
                let report = try await StorageURL.withStorage(flag: database.url, access: .create) { opened in
                    opened.postgres?.migrationAtStart
                }
                guard let report else { throw CLIError("the PostgreSQL store started without reporting its migration") }
                (from, to, applied, summary) = (report.from, report.to, report.applied, report.description)
            case .sqlite(let path, _):
                try StorageURL.checkSQLitePath(path, mayCreate: true)
                let report = try SQLiteStorage.migrate(path: path)
                (from, to, applied, summary) = (report.from, report.to, report.applied, report.description)
            }
            if output.json {
                Terminal.printOutput(
                    JSONValue.object([
                        ("database", .string(url.description)), ("from", .int(from)), ("to", .int(to)),
                        ("applied", .array(applied.map { .string($0) })),
                    ]).rendered)
            } else {
                Terminal.printOutput("\(url): \(summary)")
            }
        }
    }
}
