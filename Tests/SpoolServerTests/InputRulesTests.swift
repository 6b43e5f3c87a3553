import Foundation
import Hummingbird
import HummingbirdTesting
import Spool
@testable import SpoolServer
import Testing

/// The rules the API applies to what a request is made of: one member per name, RFC 3339
/// times to the letter, names through `JobInput`, ranges, `null` only where documented.
/// Every refusal is a 400 naming the field, and nothing is stored.
@Suite("Input rules of the API", .timeLimit(.minutes(1)))
struct InputRulesTests {
    /// Sends `body` to `method path` and expects a 400 naming `field`, whose detail holds `saying`.
    static func expectRefused(
        _ client: any TestClientProtocol, _ body: String, to path: String = "/v1/jobs", field: String, saying: String? = nil,
        method: HTTPRequest.Method = .post, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let reply = try await client.call(method, path, body: body)
        #expect(reply.status == .badRequest, "\(body) → \(reply.text)", sourceLocation: sourceLocation)
        #expect(reply.contentType == "application/problem+json", sourceLocation: sourceLocation)
        #expect(reply["field"]?.stringValue == field, "\(body) → \(reply.text)", sourceLocation: sourceLocation)
        if let saying {
            let detail = reply["detail"]?.stringValue ?? ""
            #expect(detail.contains(saying), "\(body) → \(detail)", sourceLocation: sourceLocation)
        }
    }

