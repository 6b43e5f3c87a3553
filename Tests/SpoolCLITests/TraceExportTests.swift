import Foundation
import Spool
import SpoolTesting
import Subprocess
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `spool serve` exporting traces over OTLP/HTTP to a loopback receiver, as the OpenTelemetry
/// environment variables ask.
@Suite("OTLP trace export", .timeLimit(.minutes(2)))
struct TraceExportTests {
    /// A loopback OTLP/HTTP receiver: appends each request's path and JSON body to `out`, writes
    /// its port to `port`, stops on `POST /stop` (or after two minutes).
    static let receiver = #"""
        import http.server, os, sys, threading
        out, port_file = sys.argv[1], sys.argv[2]
        class Receiver(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")
                if self.path == "/stop":
                    threading.Thread(target=server.shutdown).start()
                    return
                with open(out, "ab") as f:
                    f.write(self.path.encode() + b"\n" + body.replace(b"\n", b" ") + b"\n")
            def log_message(self, *args):
                pass
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        with open(port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(port_file + ".tmp", port_file)
        deadline = threading.Timer(120, server.shutdown)
        deadline.daemon = True
        deadline.start()
        server.serve_forever()
        """#

    @Test("a job enqueued over HTTP with a traceparent is exported: its producer and consumer spans, in the caller's trace")
    func spansOfOneJobReachTheReceiver() async throws {
        try await withTemporaryFolder { folder in
            let script = "\(folder)/receiver.py"
            try Self.receiver.write(toFile: script, atomically: true, encoding: .utf8)
            let received = "\(folder)/received.txt"
            let portFile = "\(folder)/port"
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    _ = try await Subprocess.run(
                        .name("python3"), arguments: [script, received, portFile], output: .discarded, error: .discarded)
                }
                try await Expectation.poll(every: .milliseconds(20), "the receiver to listen") {
                    FileManager.default.fileExists(atPath: portFile)
                }
                let port = try String(contentsOfFile: portFile, encoding: .utf8)
                let receiverURL = "http://127.0.0.1:\(port)"
                do {
                    try await Self.exportOneJob(to: receiverURL, received: received, in: folder)
                } catch {
                    _ = try? await ServeTests.post("\(receiverURL)/stop", "{}")
                    throw error
                }
                _ = try await ServeTests.post("\(receiverURL)/stop", "{}")
                try await group.waitForAll()
            }
        }
    }

    @Test("an OTLP protocol other than HTTP is refused naming the variable, not a trap", arguments: ["grpc", "bogus"])
    func aProtocolOtherThanHTTPIsRefused(protocolName: String) async throws {
        try await withTemporaryFolder { folder in
            let run = try await spool(
                ["work", "--database", "sqlite:\(folder)/jobs.sqlite"], in: folder,
                environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_EXPORTER_OTLP_PROTOCOL": protocolName])
            #expect(run.status == 1, "\(run)")
            #expect(
                run.errorLines
                    == [
                        "error: OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json (got '\(protocolName)'): Spool exports OTLP over HTTP"
                    ], "\(run)")
        }
    }

    /// Runs `spool serve` exporting to `receiverURL`, enqueues one job with a caller's trace
    /// context, and checks the spans the receiver got once the server stopped.
    static func exportOneJob(to receiverURL: String, received: String, in folder: String) async throws {
        let server = try SpoolChild(
            ["serve", "--port", "0", "--database", "sqlite:\(folder)/jobs.sqlite", "--log-level", "debug", "--json"], in: folder,
            environment: [
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiverURL, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
                "OTEL_BSP_SCHEDULE_DELAY": "50",
            ])
        defer { server.removeOutput() }
        let base = try await ServeTests.address(of: server)
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        var request = URLRequest(url: try #require(URL(string: "\(base)/v1/jobs")))
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("00-\(traceID)-00f067aa0ba902b7-01", forHTTPHeaderField: "traceparent")
        request.httpBody = Data(#"{"kind": "spool.noop", "queue": "default"}"#.utf8)
        let answer = try await ServeTests.send(request)
        #expect(answer.status == 202, "\(answer.text)")
        let id = try #require(answer.json?["id"] as? String)
        _ = try await ServeTests.waitForState(base, id, "succeeded", while: server)
        // Graceful shutdown stops the exporter last: it sends what it still holds.
        server.send(SIGTERM)
        #expect(try await server.waitForExit(timeout: .seconds(30)) == 0, "\(server.output.stderr)")

        let spans = try Self.spans(in: received)
        let run = try #require(
            spans.first { $0.name == "process default" && $0.attributes["messaging.message.id"] == id },
            "no consumer span of job \(id) among \(spans.map(\.name))")
        #expect(run.traceID == traceID)
        #expect(run.attributes["spool.job.kind"] == "spool.noop")
        #expect(run.attributes["messaging.destination.name"] == "default")
        #expect(run.attributes["messaging.system"] == "spool")
        #expect(run.service == "spool")
        let send = try #require(spans.first { $0.name == "send default" && $0.traceID == traceID })
        #expect(send.parentSpanID == "00f067aa0ba902b7", "the producer continues the caller's span")

        // The worker's log line about the job's outcome carries the run span's ids.
        let lines = server.output.stderr.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let outcome = try #require(
            lines.first { $0["message"] as? String == "job succeeded" && $0["spool.job.id"] as? String == id },
            "no outcome line for job \(id) in \(server.output.stderr)")
        #expect(outcome["trace_id"] as? String == traceID, "\(outcome)")
        #expect(outcome["span_id"] as? String == run.spanID, "\(outcome)")
    }

    struct Span {
        var name: String
        var traceID: String
        var spanID: String
        var parentSpanID: String
        var service: String?
        var attributes: [String: String]
    }

    /// The spans of every OTLP/HTTP JSON trace export the receiver wrote down.
    static func spans(in file: String) throws -> [Span] {
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        var spans: [Span] = []
        for index in stride(from: 0, to: lines.count - 1, by: 2) where lines[index] == "/v1/traces" {
            let export = try #require(try JSONSerialization.jsonObject(with: Data(lines[index + 1].utf8)) as? [String: Any])
            for resource in export["resourceSpans"] as? [[String: Any]] ?? [] {
                let resourceAttributes = Self.attributes((resource["resource"] as? [String: Any])?["attributes"])
                for scope in resource["scopeSpans"] as? [[String: Any]] ?? [] {
                    for span in scope["spans"] as? [[String: Any]] ?? [] {
                        spans.append(
                            Span(
                                name: span["name"] as? String ?? "", traceID: Self.hex(span["traceId"]),
                                spanID: Self.hex(span["spanId"]), parentSpanID: Self.hex(span["parentSpanId"]),
                                service: resourceAttributes["service.name"],
                                attributes: Self.attributes(span["attributes"])))
                    }
                }
            }
        }
        return spans
    }

    /// An id as lowercase hex: OTLP/JSON says hex, protobuf's JSON mapping (swift-otel's) writes
    /// bytes as base64; either is read.
    static func hex(_ value: Any?) -> String {
        let text = value as? String ?? ""
        if text.count == 32 || text.count == 16, text.allSatisfy(\.isHexDigit) { return text.lowercased() }
        guard let bytes = Data(base64Encoded: text) else { return text }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func attributes(_ value: Any?) -> [String: String] {
        var result: [String: String] = [:]
        for attribute in value as? [[String: Any]] ?? [] {
            guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any] else { continue }
            if let text = value["stringValue"] as? String {
                result[key] = text
            } else if let number = value["intValue"] {
                result[key] = "\(number)"
            } else if let flag = value["boolValue"] as? Bool {
                result[key] = "\(flag)"
            }
        }
        return result
    }
}
