import Foundation
import Spool
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
            let missing = try await Self.post("\(base)/v1/jobs", #"{"kind": "http", "payload": {"url": "\#(base)/v1/jobs/01M82SDFH2MPAH2KWJPW49N883"}, "max_attempts": 5}"#)
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

    /// Reads `Spool serving http://HOST:PORT …` from the server's standard output.
    static func address(of server: SpoolChild) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let line = server.output.stdout.split(separator: "\n").first(where: { $0.hasPrefix("Spool serving ") }),
               let url = line.split(separator: " ").dropFirst(2).first {
                return String(url)
            }
            if server.hasExited { Issue.record("spool serve exited: \(server.output.stderr)"); throw CancellationError() }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ExpectationFailed("spool serve did not print its address within 60 s: \(server.output.stderr)")
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

    /// Polls `GET /v1/jobs/ID` until the job is in `state` (bounded: 30 s).
    static func waitForState(_ base: String, _ id: String, _ state: String, while server: SpoolChild) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .seconds(30)
        var last: [String: Any] = [:]
        while ContinuousClock.now < deadline {
            last = try await send(URLRequest(url: try #require(URL(string: "\(base)/v1/jobs/\(id)")))).json ?? [:]
            if last["state"] as? String == state { return last }
            if server.hasExited { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ExpectationFailed("job \(id) is not \(state) after 30 s: \(last)\n\(server.output.stderr)")
    }
}

struct ExpectationFailed: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
