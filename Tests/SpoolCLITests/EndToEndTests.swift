import Foundation
import SpoolTesting
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The operator's commands on one SQLite file, run as the built `spool` binary.
@Suite("spool commands end to end", .timeLimit(.minutes(2)))
struct EndToEndTests {
    @Test("migrate → enqueue → jobs list (filters, paging) → stats --json → queues → migrate again")
    func operatorFlow() async throws {
        try await withTemporaryFolder { folder in
            let database = ["--database", "sqlite:\(folder)/jobs.sqlite"]
            func run(
                _ arguments: [String], expectStatus: Int32 = 0, sourceLocation: SourceLocation = #_sourceLocation
            ) async throws -> SpoolRun {
                let result = try await spool(arguments + database, in: folder)
                #expect(
                    result.status == expectStatus, "spool \(arguments.joined(separator: " ")): \(result)", sourceLocation: sourceLocation)
                return result
            }

            // A fresh file: created and migrated from 0.
            let migrated = try await run(["migrate", "--json"]).jsonObject()
            #expect(migrated["from"] as? Int == 0)
            #expect((migrated["to"] as? Int ?? 0) >= 1)
            #expect((migrated["applied"] as? [String])?.isEmpty == false)

            // Enqueue three jobs.
            let a = try await run(["enqueue", "spool.noop", "--json"]).jsonObject()
            let b = try await run([
                "enqueue", "mail.send", "--payload", #"{"to": "ops@example.com"}"#, "--queue", "mail", "--priority", "5", "--max-attempts",
                "3", "--json",
            ]).jsonObject()
            let c = try await run(["enqueue", "report.build", "--delay", "3600", "--unique-key", "nightly", "--timeout", "2.5", "--json"])
                .jsonObject()
            #expect(a["state"] as? String == "available" && a["existing"] as? Bool == false)
            #expect(b["state"] as? String == "available")
            #expect(c["state"] as? String == "scheduled")
            let ids = try [a, b, c].map { try #require($0["id"] as? String) }
            #expect(ids.allSatisfy { $0.count == 26 })

            // The unique key is held: nothing stored, the holder named.
            let duplicate = try await run(["enqueue", "report.build", "--unique-key", "nightly", "--json"]).jsonObject()
            #expect(duplicate["id"] as? String == ids[2] && duplicate["existing"] as? Bool == true)
            let duplicateText = try await run(["enqueue", "report.build", "--unique-key", "nightly"])
            #expect(duplicateText.stdout.contains("is held by job \(ids[2]) (scheduled): nothing stored"))

            // A negative priority is a value, not a flag.
            let low = try await run(["enqueue", "cleanup", "--priority", "-2", "--queue", "low", "--json"]).jsonObject()
            let lowID = try #require(low["id"] as? String)
            _ = try await run(["jobs", "delete", lowID])

            // The text form prints the id and state.
            let textual = try await run(["enqueue", "spool.echo", "--payload", "[1]"])
            #expect(textual.stdout.contains("  available  spool.echo in queue 'default'"), "\(textual)")
            let echoID = String(textual.stdout.prefix(26))

            // Listing: newest first, filters, paging with a cursor.
            let all = try await run(["jobs", "list", "--json"]).jsonObject()
            let listed = try #require(all["jobs"] as? [[String: Any]])
            #expect(listed.compactMap { $0["id"] as? String } == [echoID, ids[2], ids[1], ids[0]])
            #expect(all["next_cursor"] is NSNull)
            let scheduled = try await run(["jobs", "list", "--state", "scheduled", "--json"]).jsonObject()
            #expect((scheduled["jobs"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [ids[2]])
            let mail = try await run(["jobs", "list", "--queue", "mail", "--kind", "mail.send", "--json"]).jsonObject()
            #expect((mail["jobs"] as? [[String: Any]])?.first?["priority"] as? Int == 5)
            let page1 = try await run(["jobs", "list", "--limit", "3", "--json"]).jsonObject()
            let cursor = try #require(page1["next_cursor"] as? String)
            #expect(cursor == ids[1])
            let page2 = try await run(["jobs", "list", "--limit", "3", "--cursor", cursor, "--json"]).jsonObject()
            #expect((page2["jobs"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [ids[0]])
            #expect(page2["next_cursor"] is NSNull)
            let table = try await run(["jobs", "list", "--limit", "3"])
            #expect(table.stdout.hasPrefix("ID "), "\(table)")
            #expect(table.stdout.contains("next cursor: \(cursor)"))
            let badState = try await run(["jobs", "list", "--state", "done"], expectStatus: 1)
            #expect(
                badState.errorLines == [
                    "error: unknown state 'done': expected one or more of pending, scheduled, available, running, succeeded, dead, cancelled"
                ])

            // One job in full: snake_case keys, RFC 3339 UTC times.
            let shown = try await run(["jobs", "show", ids[2], "--json"]).jsonObject()
            #expect(shown["unique_key"] as? String == "nightly")
            #expect(shown["timeout_s"] as? Double == 2.5)
            #expect(shown["max_attempts"] as? Int == 20)
            let runAt = try #require(shown["run_at"] as? String)
            #expect(runAt.hasSuffix("Z") && runAt.contains("T"))
            let date = try #require(try? Date(runAt, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
            #expect(date.timeIntervalSinceNow > 3500)
            let missing = try await run(["jobs", "show", "01KAPG3Z2M0000000000000001"], expectStatus: 1)
            #expect(missing.errorLines == ["error: no job has id 01KAPG3Z2M0000000000000001"])

            // Stats by queue and state.
            let stats = try await run(["stats", "--json"]).jsonObject()
            let total = try #require(stats["total"] as? [String: Any])
            #expect(total["available"] as? Int == 3 && total["scheduled"] as? Int == 1 && total["total"] as? Int == 4)
            let queues = try #require(stats["queues"] as? [[String: Any]])
            #expect(queues.compactMap { $0["name"] as? String } == ["default", "mail"])
            #expect(queues.first { $0["name"] as? String == "mail" }?["available"] as? Int == 1)
            let statsTable = try await run(["stats"])
            #expect(statsTable.stdout.contains("AVAILABLE") && statsTable.stdout.contains("(all)"))

            // Queues: pause and resume are stored.
            _ = try await run(["queues", "pause", "mail"])
            _ = try await run(["queues", "pause", "empty"])
            let paused = try await run(["queues", "list", "--json"]).jsonObject()
            let pausedNames = (paused["queues"] as? [[String: Any]])?.filter { $0["paused"] as? Bool == true }.compactMap {
                $0["name"] as? String
            }
            #expect(pausedNames == ["empty", "mail"])
            _ = try await run(["queues", "resume", "mail"])
            let resumed = try await run(["queues", "list"])
            #expect(resumed.stdout.contains("PAUSED"))
            let resumedJSON = try await run(["queues", "list", "--json"]).jsonObject()
            #expect((resumedJSON["queues"] as? [[String: Any]])?.filter { $0["paused"] as? Bool == true }.count == 1)

            // Cancel, retry, delete: what cannot be done is one error line and exit 1.
            let cancelled = try await run(["jobs", "cancel", ids[0], ids[2], "--json"]).jsonObject()
            #expect(cancelled["done"] as? [String] == [ids[0], ids[2]])
            let retryMixed = try await run(["jobs", "retry", ids[0], ids[1]], expectStatus: 1)
            #expect(retryMixed.stdout == "retried \(ids[0])\n")
            #expect(
                retryMixed.errorLines == [
                    "error: 1 of 2 job(s) not retried: \(ids[1]) is available (only dead or cancelled jobs can be retried)"
                ])
            let deleted = try await run(["jobs", "delete", ids[1]])
            #expect(deleted.stdout == "deleted \(ids[1])\n")
            let deletedAgain = try await run(["jobs", "delete", ids[1]], expectStatus: 1)
            #expect(deletedAgain.errorLines == ["error: 1 of 1 job(s) not deleted: \(ids[1]) not found"])
            let badID = try await run(["jobs", "cancel", "not-an-id"], expectStatus: 1)
            #expect(badID.errorLines.count == 1 && badID.stderr.contains("'not-an-id' is not a job id"))

