import Foundation
import Spool
@testable import SpoolServer
import SpoolTesting
import Testing

/// The served document states every limit the server enforces, and its patterns accept
/// exactly what the server accepts (checked on seeded random inputs, through ICU's regular
/// expressions, not the server's own code).
@Suite("OpenAPI document states the limits")
struct OpenAPILimitsTests {
    /// The served document, and a resolver of its `$ref`s.
    static func document() async throws -> OpenAPIChecker {
        OpenAPIChecker(try await OpenAPITests.servedDocument())
    }

    /// The schema at `path` (`EnqueueRequest.priority`), following `$ref`s and merging a
    /// `$ref`'s target with the members beside it.
    static func schema(_ checker: OpenAPIChecker, _ path: String) -> JSONValue? {
        let parts = path.split(separator: ".").map(String.init)
        var node = checker.document["components"]?["schemas"]?[parts[0]]
        for part in parts.dropFirst() {
            node = node.flatMap { checker.resolve($0) }?["properties"]?[part]
        }
        guard let node, case .object(let members) = node, let target = checker.resolve(node), case .object(let base) = target else {
            return node
        }
        return .object(base.filter { key, _ in !members.contains { $0.0 == key } } + members.filter { $0.0 != "$ref" })
    }

    static func regex(_ schema: JSONValue?) throws -> NSRegularExpression {
        try NSRegularExpression(pattern: try #require(schema?["pattern"]?.stringValue))
    }

    /// Whether `regex` (anchored at both ends) matches `text` as ECMA-262 and JSON Schema read
    /// it: ICU's `$` also matches before a final line break, so the match must span the text.
    static func matches(_ regex: NSRegularExpression, _ text: String) -> Bool {
        let whole = NSRange(text.startIndex..., in: text)
        return regex.firstMatch(in: text, range: whole)?.range == whole
    }

    @Test func everyLimitOfARequestIsStated() async throws {
        let doc = try await Self.document()
        func value(_ path: String, _ key: String) -> JSONValue? { Self.schema(doc, path)?[key] }
        for name in ["EnqueueRequest.kind", "EnqueueRequest.queue", "EnqueueRequest.unique_key", "WorkerClaimRequest.worker"] {
            #expect(value(name, "minLength") == .int(1), "\(name)")
            #expect(value(name, "maxLength") == .int(JobInput.maximumNameLength), "\(name)")
            #expect(value(name, "pattern")?.stringValue == #"^[^\u0000-\u001F\u007F-\u009F]*$"#, "\(name)")
        }
        #expect(value("EnqueueRequest.priority", "minimum") == .int(-32768) && value("EnqueueRequest.priority", "maximum") == .int(32767))
        #expect(
            value("EnqueueRequest.max_attempts", "minimum") == .int(1) && value("EnqueueRequest.max_attempts", "maximum") == .int(65535))
        #expect(
            value("EnqueueRequest.timeout_s", "minimum") == .number("0.001")
                && value("EnqueueRequest.timeout_s", "maximum") == .int(31_622_400))
        #expect(value("EnqueueRequest.delay_s", "minimum") == .int(0) && value("EnqueueRequest.delay_s", "maximum") == .int(31_622_400))
        #expect(value("EnqueueRequest.run_at", "format")?.stringValue == "date-time")
        #expect(value("EnqueueRequest.run_at", "pattern")?.stringValue?.contains("(19[7-9][0-9]|[2-9][0-9]{3})") == true)
        #expect(Self.schema(doc, "EnqueueRequest")?["not"] == .object([("required", .array([.string("run_at"), .string("delay_s")]))]))
        #expect(value("WorkerClaimRequest.limit", "maximum") == .int(500) && value("WorkerClaimRequest.queues", "maxItems") == .int(100))
        #expect(value("WorkerClaimRequest.lease_s", "maximum") == .int(86_400) && value("WorkerClaimRequest.wait_s", "maximum") == .int(60))
        #expect(value("WorkerHeartbeatRequest.ids", "maxItems") == .int(1000))
        #expect(value("WorkerResult.retry_in_s", "maximum") == .int(31_622_400))
        #expect(value("BatchRequest.jobs", "maxItems") == .int(1000) && value("BatchRequest.jobs", "minItems") == .int(1))
        #expect(value("QueueLimits.max_running", "type") == .array([.string("integer"), .string("null")]))
        #expect(value("QueueLimits.max_running", "maximum") == .int(QueueLimits.maximum))
        #expect(value("QueueLimits.rate", "pattern")?.stringValue == FieldReader.ratePattern)
        // Every request object refuses unknown members, as the server does.
        for name in [
            "EnqueueRequest", "BatchRequest", "QueueLimits", "WorkerClaimRequest", "WorkerHeartbeatRequest", "WorkerResult",
            "WorkerFinishRequest",
        ] {
            #expect(Self.schema(doc, name)?["additionalProperties"] == .bool(false), "\(name)")
        }
        // Nothing that refuses null is typed to allow it.
        for name in ["EnqueueRequest.timeout_s", "EnqueueRequest.priority", "WorkerClaimRequest.wait_s", "WorkerClaimRequest.lease_s"] {
            #expect(value(name, "type")?.stringValue != nil, "\(name) is one type, not nullable")
        }
    }

    @Test func everyParameterLimitAndStatusIsStated() async throws {
        let doc = try await Self.document()
        let list = try #require(doc.document["paths"]?["/v1/jobs"]?["get"]?["parameters"]?.arrayValue)
        func parameter(_ name: String) -> JSONValue? { list.first { $0["name"]?.stringValue == name }?["schema"] }
        #expect(parameter("cursor")?["pattern"]?.stringValue == "^$|" + OpenAPIDocument.idPattern)
        #expect(parameter("state")?["pattern"]?.stringValue == OpenAPIDocument.statesPattern)
        #expect(parameter("limit")?["maximum"] == .int(500))
        for action in ["pause", "resume"] {
            #expect(
                doc.document["paths"]?["/v1/queues/{name}/\(action)"]?["post"]?["responses"]?["400"] != nil, "\(action) documents its 400")
        }
        let queueName = doc.resolve(try #require(doc.document["components"]?["parameters"]?["QueueName"]?["schema"]))
        #expect(queueName?["maxLength"] == .int(JobInput.maximumNameLength))
    }

    /// Names: the pattern and lengths accept exactly the names the server accepts.
    @Test func theNamePatternAgreesWithTheServer() async throws {
        let doc = try await Self.document()
        let name = Self.schema(doc, "Name")
        let regex = try Self.regex(name)
        var random = SplitMix64(seed: 18)
        let alphabet: [Unicode.Scalar] = [
            "a", "Z", "0", " ", "/", "é", "\u{301}", "\u{0}", "\u{1F}", "\u{7F}", "\u{85}", "\u{9F}", "\u{A0}", "\u{2028}", "😀", "\t",
        ]
        for round in 0..<2_000 {
            let length = round < 20 ? 250 + round % 10 : Int.random(in: 0...8, using: &random)
            var scalars = String.UnicodeScalarView()
            for _ in 0..<length { scalars.append(alphabet.randomElement(using: &random)!) }
            let text = String(scalars)
            let documented = Self.matches(regex, text) && (1...JobInput.maximumNameLength).contains(text.unicodeScalars.count)
            let accepted = (try? FieldReader.name(.string(text), field: "kind")) != nil
            #expect(documented == accepted, "\(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    /// Ids and cursors: the pattern accepts exactly what `JobID` reads.
    @Test func theIDPatternAgreesWithTheServer() throws {
        let regex = try NSRegularExpression(pattern: OpenAPIDocument.idPattern)
        var random = SplitMix64(seed: 26)
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_ ")
        for round in 0..<3_000 {
            let length = round % 10 == 0 ? Int.random(in: 24...28, using: &random) : 26
            let text = String((0..<length).map { _ in alphabet.randomElement(using: &random)! })
            #expect(Self.matches(regex, text) == (JobID(text) != nil), "\(text)")
        }
        #expect(Self.matches(regex, JobID().description))
    }

    /// Rates: the pattern accepts exactly what `setLimits` takes.
    @Test func theRatePatternAgreesWithTheServer() throws {
        let regex = try NSRegularExpression(pattern: FieldReader.ratePattern)
        var random = SplitMix64(seed: 7)
        let pieces = ["", "0", "1", "9", "10", "99999", "100000", "999999999", "1000000000", "+1", " 1", "01"]
        let units = ["", "ms", "s", "m", "h", "d", "M", "sec", " s"]
        for _ in 0..<2_000 {
            let count = pieces.randomElement(using: &random)!, amount = pieces.randomElement(using: &random)!
            let slash = Int.random(in: 0..<10, using: &random) == 0 ? "//" : "/"
            let text = count + slash + amount + units.randomElement(using: &random)!
            #expect(Self.matches(regex, text) == FieldReader.isRate(text), "\(text)")
            if FieldReader.isRate(text) {
                #expect((try? QueueLimits.Rate(parsing: text)) != nil, "the core takes every rate the pattern allows: \(text)")
            }
        }
    }

    /// Run-at times: the pattern together with `format: date-time` (a real calendar date)
    /// accepts exactly the times the server accepts.
    @Test func theRunAtPatternAgreesWithTheServer() async throws {
        let doc = try await Self.document()
        let regex = try Self.regex(Self.schema(doc, "RunAt"))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var random = SplitMix64(seed: 3339)
        func pick(_ options: [String]) -> String { options.randomElement(using: &random)! }
        for _ in 0..<4_000 {
            let year = pick(["0001", "1969", "1970", "1970", "1971", "2026", "2028", "2100", "9998", "9999", "9999", "999"])
            let month = pick(["00", "01", "02", "04", "12", "12", "13", "1"])
            let day = pick(["00", "01", "01", "28", "29", "30", "31", "31", "32"])
            let time = pick(["00:00:00", "23:59:59", "12:30:15", "24:00:00", "12:60:00", "23:59:60", "7:00:00"])
            let fraction = pick(["", "", ".5", ".999", ".9999999", "."])
            let separator = pick(["T", "T", "t", " "])
            let offset = pick(["Z", "z", "+00:00", "-00:00", "+01:00", "-01:00", "+23:59", "-23:59", "+24:00", "", "+0100"])
            let text = "\(year)-\(month)-\(day)\(separator)\(time)\(fraction)\(offset)"
            let parts = [year, month, day].compactMap { Int($0) }
            let realDay = DateComponents(calendar: calendar, year: parts[0], month: parts[1], day: parts[2]).isValidDate(in: calendar)
            let documented = Self.matches(regex, text) && realDay
            let accepted = (try? EnqueueRequest.runAt(text, field: "run_at")) != nil
            #expect(documented == accepted, "\(text): the document says \(documented), the server \(accepted)")
        }
    }
}
