import Foundation
import Spool
import SpoolTesting
import Testing

@testable import SpoolRedis

/// Seeded property tests of the Redis driver's decoding of stored jobs (hashes and claim
/// replies) against corrupt and hostile values: every call returns a job whose fields are in
/// their documented ranges, or throws a `SpoolError` naming what was wrong (a trap would end the
/// test process).
@Suite("Redis row decoding, property tests")
struct RedisCodingPropertyTests {
    static let id = JobID(date: Date(timeIntervalSince1970: 1_893_456_000))

    /// Values a corrupt or hostile store might hold in any field.
    static let hostile: [[UInt8]] =
        [
            "", "0", "-1", "-5", "1", "32768", "-32769", "65536", "9223372036854775807", "-9223372036854775808",
            "9223372036854775808", "-9223372036854775809", "99999999999999999999999999", "1e30", "-1e30", "1e+15", "2.5",
            "-0", "nan", "inf", "-inf", "1e999", "0x10", " 1", "1 ", "+7", "--1", "-", "abc", "{{{", "[", "{}", "[]", "null",
            "[{\"attempt\":1,\"at\":1e30,\"message\":\"m\",\"reason\":\"error\"}]",
            "[{\"attempt\":-5,\"at\":-1e30,\"message\":\"m\",\"reason\":\"error\"}]",
            "[{\"attempt\":99999999999999999999,\"at\":1,\"message\":\"m\",\"reason\":\"error\"}]",
            "[{\"attempt\":1,\"at\":1,\"message\":\"m\"}]", "{\"fraction\":1e300}", "{\"fraction\":-1e300,\"message\":7}",
            "{\"fraction\":0.5,\"message\":\"half\"}", "{\"a\":1}", "{\"a\":\"b\"}", "scheduled", "available", "running", "bogus",
            "01JZZZZZZZZZZZZZZZZZZZZZZZ", "ZZZZZZZZZZZZZZZZZZZZZZZZZZ",
        ].map { Array($0.utf8) } + [[0xFF, 0xFE, 0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0], Array(repeating: 0x39, count: 100)]

    static let fields = [
        "id", "state", "queue", "kind", "payload", "prio", "attempt", "max", "runat", "created", "attempted", "finished",
        "owner", "lease", "errors", "ukey", "timeout", "result", "progress", "expired", "meta",
    ]

    /// The hash of a job as the scripts write it.
    static func validHash() -> [String: [UInt8]] {
        [
            "id": Array(id.description.utf8), "state": Array("running".utf8), "queue": Array("q".utf8), "kind": Array("k".utf8),
            "payload": Array("{}".utf8), "prio": Array("3".utf8), "attempt": Array("1".utf8), "max": Array("5".utf8),
            "runat": Array("1893456000000".utf8), "created": Array("1893456000000".utf8), "attempted": Array("1893456000000".utf8),
            "owner": Array("w1".utf8), "lease": Array("1893456030000".utf8), "errors": Array("[]".utf8),
            "timeout": Array("1000000000".utf8),
            "expired": Array("0".utf8), "meta": Array("{\"a\":\"b\"}".utf8),
        ]
    }