            // Migrating again: up to date.
            let again = try await run(["migrate", "--json"]).jsonObject()
            #expect(again["from"] as? Int == again["to"] as? Int)
            #expect((again["applied"] as? [String])?.isEmpty == true)
            let againText = try await run(["migrate"])
            #expect(againText.stdout.contains("up to date"))
        }
    }

    @Test("stats --watch prints a reading per interval and stops cleanly on SIGINT")
    func statsWatch() async throws {
        try await withTemporaryFolder { folder in
            let database = ["--database", "sqlite:\(folder)/jobs.sqlite"]
            let enqueued = try await spool(["enqueue", "spool.noop"] + database, in: folder)
            #expect(enqueued.status == 0, "\(enqueued)")
            let watcher = try SpoolChild(["stats", "--watch", "--interval", "0.1", "--json"] + database, in: folder)
            defer { watcher.removeOutput() }
            // Another process's output: polled (50 ms, at most 30 s) until three readings.
            try await Expectation.poll(every: .milliseconds(50), timeout: .seconds(30), "three readings from stats --watch") {
                watcher.output.stdout.split(separator: "\n").count >= 3 || watcher.hasExited
            }
            watcher.send(SIGINT)
            let status = try await watcher.waitForExit(timeout: .seconds(10))
            #expect(status == 0, "\(watcher.output)")
            let lines = watcher.output.stdout.split(separator: "\n")
            #expect(lines.count >= 3)
            for line in lines {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect((object?["total"] as? [String: Any])?["available"] as? Int == 1, "\(line)")
            }
        }
    }

    @Test("spool work runs the built-in kinds and stops cleanly on SIGTERM")
    func workRunsBuiltins() async throws {
        try await withTemporaryFolder { folder in
            let database = ["--database", "sqlite:\(folder)/jobs.sqlite"]
            func enqueue(_ arguments: [String]) async throws -> String {
                let run = try await spool(["enqueue"] + arguments + ["--json"] + database, in: folder)
                #expect(run.status == 0, "\(run)")
                return try #require(try run.jsonObject()["id"] as? String)
            }
            let echo = try await enqueue(["spool.echo", "--payload", #"{"answer": 42}"#])
            let sleep = try await enqueue(["spool.sleep", "--payload", #"{"ms": 30}"#])
            let noop = try await enqueue(["spool.noop"])
            let permanent = try await enqueue(["spool.fail", "--payload", #"{"message": "no such customer", "permanent": true}"#])
            let retried = try await enqueue(["spool.fail", "--payload", #"{"message": "try again"}"#, "--max-attempts", "2"])

            let worker = try SpoolChild(["work", "--rescue-interval", "1"] + database, in: folder)
            try await watchStore(at: "\(folder)/jobs.sqlite", while: worker, timeout: .seconds(30), "all 5 jobs finished") { stats in
                stats.count(.succeeded) + stats.count(.dead) == 5
            }
            worker.send(SIGTERM)
            let status = try await worker.waitForExit(timeout: .seconds(30))
            #expect(status == 0, "\(worker.output.stderr)")
            #expect(worker.output.stderr.contains("worker stopped"))
            worker.removeOutput()

            func show(_ id: String) async throws -> [String: Any] {
                let run = try await spool(["jobs", "show", id, "--json"] + database, in: folder)
                #expect(run.status == 0, "\(run)")
                return try run.jsonObject()
            }
            let echoed = try await show(echo)
            #expect(echoed["state"] as? String == "succeeded")
            #expect((echoed["result"] as? [String: Any])?["answer"] as? Int == 42)
            #expect(try await show(sleep)["state"] as? String == "succeeded")
            #expect(try await show(noop)["state"] as? String == "succeeded")
            let dead = try await show(permanent)
            #expect(dead["state"] as? String == "dead" && dead["attempt"] as? Int == 1)
            #expect(((dead["errors"] as? [[String: Any]])?.last?["reason"]) as? String == "permanent")
            let exhausted = try await show(retried)
            #expect(exhausted["state"] as? String == "dead" && exhausted["attempt"] as? Int == 2)
            #expect(((exhausted["errors"] as? [[String: Any]])?.map { $0["message"] as? String }) == ["try again", "try again"])
        }
    }
}
