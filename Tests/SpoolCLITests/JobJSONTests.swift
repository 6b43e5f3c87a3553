import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A job has one JSON rendering: `spool jobs show --json` and `spool jobs list --json` print
/// the very bytes `GET /v1/jobs/{id}` and `GET /v1/jobs` answer for the same store.
@Suite("job JSON", .timeLimit(.minutes(2)))
struct JobJSONTests {
    @Test("the CLI's --json job and list are the API's, byte for byte")
    func cliAndAPIRenderJobsAlike() async throws {
        try await withTemporaryFolder { folder in
            let database = ["--database", "sqlite:\(folder)/jobs.sqlite"]
            // A job nobody runs before the year 2999, and one that dies at its first attempt.
            let scheduled = try await spool(
                [
                    "enqueue", "report.build", "--payload", #"{"b": 1.50, "a": [1, 2e3, "é\n"], "deep": [[[{"x": null}]]]}"#,
                    "--run-at", "2999-01-01T00:00:00Z", "--unique-key", "u-1", "--timeout", "2.5", "--json",
                ] + database,
                in: folder
            )
            #expect(scheduled.status == 0, "\(scheduled)")
            let scheduledID = try #require(try scheduled.jsonObject()["id"] as? String)
            let failing = try await spool(["enqueue", "spool.fail", "--payload", #"{"permanent": true}"#, "--json"] + database, in: folder)
            #expect(failing.status == 0, "\(failing)")
            let failingID = try #require(try failing.jsonObject()["id"] as? String)

            let server = try SpoolChild(["serve", "--port", "0"] + database, in: folder)
            defer { server.removeOutput() }
            let base = try await ServeTests.address(of: server)
            _ = try await ServeTests.waitForState(base, failingID, "dead", while: server)

            for id in [scheduledID, failingID] {
                let shown = try await spool(["jobs", "show", id, "--json"] + database, in: folder)
                #expect(shown.status == 0, "\(shown)")
                let api = try await ServeTests.send(URLRequest(url: try #require(URL(string: "\(base)/v1/jobs/\(id)"))))
                #expect(api.status == 200)
                #expect(shown.stdout.trimmingCharacters(in: .newlines) == api.text)
            }
            let listed = try await spool(["jobs", "list", "--limit", "10", "--json"] + database, in: folder)
            #expect(listed.status == 0, "\(listed)")
            let apiList = try await ServeTests.send(URLRequest(url: try #require(URL(string: "\(base)/v1/jobs?limit=10"))))
            #expect(listed.stdout.trimmingCharacters(in: .newlines) == apiList.text)
            // The field order of the API's job (the OpenAPI document's), payload as sent.
            #expect(apiList.text.hasPrefix(#"{"jobs":[{"id":""#))
            let shown = try await spool(["jobs", "show", scheduledID, "--json"] + database, in: folder)
            #expect(shown.stdout.hasPrefix(#"{"id":"\#(scheduledID)","queue":"default","kind":"report.build","state":"scheduled","#))
            #expect(shown.stdout.contains(#""payload":{"b":1.50,"a":[1,2e3,"é\n"],"deep":[[[{"x":null}]]]},"#))

            server.send(SIGTERM)
            #expect(try await server.waitForExit(timeout: .seconds(30)) == 0, "\(server.output.stderr)")
        }
    }

    @Test("a settings file is read by the same parser: a setting given twice, or nested too deep, is one error line")
    func settingsFileUsesTheOneParser() async throws {
        try await withTemporaryFolder { folder in
            let cases = [
                (
                    "{\n  \"port\": 0,\n  \"port\": 1\n}",
                    #"is not valid JSON: member "port" appears twice in one object at line 3, column 3"#
                ),
                (
                    #"{"schedules": [{"name": "n", "every_s": 1, "kind": "k", "payload": "# + String(repeating: "[", count: 511)
                        + String(repeating: "]", count: 511) + "}]}",
                    "is not valid JSON: arrays and objects nested deeper than 512 levels at line 1, column 577"
                ),
            ]
            for (text, detail) in cases {
                let config = "\(folder)/settings.json"
                try text.write(toFile: config, atomically: true, encoding: .utf8)
                let run = try await spool(["schedules", "--config", config], in: folder)
                #expect(run.status == 1 && run.errorLines.count == 1, "\(run)")
                #expect(run.stderr.contains(detail), "expected '\(detail)' in: \(run)")
            }
        }
    }
}