    static func random(_ random: inout SplitMix64) -> [UInt8] {
        switch random.next() % 4 {
        case 0:
            return (0..<Int(random.next() % 24)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        case 1:
            return Array(String(Int64(bitPattern: random.next()) >> (random.next() % 64)).utf8)
        case 2:
            return Array(String(Double(bitPattern: random.next())).utf8)
        default:
            return hostile[Int(random.next() % UInt64(hostile.count))]
        }
    }

    /// The ranges every decoded job must be in.
    static func checkRanges(priority: Int, attempt: Int, maxAttempts: Int, dates: [Date?], timeout: Duration?) -> Bool {
        JobInput.priorityRange.contains(priority) && (0...Int(Int32.max)).contains(attempt)
            && (1...JobInput.maximumAttempts).contains(maxAttempts)
            && dates.allSatisfy { $0.map { $0 >= JobInput.earliestRunAt && $0 <= JobInput.latestRunAt } ?? true }
            && timeout.map { $0 > .zero && $0 <= JobInput.maximumDuration } ?? true
    }

    static func check(_ record: JobRecord) -> Bool {
        checkRanges(
            priority: record.priority, attempt: record.attempt, maxAttempts: record.maxAttempts,
            dates: [record.runAt, record.createdAt, record.attemptedAt, record.finishedAt, record.leaseExpiresAt] + record.errors.map(\.at),
            timeout: record.timeout
        ) && record.errors.allSatisfy { $0.attempt >= 0 } && record.progress.map { (0...1).contains($0.fraction) } ?? true
            && record.expiredLeases >= 0
    }

    @Test("a stored number reads exactly when it fits, saturates when it does not, and is nil when it is no number")
    func numbers() {
        var random = SplitMix64(seed: 0x5EED_C0D1)
        for _ in 0..<20_000 {
            let value = Int64(bitPattern: random.next()) >> (random.next() % 64)
            #expect(RedisCoding.number(Array(String(value).utf8)) == value)
            let double = Double(bitPattern: random.next())
            let expected: Int64? = double.isNaN ? nil : Int64(saturating: double.rounded())
            #expect(RedisCoding.number(Array(String(double).utf8)) == expected, "\(double)")
            _ = RedisCoding.number(Self.random(&random))
        }
        #expect(RedisCoding.number(Array("99999999999999999999".utf8)) == .max)
        #expect(RedisCoding.number(Array("-99999999999999999999".utf8)) == .min)
        #expect(RedisCoding.number(Array("1e+15".utf8)) == 1_000_000_000_000_000)
        for text in ["", "-", "--1", "abc", "1 ", " 1", "nan", "1-"] { #expect(RedisCoding.number(Array(text.utf8)) == nil, "\(text)") }
    }

    @Test("a job hash with corrupt fields reads in range or throws naming the field and job (30,000 hashes)")
    func corruptHashes() {
        var random = SplitMix64(seed: 0x5EED_C0D2)
        var read = 0
        var refused = 0
        for _ in 0..<30_000 {
            var hash = Self.validHash()
            for _ in 0..<Int(random.next() % 4) + 1 {
                let field = Self.fields[Int(random.next() % UInt64(Self.fields.count))]
                if random.next() % 8 == 0 { hash[field] = nil } else { hash[field] = Self.random(&random) }
            }
            do {
                let record = try RedisCoding.record(hash)
                #expect(Self.check(record), "\(hash.mapValues { String(decoding: $0, as: UTF8.self) })")
                read += 1
            } catch let error as SpoolError {
                #expect(error.code == .storageUnavailable)
                // Once the id is read, the error names the job.
                let id = hash["id"].flatMap { JobID(String(decoding: $0, as: UTF8.self)) }
                #expect(error.job == id, "\(error)")
                #expect(error.message.contains("field '") || error.message.contains("id"), "\(error)")
                refused += 1
            } catch {
                Issue.record("not a SpoolError: \(error)")
            }
        }
        #expect(read > 5_000 && refused > 5_000, "\(read) read, \(refused) refused")
    }

    @Test(
        "the fields that matter most saturate rather than trap",
        arguments: [
            ("prio", "9223372036854775807"), ("prio", "-1e30"), ("attempt", "-5"), ("attempt", "1e30"), ("max", "0"), ("max", "4294967296"),
            ("runat", "9223372036854775807"), ("created", "-9223372036854775808"), ("lease", "1e300"), ("timeout", "-1"),
            ("timeout", "9223372036854775807"), ("expired", "9223372036854775807"),
            ("errors", "[{\"attempt\":1,\"at\":1e30,\"message\":\"m\",\"reason\":\"error\"}]"), ("errors", "{{{"),
            ("progress", "{\"fraction\":1e300}"),
            ("progress", "[1,2]"), ("meta", "{{{"), ("meta", "[\"a\"]"),
        ])
    func saturates(_ field: String, _ value: String) throws {
        var hash = Self.validHash()
        hash[field] = Array(value.utf8)
        let record = try RedisCoding.record(hash)
        #expect(Self.check(record))
        if field == "errors", value == "{{{" {
            #expect(record.errors.count == 1 && record.errors[0].reason == "unreadable" && record.errors[0].message.contains("{{{"))
        }
    }

    @Test("a claim reply with corrupt cells reads in range, or throws for its shape or an id (30,000 replies)")
    func corruptClaims() {
        var random = SplitMix64(seed: 0x5EED_C0D3)
        let valid: [RESPValue] = [
            .bulkString(Array(Self.id.description.utf8)), .bulkString(Array("q".utf8)), .bulkString(Array("k".utf8)),
            .bulkString(Array("{}".utf8)), .bulkString(Array("0".utf8)), .integer(1), .bulkString(Array("5".utf8)),
            .bulkString(Array("1893456000000".utf8)), .bulkString(Array("1893456000000".utf8)), .bulkString([]), .bulkString([]),
            .bulkString([]),
        ]
        var read = 0
        var refused = 0
        for round in 0..<30_000 {
            var cells: [RESPValue] = []
            for _ in 0..<Int(random.next() % 4) { cells += valid }
            // The trailer: exhaustive or not, and the next scheduled run-at or none.
            cells += [
                .integer(Int64(random.next() % 2)), random.next() % 2 == 0 ? .bulkString([]) : .bulkString(Array("1700000000000".utf8)),
            ]
            for _ in 0..<Int(random.next() % 4) where !cells.isEmpty {
                let index = Int(random.next() % UInt64(cells.count))
                switch random.next() % 3 {
                case 0: cells[index] = .bulkString(Self.random(&random))
                case 1: cells[index] = RESPDecoderPropertyTests.value(&random, depth: 1)
                default: cells[index] = .integer(Int64(bitPattern: random.next()))
                }
            }
            if round % 50 == 0, !cells.isEmpty { cells.removeLast() }
            let reply: RESPValue =
                round % 97 == 0 ? RESPDecoderPropertyTests.value(&random) : (round % 2 == 0 ? .array(cells) : .set(cells))
            do {
                for job in try RedisCoding.claimed(reply).jobs {
                    #expect(
                        Self.checkRanges(
                            priority: job.priority, attempt: job.attempt, maxAttempts: job.maxAttempts, dates: [job.createdAt, job.runAt],
                            timeout: job.timeout
                        ))
                }
                read += 1
            } catch let error as SpoolError {
                #expect(error.code == .storageUnavailable)
                refused += 1
            } catch {
                Issue.record("not a SpoolError: \(error)")
            }
        }
        #expect(read > 5_000 && refused > 1_000, "\(read) read, \(refused) refused")
    }

    @Test("any reply as a hash reads or is refused (20,000 replies)")
    func hashes() throws {
        var random = SplitMix64(seed: 0x5EED_C0D4)
        for _ in 0..<20_000 {
            let reply = RESPDecoderPropertyTests.value(&random)
            do {
                if let fields = try RedisCoding.hash(reply) { _ = try? RedisCoding.record(fields) }
            } catch {
                #expect(error is SpoolError)
            }
        }
    }
}
