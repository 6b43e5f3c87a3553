import ArgumentParser

/// The `spool` command-line tool: operates a job store (`work`, `enqueue`, `jobs`, `stats`,
/// `queues`, `migrate`) and measures it (`bench`).
///
/// Every storage command takes `--database URL` (else `SPOOL_DATABASE_URL`, else
/// `sqlite:spool.sqlite`) and `--json`; errors are one `error:` line on standard error with
/// exit code 1. `serve` is added when it is built, never as a stub.
@main
struct SpoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Spool, a background job system for Swift.",
        discussion: """
            The store is chosen by one URL: --database URL, else $SPOOL_DATABASE_URL, else \
            sqlite:spool.sqlite (a file in the current folder). URLs: sqlite:PATH, memory:, \
            postgres://USER:PASS@HOST:PORT/DB, redis://[:PASS@]HOST:PORT[/DB].

            Output is an aligned table; --json prints JSON instead (snake_case keys, RFC 3339 \
            UTC times). Errors are one line on standard error and exit code 1.

            Quick start:
              spool enqueue spool.sleep --payload '{"ms": 100}'
              spool work                  # Ctrl-C to stop
              spool stats
              spool jobs list --state succeeded
            """,
        subcommands: [
            ServeCommand.self, WorkCommand.self, EnqueueCommand.self, JobsCommand.self, BatchesCommand.self, StatsCommand.self,
            QueuesCommand.self,
            MigrateCommand.self, SchedulesCommand.self, BenchCommand.self,
        ]
    )
}
