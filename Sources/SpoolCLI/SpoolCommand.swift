import ArgumentParser

/// The `spool` command-line tool.
///
/// Only `spool bench` exists so far; the other subcommands of the architecture (`serve`, `work`,
/// `enqueue`, `jobs`, `stats`, `queues`, `migrate`) are added as they are built, never as stubs.
@main
struct SpoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Spool, a background job system for Swift.",
        subcommands: [BenchCommand.self]
    )
}