    /// Enqueues `body` and answers the stored job as the API shows it.
    static func enqueued(
        _ client: any TestClientProtocol, _ body: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Reply {
        let reply = try await client.call(.post, "/v1/jobs", body: body)
        #expect(reply.status == .accepted, "\(body) → \(reply.text)", sourceLocation: sourceLocation)
        let id = reply["id"]?.stringValue ?? "-"
        return try await client.call(.get, "/v1/jobs/\(id)")
    }

    static func expectNothingStored(_ storage: MemoryStorage, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let stats = try await storage.stats()
        #expect(stats.queues.isEmpty, "\(stats.queues)", sourceLocation: sourceLocation)
    }

    // MARK: 1. One member per name

    @Test func aMemberGivenTwiceIsRefusedNamingWhereItIs() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            // Accepted before, the first "jobs" winning: now the batch is refused whole.
            try await Self.expectRefused(
                client, #"{"jobs": [{"kind": "a"}], "jobs": [{"kind": "b"}, {"kind": "c"}]}"#, to: "/v1/jobs/batch", field: "jobs",
                saying: "field 'jobs' appears twice"
            )
            try await Self.expectRefused(
                client, #"{"jobs": [{"kind": "a"}, {"kind": "b", "queue": "q", "queue": "r"}]}"#, to: "/v1/jobs/batch",
                field: "jobs[1].queue")
            try await Self.expectRefused(client, #"{"kind": "a", "payload": {"user": {"id": 1, "id": 2}}}"#, field: "payload.user.id")
            try await Self.expectRefused(client, #"{"kind": "a", "payload": [{}, [{"x": 1, "x": 1}]]}"#, field: "payload[1][0].x")
            try await Self.expectRefused(
                client, #"{"worker": "w", "queues": ["q"], "worker": "v"}"#, to: "/v1/worker/claim", field: "worker")
            try await Self.expectRefused(client, #"{"rate": "1/s", "rate": null}"#, to: "/v1/queues/q/limits", field: "rate", method: .put)
        }
        try await Self.expectNothingStored(storage)
        #expect(try await storage.queueLimits().isEmpty)
    }

    // MARK: 2. run_at is RFC 3339, to the letter

    @Test(arguments: [
        ("2026-02-30T00:00:00Z", "February 2026 has 28 days"),
        ("2025-02-29T00:00:00Z", "February 2025 has 28 days"),
        ("2100-02-29T00:00:00Z", "February 2100 has 28 days"),
        ("2026-04-31T00:00:00Z", "April 2026 has 30 days"),
        ("2026-13-01T00:00:00Z", "months go from 01 to 12"),
        ("2026-00-10T00:00:00Z", "months go from 01 to 12"),
        ("2026-01-00T00:00:00Z", "January 2026 has 31 days"),
        ("2026-01-01T24:00:00Z", "no real time of day"),
        ("2026-01-01T12:60:00Z", "no real time of day"),
        ("2026-01-01T23:59:60Z", "leap second"),
        ("2026-01-01T12:00:00+24:00", "offsets go from -23:59 to +23:59"),
        ("2026-01-01T12:00:00+01:60", "offsets go from -23:59 to +23:59"),
        ("2026-01-01 12:00:00Z", "RFC 3339 time"),
        ("2026-01-01T12:00:00", "RFC 3339 time"),
        ("2026-01-01T12:00Z", "RFC 3339 time"),
        ("2026-01-01T12:00:00.Z", "RFC 3339 time"),
        ("2026-01-01T12:00:00+0100", "RFC 3339 time"),
        ("2026-1-01T12:00:00Z", "RFC 3339 time"),
        ("+2026-01-01T12:00:00Z", "RFC 3339 time"),
        ("20260-01-01T12:00:00Z", "RFC 3339 time"),
        ("2026-01-01T12:00:00Z ", "RFC 3339 time"),
        ("２０２６-01-01T12:00:00Z", "RFC 3339 time"),
        ("1969-12-31T23:59:59Z", "from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z"),
        ("0001-01-01T00:00:00Z", "from 1970-01-01T00:00:00Z"),
        ("1970-01-01T00:30:00+01:00", "write it in UTC"),
        ("1970-01-01T05:00:00+01:00", "write it in UTC"),
        ("9999-12-31T23:00:00-01:00", "write it in UTC"),
    ])
    func aRunAtThatIsNotAnRFC3339TimeInRangeIsRefused(text: String, saying: String) async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            try await Self.expectRefused(client, #"{"kind": "a", "run_at": "\#(text)"}"#, field: "run_at", saying: saying)
            try await Self.expectRefused(
                client, #"{"jobs": [{"kind": "a"}, {"kind": "a", "run_at": "\#(text)"}]}"#, to: "/v1/jobs/batch", field: "jobs[1].run_at",
                saying: saying
            )
        }
        try await Self.expectNothingStored(storage)
    }

    @Test(arguments: [
        ("2028-02-29T12:00:00Z", "2028-02-29T12:00:00.000Z"),
        ("2000-02-29T12:00:00Z", "2000-02-29T12:00:00.000Z"),
        ("2026-06-01t10:00:00z", "2026-06-01T10:00:00.000Z"),
        ("2026-06-01T12:00:00+02:00", "2026-06-01T10:00:00.000Z"),
        ("2026-06-01T05:30:00-04:30", "2026-06-01T10:00:00.000Z"),
        ("2026-06-01T10:00:00-00:00", "2026-06-01T10:00:00.000Z"),
        ("2026-06-01T00:30:00+23:59", "2026-05-31T00:31:00.000Z"),
        ("2026-06-01T10:00:00.5Z", "2026-06-01T10:00:00.500Z"),
        ("2026-06-01T10:00:00.123456789Z", "2026-06-01T10:00:00.123Z"),
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
        ("1970-01-01T00:00:00-05:00", "1970-01-01T05:00:00.000Z"),
        ("1970-01-01T07:00:00+00:00", "1970-01-01T07:00:00.000Z"),
        ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
        ("9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.999Z"),
        ("9999-12-31T20:00:00+03:00", "9999-12-31T17:00:00.000Z"),
    ])
    func anRFC3339RunAtIsStoredAtTheInstantItNames(text: String, stored: String) async throws {
        try await withClient(makeServer()) { client async throws in
            let job = try await Self.enqueued(client, #"{"kind": "a", "run_at": "\#(text)"}"#)
            let runAt = try #require(job["run_at"]?.stringValue)
            let expected = try #require(RFC3339.parse(stored))
            #expect(
                RFC3339.parse(runAt).map { abs($0.timeIntervalSince(expected)) < 0.0015 } == true, "\(text) → \(runAt), expected \(stored)")
        }
    }

    @Test func theReaderKeepsWhatWasWritten() throws {
        let reading = try RFC3339.read("2026-03-04T05:06:07.891-02:30")
        #expect(reading.year == 2026 && reading.month == 3 && reading.day == 4)
        #expect(reading.offsetSeconds == -9_000)
        #expect(RFC3339.format(reading.date) == "2026-03-04T07:36:07.891Z")
        #expect(RFC3339.daysFromCivil(year: 1970, month: 1, day: 1) == 0)
        #expect(RFC3339.daysFromCivil(year: 2000, month: 3, day: 1) == 11_017)
        #expect(RFC3339.daysFromCivil(year: 1969, month: 12, day: 31) == -1)
        #expect(RFC3339.parse("2026-02-29T00:00:00Z") == nil)
    }

    // MARK: 3. Names and ranges

    @Test func namesAreCheckedByJobInputAndStoredInNFC() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            let control = "control characters"
            try await Self.expectRefused(client, #"{"kind": "a\u0001b"}"#, field: "kind", saying: "\(control) (found U+0001)")
            try await Self.expectRefused(client, #"{"kind": "a", "queue": "q\u007F"}"#, field: "queue", saying: "(found U+007F)")
            try await Self.expectRefused(client, #"{"kind": "a", "unique_key": "u\u0085"}"#, field: "unique_key", saying: "(found U+0085)")
            try await Self.expectRefused(client, #"{"kind": "a", "queue": "\n"}"#, field: "queue", saying: control)
            let tooLong = String(repeating: "é", count: 256)
            try await Self.expectRefused(
                client, #"{"kind": "\#(tooLong)"}"#, field: "kind", saying: "at most 255 characters (Unicode code points) long (got 256)")
            let decomposed = String(repeating: "e\u{301}", count: 128)  // 256 code points as sent, 128 in NFC
            try await Self.expectRefused(client, #"{"kind": "\#(decomposed)"}"#, field: "kind", saying: "(got 256)")
            try await Self.expectRefused(
                client, #"{"jobs": [{"kind": "a"}, {"kind": "\u0000"}]}"#, to: "/v1/jobs/batch", field: "jobs[1].kind", saying: control)
            let claim = "/v1/worker/claim"
            try await Self.expectRefused(client, #"{"worker": "w\t1", "queues": ["q"]}"#, to: claim, field: "worker", saying: control)
            try await Self.expectRefused(
                client, #"{"worker": "w", "queues": ["q", "\u009F"]}"#, to: claim, field: "queues[1]", saying: control)
            try await Self.expectRefused(
                client, #"{"worker": "w", "queues": [""]}"#, to: claim, field: "queues[0]", saying: "must not be empty")
            try await Self.expectRefused(
                client, #"{"worker": "\u001B", "ids": []}"#, to: "/v1/worker/heartbeat", field: "worker", saying: control)
            try await Self.expectRefused(
                client, #"{"worker": "\u0080", "results": []}"#, to: "/v1/worker/finish", field: "worker", saying: control)
        }
        try await Self.expectNothingStored(storage)

        try await withClient(makeServer(storage)) { client async throws in
            // 255 two-byte characters: 510 bytes, 255 code points, accepted (the old byte count refused it).
            let wide = String(repeating: "é", count: 255)
            let long = try await Self.enqueued(client, #"{"kind": "\#(wide)"}"#)
            #expect(long["kind"]?.stringValue == wide)
            // Sent decomposed (NFD), stored composed (NFC): one queue, one kind, one unique key.
            let job = try await Self.enqueued(client, #"{"kind": "cafe\u0301", "queue": "cre\u0300me", "unique_key": "u\u0308"}"#)
            #expect(job["kind"]?.stringValue == "caf\u{E9}")
            #expect(job["queue"]?.stringValue == "cr\u{E8}me")
            #expect(job["unique_key"]?.stringValue == "\u{FC}")
            let again = try await client.call(.post, "/v1/jobs", body: #"{"kind": "café", "unique_key": "ü"}"#)
            #expect(again.status == .conflict, "the NFC and NFD spellings are one unique key: \(again.text)")
            let claim = try await client.call(.post, "/v1/worker/claim", body: #"{"worker": "wo\u0308rker", "queues": ["crème"]}"#)
            let claimed = try #require(claim["jobs"]?.arrayValue)
            #expect(claimed.count == 1, "an NFC queue name claims what was enqueued as NFD: \(claim.text)")
            let id = try #require(claimed.first?["id"]?.stringValue)
            let jobID = try #require(JobID(id))
            let record = try #require(try await storage.job(jobID))
            #expect(record.leaseOwner == "w\u{F6}rker", "the lease owner is stored in NFC")
            let beat = try await client.call(.post, "/v1/worker/heartbeat", body: #"{"worker": "wörker", "ids": ["\#(id)"]}"#)
            #expect(beat["extended"]?.arrayValue?.count == 1, "either spelling holds the lease: \(beat.text)")
        }
    }

    @Test func prioritiesAttemptsAndCountsStayInRange() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            try await Self.expectRefused(
                client, #"{"kind": "a", "priority": 32768}"#, field: "priority", saying: "must be at most 32767 (got 32768)")
            try await Self.expectRefused(
                client, #"{"kind": "a", "priority": -32769}"#, field: "priority", saying: "must be at least -32768 (got -32769)")
            try await Self.expectRefused(client, #"{"kind": "a", "priority": 1e400}"#, field: "priority", saying: "at most 32767")
            try await Self.expectRefused(
                client, #"{"kind": "a", "priority": -99999999999999999999}"#, field: "priority", saying: "at least -32768")
            try await Self.expectRefused(
                client, #"{"kind": "a", "priority": 2.5}"#, field: "priority", saying: "must be an integer (got 2.5)")
            try await Self.expectRefused(client, #"{"kind": "a", "priority": 25e-1}"#, field: "priority", saying: "must be an integer")
            try await Self.expectRefused(client, #"{"kind": "a", "max_attempts": 65536}"#, field: "max_attempts", saying: "at most 65535")
            try await Self.expectRefused(client, #"{"kind": "a", "max_attempts": 0.0}"#, field: "max_attempts", saying: "at least 1")
            try await Self.expectRefused(
                client, #"{"kind": "a", "timeout_s": 0.0005}"#, field: "timeout_s", saying: "at least 0.001 seconds")
            try await Self.expectRefused(
                client, #"{"kind": "a", "timeout_s": 31622401}"#, field: "timeout_s", saying: "at most a year, 31622400 seconds")
            try await Self.expectRefused(client, #"{"kind": "a", "delay_s": 1e400}"#, field: "delay_s", saying: "at most a year")
            try await Self.expectRefused(client, #"{"worker": "w", "queues": ["q"], "limit": 501}"#, to: "/v1/worker/claim", field: "limit")
            try await Self.expectRefused(
                client, #"{"worker": "w", "queues": ["q"], "lease_s": 86401}"#, to: "/v1/worker/claim", field: "lease_s")
            try await Self.expectRefused(
                client, #"{"worker": "w", "queues": ["q"], "wait_s": 61}"#, to: "/v1/worker/claim", field: "wait_s")
            try await Self.expectRefused(
                client, #"{"max_running": 2147483648}"#, to: "/v1/queues/q/limits", field: "max_running", method: .put)
        }
        try await Self.expectNothingStored(storage)
        #expect(try await storage.queueLimits().isEmpty)

        try await withClient(makeServer(storage)) { client async throws in
            // A whole number may carry a zero fraction or an exponent, as JSON Schema counts integers.
            let job = try await Self.enqueued(client, #"{"kind": "a", "priority": 2.56e2, "max_attempts": 65535.0, "timeout_s": 0.001}"#)
            #expect(job["priority"]?.intValue == 256)
            #expect(job["max_attempts"]?.intValue == 65535)
            #expect(job["timeout_s"]?.doubleValue == 0.001)
            let edges = try await Self.enqueued(client, #"{"kind": "a", "priority": -32768, "delay_s": 31622400}"#)
            #expect(edges["priority"]?.intValue == -32768)
            let claim = try await client.call(.post, "/v1/worker/claim", body: #"{"worker": "w", "queues": ["default"], "limit": 5.0}"#)
            #expect(claim.status == .ok, "\(claim.text)")
        }
    }

    @Test func wholeNumbersAreReadAsJSONSchemaCountsThem() {
        let cases: [(String, FieldReader.WholeNumber)] = [
            ("0", .value(0)), ("-0", .value(0)), ("-0.0", .value(0)), ("0e99999999999999999999", .value(0)),
            ("256", .value(256)), ("256.0", .value(256)), ("2.56e2", .value(256)), ("25600e-2", .value(256)), ("2.56E+2", .value(256)),
            ("-1.5e1", .value(-15)), ("1.5", .fractional), ("1e-1", .fractional), ("100e-3", .fractional),
            ("9223372036854775807", .value(Int.max)), ("-9223372036854775808", .value(Int.min)),
            ("9223372036854775808", .outOfRange), ("1e19", .outOfRange), ("1e99999999999999999999", .outOfRange),
            ("0.0000000000000000000000000000001e31", .value(1)),
        ]
        for (text, expected) in cases {
            #expect(FieldReader.wholeNumber(text) == expected, "\(text)")
        }
    }

    // MARK: 4. null only where a schema allows it

    @Test func nullIsRefusedWhereTheDocumentDoesNotAllowIt() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            for field in ["kind", "queue", "priority", "run_at", "delay_s", "unique_key", "max_attempts", "timeout_s", "metadata"] {
                let body = field == "kind" ? #"{"kind": null}"# : #"{"kind": "a", "\#(field)": null}"#
                try await Self.expectRefused(client, body, field: field, saying: "must not be null (leave the field out for its default)")
            }
            try await Self.expectRefused(
                client, #"{"jobs": [{"kind": "a", "timeout_s": null}]}"#, to: "/v1/jobs/batch", field: "jobs[0].timeout_s")
            try await Self.expectRefused(client, #"{"jobs": null}"#, to: "/v1/jobs/batch", field: "jobs")
            let claim = "/v1/worker/claim"
            let claims = [
                ("worker", #"{"worker": null, "queues": ["q"]}"#),
                ("queues", #"{"worker": "w", "queues": null}"#),
                ("limit", #"{"worker": "w", "queues": ["q"], "limit": null}"#),
                ("lease_s", #"{"worker": "w", "queues": ["q"], "lease_s": null}"#),
                ("wait_s", #"{"worker": "w", "queues": ["q"], "wait_s": null}"#),
            ]
            for (field, body) in claims {
                try await Self.expectRefused(client, body, to: claim, field: field, saying: "must not be null")
            }
            try await Self.expectRefused(
                client, #"{"worker": "w", "ids": [], "lease_s": null}"#, to: "/v1/worker/heartbeat", field: "lease_s")
            for field in ["error", "retry_in_s", "permanent"] {
                let id = JobID().description
                let body = #"{"worker": "w", "results": [{"id": "\#(id)", "status": "failed", "\#(field)": null}]}"#
                try await Self.expectRefused(
                    client, body, to: "/v1/worker/finish", field: "results[0].\(field)", saying: "must not be null")
            }
        }
        try await Self.expectNothingStored(storage)

        try await withClient(makeServer(storage)) { client async throws in
            // Where the document says null: the payload (any JSON), a result, and queue limits.
            let job = try await Self.enqueued(client, #"{"kind": "a", "payload": null}"#)
            #expect(job["payload"]?.isNull == true)
            let limits = try await client.call(.put, "/v1/queues/q/limits", body: #"{"max_running": null, "rate": null}"#)
            #expect(limits.status == .ok && limits["limits"]?["max_running"]?.isNull == true, "\(limits.text)")
            let finish = try await client.call(
                .post, "/v1/worker/finish",
                body: #"{"worker": "w", "results": [{"id": "\#(JobID())", "status": "succeeded", "result": null}]}"#
            )
            #expect(finish.status == .ok, "\(finish.text)")
        }
    }

    @Test func aRateIsCountSlashPeriodAndNothingElse() async throws {
        let storage = MemoryStorage()
        try await withClient(makeServer(storage)) { client async throws in
            for rate in [
                " 100/1m", "+100/s", "0100/s", "100/01m", "100/100000s", "1000000000/s", "100/1M", "100/1 m", "100/", "/s", "1/0s", "١٠/s",
            ] {
                try await Self.expectRefused(
                    client, #"{"rate": "\#(rate)"}"#, to: "/v1/queues/q/limits", field: "rate", saying: "COUNT/PERIOD", method: .put)
            }
            #expect(try await storage.queueLimits().isEmpty)
            for (rate, shown) in [("100/1m", "100/1m"), ("5/s", "5/1s"), ("999999999/99999d", "999999999/99999d"), ("7/90000ms", "7/90s")] {
                let reply = try await client.call(.put, "/v1/queues/q/limits", body: #"{"rate": "\#(rate)"}"#)
                #expect(reply.status == .ok && reply["limits"]?["rate"]?.stringValue == shown, "\(rate) → \(reply.text)")
            }
        }
    }
}
