import ArgumentParser
import Foundation
import Logging
import Spool
import SpoolSQLite

/// `spool bench`: runs the standard workloads of docs/benchmarks.md against one driver and prints
/// one line of figures per workload as it finishes, then a closing table (or, with `--json`,
/// one JSON object on standard output and nothing else there).
///
/// Each figure is the median of `--runs` runs, each on a fresh store. Progress shows on
/// standard error only when it is a terminal.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the standard workloads and print their figures.",
        discussion: """
            Workloads (docs/benchmarks.md): W1 enqueue one call at a time (N = 10,000); W2 the same \
            through the bulk API; W3 enqueue N first (memory: 1,000,000; others: 10,000), then \
            time a worker draining them, with peak RSS and bytes per queued job; W4 a producer \
            at 200 jobs/s for 10 s while a worker runs, queue latency p50/p99/p99.9/max; W5 1,000 \
            jobs of a 50 ms async sleep at concurrency 100, makespan. W6 and W7 need a durable \
            driver: W6 enqueues 1,000 spool.sleep jobs of 20 ms, runs a child `spool work` (this \
            executable, lease 2 s, rescue every 1 s, concurrency 10), SIGKILLs it after ~300 \
            succeeded, starts another and reports finished, lost and twice (claimed more than \
            once); W7 is W3 with --backlog jobs (1,000,000) already waiting in the queue, \
            enqueued in bulk first, and its ratio to W3 when both ran. Each figure is the median \
            of --runs runs (the exactly-once counts are the worst run's).

            Lane workloads, run only when named: L0 is W4 again (no other load); L1 adds 20 ms \
            CPU-bound jobs keeping a lane busy (a lane that yields to other work, of its default \
            size, one thread per core but one: BlockingPool(yieldsToOtherWork: true), nice 19 in \
            an idle cgroup where the process may make one); L2 runs the same CPU-bound jobs on \
            the shared cooperative pool instead (no lane), for contrast. L1's p99 close to L0's \
            shows the lane isolates CPU work.

            Every run gets a fresh store: for sqlite a new file in the temporary folder, deleted \
            after the run, or at --database sqlite:PATH (PATH must not exist; it is deleted after \
            each run); for postgres a new schema spool_bench_… in the --database postgres://… \
            database (required), dropped after the run; for redis a new key namespace \
            spool_bench_… on the --database redis://… server (required), deleted after the run. SPOOL_DATABASE_URL is never used, so a \
            benchmark cannot write into a real store.

            Examples:
              spool bench --driver memory
              spool bench --driver sqlite --workload W3,W7 --runs 1
              spool bench --driver sqlite --database sqlite:/mnt/ssd/bench.sqlite --json
              spool bench --driver postgres --database postgres://spool:secret@127.0.0.1:5432/bench
              spool bench --driver redis --database redis://127.0.0.1:6379/0
            """
    )

    @Option(help: "The storage driver: memory, sqlite, postgres or redis.")
    var driver: BenchDriver = .memory

    @Option(help: ArgumentHelp("Where the durable drivers' throwaway store goes, e.g. sqlite:PATH (unused by memory).", valueName: "url"))
    var database: String?

    @Option(help: ArgumentHelp("W7's jobs already waiting in the queue.", valueName: "n"))
    var backlog = 1_000_000

    @Option(
        name: .customLong("workload"),
        help: ArgumentHelp("Comma-separated workloads to run, e.g. W1,W3. Default: all that apply to the driver.", valueName: "list"),
        transform: BenchCommand.parseWorkloads
    )
    var workloads: [Workload]?

    @Option(help: ArgumentHelp("Jobs per run instead of the workload's N (for W4: jobs at 200/s, so N/200 seconds).", valueName: "n"))
    var jobs: Int?

    @Option(help: ArgumentHelp("Worker concurrency instead of the workload's default (W3 100, W4 10, W5 100).", valueName: "c"))
    var concurrency: Int?

    @Option(help: ArgumentHelp("Worker services sharing the store, each with the given concurrency.", valueName: "n"))
    var workers: Int = 1

    @Option(help: ArgumentHelp("Runs per workload; the median is reported.", valueName: "r"))
    var runs: Int = 3

    @Flag(
        help: ArgumentHelp(
            "W4 and L0-L2: also break each job's wait into stages (enqueue call, until the claimer woke, claim round trip, hand-off to the handler), p50/p90/p99 each."
        ))
    var stages = false

    @Flag(help: "Print one JSON object on standard output instead of lines and a table.")
    var json = false

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let concurrency, !(1...WorkerConfiguration.maximumConcurrency).contains(concurrency) {
            throw ValidationError("--concurrency must be from 1 to \(WorkerConfiguration.maximumConcurrency)")
        }
        if runs < 1 { throw ValidationError("--runs must be at least 1") }
        if workers < 1 { throw ValidationError("--workers must be at least 1") }
        if backlog < 1 { throw ValidationError("--backlog must be at least 1") }
    }

    @Sendable static func parseWorkloads(_ text: String) throws -> [Workload] {
        var result: [Workload] = []
        for part in text.split(separator: ",") where !part.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let workload = Workload(id: part) else {
                throw ValidationError("unknown workload '\(part)': expected W1 to W7, comma-separated")
            }
            if !result.contains(workload) { result.append(workload) }
        }
        guard !result.isEmpty else { throw ValidationError("--workload needs at least one of W1 to W7") }
        return result
    }

    mutating func run() async throws {
        LogSetup.bootstrap(level: .warning)
        var sqlitePath: String?
        var sqliteDurability = SQLiteStorage.Configuration.Durability.full
        var serverURL: String?
        if driver == .postgres || driver == .redis {
            // The server to create throwaway schemas or namespaces in (never SPOOL_DATABASE_URL).
            do {
                let parsed = try database.map { try StorageURL(parsing: $0) }
                switch (driver, parsed) {
                case (.postgres, .postgres(let url)?), (.redis, .redis(let url)?):
                    serverURL = url
                case (.postgres, _):
                    throw CLIError(
                        "--driver postgres needs --database postgres://USER:PASS@HOST:PORT/DB (each run uses a new schema there and drops it)"
                    )
                default:
                    throw CLIError(
                        "--driver redis needs --database redis://[:PASS@]HOST:PORT[/DB] (each run uses a new key namespace there and deletes it)"
                    )
                }
            } catch {
                Terminal.printError("error: \(oneLine(describe(error)))")
                throw ExitCode.failure
            }
        }
        if driver == .sqlite, let database {
            do {
                guard case .sqlite(let path, let durability) = try StorageURL(parsing: database) else {
                    throw CLIError("--database must be an sqlite:PATH URL with --driver sqlite (got \(database))")
                }
                sqlitePath = path
                sqliteDurability = durability
                if FileManager.default.fileExists(atPath: path) {
                    throw CLIError(
                        "'\(path)' exists: spool bench writes throwaway jobs to a new file and deletes it after each run, so it never uses an existing one"
                    )
                }
                try StorageURL.checkSQLitePath(path, mayCreate: true)
            } catch {
                Terminal.printError("error: \(oneLine(describe(error)))")
                throw ExitCode.failure
            }
        }
        let durable = driver.isDurable
        var selected: [Workload] = []
        for workload in workloads ?? Workload.standard {
            if workload.needsDurableDriver && !durable {
                Terminal.printError("\(workload.rawValue) (\(workload.summary)) does not apply to the \(driver.rawValue) driver; skipped")
            } else {
                selected.append(workload)
            }
        }

        var logger = Logger(label: "spool.bench")
        logger.logLevel = .warning
        var runner = WorkloadRunner(driver: driver, workers: workers, progress: ProgressLine(), logger: logger)
        runner.sqlitePath = sqlitePath
        runner.sqliteDurability = sqliteDurability
        runner.serverURL = serverURL
        runner.backlog = backlog
        runner.stages = stages
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let printLine: @Sendable (String) -> Void = json ? Terminal.printError : Terminal.printOutput

        var results: [WorkloadResult] = []
        for workload in selected {
            let jobs = self.jobs ?? runner.defaultJobs(workload)
            let concurrency = runner.defaultConcurrency(workload).map { self.concurrency ?? $0 }
            var figures: [Figures] = []
            for run in 1...runs {
                let label = "\(workload.rawValue) run \(run)/\(runs)"
                do {
                    figures.append(try await runner.run(workload, jobs: jobs, concurrency: concurrency, label: label))
                } catch {
                    Terminal.printError("error: \(oneLine(describe(error)))")
                    throw ExitCode.failure
                }
            }
            var combined = Figures.combine(figures)
            if workload == .w7, let w3 = results.first(where: { $0.workload == .w3 })?.figures.jobsPerSecond,
                let w7 = combined.jobsPerSecond, w3 > 0
            {
                combined.ratio = (.w3, w7 / w3)
            }
            // The workflow costs' targets: a batch enqueue against W2, a batch drain against W3.
            for (measured, base) in [(Workload.b1, Workload.w2), (.b2, .w3)] where workload == measured {
                if let baseRate = results.first(where: { $0.workload == base })?.figures.jobsPerSecond, let rate = combined.jobsPerSecond,
                    baseRate > 0
                {
                    combined.ratio = (base, rate / baseRate)
                }
            }
            let result = WorkloadResult(workload: workload, figures: combined, concurrency: concurrency, runs: runs)
            printLine(result.line)
            for line in result.stageLines { printLine(line) }
            results.append(result)
        }

        if json {
            let report = JSONReport(driver: driver.rawValue, cores: cores, results: results.map(\.row))
            Terminal.printOutput(try report.encoded())
        } else if !results.isEmpty {
            Terminal.printOutput("")
            Terminal.printOutput(closingTable(results, driver: driver.rawValue, cores: cores, runs: runs))
        }
    }
}

extension BenchDriver: ExpressibleByArgument {}
