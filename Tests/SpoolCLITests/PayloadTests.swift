import Foundation
import Testing

/// `spool enqueue` checks its payload is well-formed JSON (RFC 8259, strictly: no trailing
/// commas, no single quotes) before it opens the store: a malformed payload is one error line,
/// exit code 1, and nothing stored.
@Suite("enqueue payloads", .timeLimit(.minutes(2)))
struct PayloadTests {
    @Test(
        "a malformed payload exits 1 with one line saying where, and stores nothing",
        arguments: [
            ("{bad", "expected a member name in quotes at line 1, column 2"),
            (#"{"a": 1,}"#, "expected a member name in quotes at line 1, column 9"),
            ("[1, 2,]", "unexpected character ']' at line 1, column 7"),
            ("{'a': 1}", "expected a member name in quotes"),
            ("", "unexpected end of JSON at line 1, column 1"),
            ("   ", "unexpected end of JSON at line 1, column 4"),
            (#"{"a": 01}"#, "invalid number (leading zero)"),
            (#""unterminated"#, "unterminated string"),
            (#"{"a": 1} {"b": 2}"#, "unexpected text after the JSON value"),
            ("nul", "invalid literal (expected null)"),
            ("{\"a\": \"line\nbreak\"}", "control character in a string (escape it)"),
            (#"{"a": 1."#, "invalid number (digits expected after '.')"),
            (#"{"a": "\x"}"#, "invalid escape '\\x'"),
            ("{\n  \"a\": [1, 2\n}", "expected ',' or ']' in an array at line 3, column 1"),
            ("NaN", "unexpected character 'N'"),
            (#"{"a": 1, "a": 2}"#, #"member "a" appears twice in one object at line 1, column 10"#),
            (
                String(repeating: "[", count: 513) + String(repeating: "]", count: 513),
                "arrays and objects nested deeper than 512 levels at line 1, column 513"
            ),
        ])
    func malformedPayload(payload: String, detail: String) async throws {
        try await withTemporaryFolder { folder in
            let database = ["--database", "sqlite:\(folder)/jobs.sqlite"]
            // Before any store exists: the file is not even created.
            let first = try await spool(["enqueue", "some.kind", "--payload", payload] + database, in: folder)
            #expect(first.status == 1, "\(first)")
            #expect(first.stderr.hasPrefix("error: the payload is not valid JSON: "), "\(first)")
            #expect(first.errorLines.count == 1, "\(first)")
            #expect(first.stderr.contains(detail), "expected '\(detail)' in: \(first)")
            #expect(first.stdout.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "\(folder)/jobs.sqlite"))

            // With a store holding one job: still one job afterwards.
            let valid = try await spool(["enqueue", "some.kind", "--payload", "{}"] + database, in: folder)
            #expect(valid.status == 0, "\(valid)")
            let second = try await spool(["enqueue", "some.kind", "--payload", payload, "--json"] + database, in: folder)
            #expect(second.status == 1 && second.errorLines.count == 1 && second.stdout.isEmpty, "\(second)")
            let stats = try await spool(["stats", "--json"] + database, in: folder)
            #expect(try (stats.jsonObject()["total"] as? [String: Any])?["total"] as? Int == 1, "\(stats)")
        }
    }

    @Test(
        "well-formed payloads of every JSON type are stored as given and shown as JSON",
        arguments: [
            "{}", "[]", #""text""#, "12.5e-3", "-0", "null", "true",
            "{\n  \"user\": {\"id\": 12345678901234567890, \"name\": \"Zoë \\u00e9\\n\"},\n  \"tags\": [1, 2.50, null]\n}",
        ])
    func wellFormedPayload(payload: String) async throws {
        try await withTemporaryFolder { folder in
            let database = ["--database", "sqlite:\(folder)/jobs.sqlite"]
            let enqueued = try await spool(["enqueue", "some.kind", "--payload", payload, "--json"] + database, in: folder)
            #expect(enqueued.status == 0, "\(enqueued)")
            let id = try #require(try enqueued.jsonObject()["id"] as? String)
            let shown = try await spool(["jobs", "show", id, "--json"] + database, in: folder)
            #expect(shown.status == 0, "\(shown)")
            let job = try shown.jsonObject()
            #expect(job["payload"] != nil)
            // Embedded verbatim (minified): big integers and decimals keep their digits.
            let minified = payload.replacingOccurrences(of: "\n", with: "").replacingOccurrences(of: "  ", with: "")
                .replacingOccurrences(of: ": ", with: ":").replacingOccurrences(of: ", ", with: ",")
            #expect(shown.stdout.contains("\"payload\":\(minified),"), "\(shown.stdout)")
        }
    }

    @Test(
        "built-in kinds check their payload at enqueue; the spool. prefix is reserved",
        arguments: [
            (["spool.sleep", "--payload", #"{"ms": "soon"}"#], "the payload does not fit spool.sleep"),
            (["spool.sleep", "--payload", #"{"ms": -5}"#], "spool.sleep needs 0 ≤ ms ≤ 3600000 (got -5)"),
            (["spool.fail", "--payload", #"{"permanent": "yes"}"#], "the payload does not fit spool.fail"),
            (["spool.nope"], "'spool.nope' is not a built-in kind"),
            (["", "--payload", "{}"], "the kind must not be empty"),
            (["x", "--max-attempts", "0"], "--max-attempts must be at least 1"),
            (["x", "--delay", "-1"], "--delay must be zero or more seconds"),
        ])
    func builtinPayloads(arguments: [String], detail: String) async throws {
        try await withTemporaryFolder { folder in
            let run = try await spool(["enqueue"] + arguments + ["--database", "sqlite:\(folder)/jobs.sqlite"], in: folder)
            #expect(run.status == 1 && run.errorLines.count == 1, "\(run)")
            #expect(run.stderr.contains(detail), "expected '\(detail)' in: \(run)")
            #expect(!FileManager.default.fileExists(atPath: "\(folder)/jobs.sqlite"))
        }
    }
}
