import Foundation
import Spool
import SpoolSQLite
import SpoolTesting
import Synchronization
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `spool serve` as a user starts it: a process with no configuration but a port, enqueued to
/// over HTTP, running the built-in `http` kind (webhook delivery) against a local server.
@Suite("spool serve", .timeLimit(.minutes(2)))
struct ServeTests {
    @Test("an http job enqueued over HTTP is delivered: 2xx succeeds, 404 is dead, a bad payload is a 400")
    func httpJobsThroughServe() async throws {
        try await withTemporaryFolder { folder in
            let server = try SpoolChild(["serve", "--port", "0", "--database", "sqlite:\(folder)/jobs.sqlite"], in: folder)
            defer { server.removeOutput() }
            let base = try await Self.address(of: server)

            // The server itself is the local test server the webhooks go to.
            let ok = try await Self.post("\(base)/v1/jobs", #"{"kind": "http", "payload": {"url": "\#(base)/healthz", "method": "GET"}}"#)
            #expect(ok.status == 202, "\(ok.text)")
            let missing = try await Self.post(
                "\(base)/v1/jobs",
                #"{"kind": "http", "payload": {"url": "\#(base)/v1/jobs/01M82SDFH2MPAH2KWJPW49N883"}, "max_attempts": 5}"#)
            #expect(missing.status == 202, "\(missing.text)")
            let bad = try await Self.post("\(base)/v1/jobs", #"{"kind": "http", "payload": {"url": "ftp://example.com"}}"#)
            #expect(bad.status == 400 && bad.text.contains("url"), "\(bad.text)")

            let okID = try #require(ok.json?["id"] as? String)
            let missingID = try #require(missing.json?["id"] as? String)
            let delivered = try await Self.waitForState(base, okID, "succeeded", while: server)
            let result = try #require(delivered["result"] as? [String: Any])
            #expect(result["status"] as? Int == 200, "\(delivered)")
            let dead = try await Self.waitForState(base, missingID, "dead", while: server)
            #expect(dead["attempt"] as? Int == 1, "a 404 is not retried: \(dead)")

            server.send(SIGTERM)
            #expect(try await server.waitForExit(timeout: .seconds(30)) == 0, "\(server.output.stderr)")
        }
    }

    @Test("a config file sets the store, port and queues; a flag beats it; a bad file is one error line")
    func configFile() async throws {
        try await withTemporaryFolder { folder in
            let config = "\(folder)/serve.json"
            let settings = #"""
                {"database": "sqlite:\#(folder)/from-file.sqlite", "port": 0, "queues": ["mail"], "concurrency": 2, "log_level": "warning",
                 "limits": {"mail": {"max_running": 3, "rate": "600/1m"}}}
                """#
            try settings.write(toFile: config, atomically: true, encoding: .utf8)
            let server = try SpoolChild(["serve", "--config", config], in: folder)
            defer { server.removeOutput() }
            let base = try await Self.address(of: server)
            // The file's limits are in the store.
            let queues = try await Self.send(URLRequest(url: try #require(URL(string: "\(base)/v1/queues"))))
            #expect(queues.text.contains(#""limits":{"max_running":3,"rate":"600/1m"}"#), "\(queues.text)")
            let queued = try await Self.post("\(base)/v1/jobs", #"{"kind": "spool.echo", "payload": {"n": 1}, "queue": "mail"}"#)
            #expect(queued.status == 202, "\(queued.text)")
            // The worker serves the file's queue, and the job lands in the file's store.
            _ = try await Self.waitForState(base, try #require(queued.json?["id"] as? String), "succeeded", while: server)
            #expect(FileManager.default.fileExists(atPath: "\(folder)/from-file.sqlite"))
            server.send(SIGTERM)
            #expect(try await server.waitForExit(timeout: .seconds(30)) == 0, "\(server.output.stderr)")
            #expect(!server.output.stderr.contains(" info "), "log_level warning from the file: \(server.output.stderr)")

            // SPOOL_CONFIG names the file too; a flag beats it (a bad port from the flag is refused).
            let flagWins = try await spool(["serve", "--port", "70000"], in: folder, environment: ["SPOOL_CONFIG": config])
            #expect(flagWins.status == 1 && flagWins.stderr.contains("--port must be from 0 to 65535 (got 70000)"), "\(flagWins)")

            for (text, message) in [
                (#"{"port": 0, "colour": "blue"}"#, "unknown setting 'colour'"),
                (#"{"port": "eighty"}"#, "'port' has the wrong type"),
                (#"{"port": 0,"#, "is not valid JSON"),
                (#"[1, 2]"#, "must hold one JSON object"),
                (#"{"log_level": "loud"}"#, "'log_level' has the wrong type or value"),
                (#"{"limits": {"mail": {"max_running": 0}}}"#, "limits of queue 'mail': max running is 1 to"),
                (#"{"limits": {"mail": {"rate": "lots"}}}"#, "limits of queue 'mail': rate 'lots' is not COUNT/PERIOD"),
                (#"{"limits": {"mail": {"burst": 2}}}"#, "unknown setting 'burst'"),
                (#"{"limits": ["mail"]}"#, "'limits' must be an object"),
            ] {
                try text.write(toFile: config, atomically: true, encoding: .utf8)
                let run = try await spool(["serve", "--config", config], in: folder)
                #expect(run.status == 1 && run.errorLines.count == 1 && run.stderr.contains(message), "\(text): \(run)")
            }
            let missing = try await spool(["serve", "--config", "\(folder)/nope.json"], in: folder)
            #expect(missing.status == 1 && missing.stderr.contains("no such file"), "\(missing)")
        }
    }

    @Test("schedules from the settings file: spool serve enqueues their ticks, spool schedules lists the next runs")
    func schedules() async throws {
        try await withTemporaryFolder { folder in
            let config = "\(folder)/serve.json"
            let settings = #"""
                {"database": "sqlite:\#(folder)/jobs.sqlite", "port": 0, "log_level": "warning", "schedules": [
                  {"name": "tick", "every_s": 1, "kind": "spool.echo", "payload": {"from": "schedule"}},
                  {"name": "nightly", "cron": "30 2 * * *", "time_zone": "America/New_York", "kind": "spool.noop", "missed": "catch_up_once"}]}
                """#
            try settings.write(toFile: config, atomically: true, encoding: .utf8)
            let listed = try await spool(["schedules", "--config", config, "--count", "2", "--json"], in: folder)
            #expect(listed.status == 0, "\(listed)")
            let entries = try #require(try listed.jsonObject()["schedules"] as? [[String: Any]])
            #expect(entries.map { $0["name"] as? String } == ["tick", "nightly"])
            #expect(
                (entries[1]["next"] as? [String])?.allSatisfy { $0.contains("T06:30:00") || $0.contains("T07:30:00") } == true,
                "02:30 New York in UTC: \(entries[1])")

            let server = try SpoolChild(["serve", "--config", config], in: folder)
            defer { server.removeOutput() }
            _ = try await Self.address(of: server)
            // Two ticks of the 1 s schedule, run by the server's worker.
            try await watchStore(at: "\(folder)/jobs.sqlite", while: server, timeout: .seconds(30), "two scheduled jobs succeeded") {
                $0.count(.succeeded) >= 2
            }
            server.send(SIGTERM)
            #expect(try await server.waitForExit(timeout: .seconds(30)) == 0, "\(server.output.stderr)")

            for (text, message) in [
                (#"{"schedules": [{"name": "x", "cron": "61 * * * *", "kind": "spool.noop"}]}"#, "schedule 'x': invalid cron expression"),
                (#"{"schedules": [{"name": "x", "cron": "* * * * *", "every_s": 5, "kind": "spool.noop"}]}"#, "exactly one of"),
                (#"{"schedules": [{"name": "x", "every_s": 5, "kind": "spool.sleep", "payload": {"ms": -1}}]}"#, "spool.sleep needs"),
                (#"{"schedules": [{"name": "x", "cron": "@daily", "time_zone": "Mars/Olympus", "kind": "spool.noop"}]}"#, "time zone"),
            ] {
                try text.write(toFile: config, atomically: true, encoding: .utf8)
                let run = try await spool(["schedules", "--config", config], in: folder)
                #expect(run.status == 1 && run.errorLines.count == 1 && run.stderr.contains(message), "\(text): \(run)")
            }
        }
    }

    @Test("three spool serve processes on one SQLite file fire each tick of a schedule once")
    func threeServersOnSQLite() async throws {
        try await withTemporaryFolder { folder in
            let path = "\(folder)/jobs.sqlite"
            let storage = try SQLiteStorage(path: path)
            defer { try? storage.close() }
            try await Self.threeServersFireEachTickOnce(database: "sqlite:\(path)", storage: storage, in: folder)
        }
    }

    /// Starts three `spool serve` processes sharing `database`, each with the same schedule of
    /// a tick per second, and checks (through `storage`) that at least five ticks ran and no
    /// tick ran twice.
    static func threeServersFireEachTickOnce(database: String, storage: any JobStorage, in folder: String) async throws {
        let config = "\(folder)/cluster.json"
        let settings =
            #"{"database": "\#(database)", "port": 0, "log_level": "warning", "schedules": [{"name": "beat", "every_s": 1, "kind": "spool.noop"}]}"#
        try settings.write(toFile: config, atomically: true, encoding: .utf8)
        let servers = try (0..<3).map { _ in try SpoolChild(["serve", "--config", config], in: folder) }
        defer { for server in servers { server.removeOutput() } }
        try await stopOnceStored(servers, storage, timeout: .seconds(90), "five ticks ran") { $0.count(.succeeded) >= 5 }
        let jobs = try await allJobs(in: storage)
        var perTick: [String: Int] = [:]
        for job in jobs { perTick[job.metadata["spool.schedule.tick"] ?? "?", default: 0] += 1 }
        #expect(perTick.count >= 5 && perTick.values.allSatisfy { $0 == 1 }, "jobs per tick: \(perTick.sorted { $0.key < $1.key })")
    }

    /// The address in a `Spool serving http://HOST:PORT …` line of `stdout`, if there is one.
    static func servingAddress(in stdout: String) -> String? {
        guard let line = stdout.split(separator: "\n").first(where: { $0.hasPrefix("Spool serving ") }),
            let url = line.split(separator: " ").dropFirst(2).first
        else { return nil }
        return String(url)
    }

    /// Reads `Spool serving http://HOST:PORT …` from the server's standard output (another
    /// process's output: polled every 50 ms for at most 60 s; fails at once if it exits).
    static func address(of server: SpoolChild) async throws -> String {
        do {
            try await Expectation.poll(every: .milliseconds(50), timeout: .seconds(60), "spool serve to print its address") {
                if servingAddress(in: server.output.stdout) != nil { return true }
                if server.hasExited { throw ExpectationFailed("spool serve exited before printing its address: \(server.output.stderr)") }
                return false
            }
        } catch let timeout as ExpectationTimeout {
            throw ExpectationFailed("\(timeout): \(server.output.stderr)")
        }
        return try #require(servingAddress(in: server.output.stdout))
    }

    struct Answer {
        let status: Int
        let text: String
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] }
    }

    static func post(_ url: String, _ body: String) async throws -> Answer {
        var request = URLRequest(url: try #require(URL(string: url)))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(body.utf8)
        return try await send(request)
    }

    static func send(_ request: URLRequest) async throws -> Answer {
        let (data, response) = try await URLSession.shared.data(for: request)
        return Answer(status: (response as? HTTPURLResponse)?.statusCode ?? 0, text: String(decoding: data, as: UTF8.self))
    }

    /// Polls `GET /v1/jobs/ID` every 50 ms until the job is in `state` (another process's
    /// store, announced to no one; bounded: 30 s, or until the server exits).
    static func waitForState(_ base: String, _ id: String, _ state: String, while server: SpoolChild) async throws -> [String: Any] {
        let url = try #require(URL(string: "\(base)/v1/jobs/\(id)"))
        let last = Mutex<String>("")
        do {
            try await Expectation.poll(every: .milliseconds(50), timeout: .seconds(30), "job \(id) to be \(state)") {
                let answer = try await send(URLRequest(url: url))
                last.withLock { $0 = answer.text }
                if answer.json?["state"] as? String == state { return true }
                if server.hasExited { throw ExpectationFailed("the server exited") }
                return false
            }
        } catch let error as ExpectationTimeout {
            throw ExpectationFailed("\(error): \(last.withLock { $0 })\n\(server.output.stderr)")
        } catch let error as ExpectationFailed {
            throw ExpectationFailed("job \(id) is not \(state) (\(error)): \(last.withLock { $0 })\n\(server.output.stderr)")
        }
        let text = last.withLock { $0 }
        return Answer(status: 200, text: text).json ?? [:]
    }
}

struct ExpectationFailed: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
