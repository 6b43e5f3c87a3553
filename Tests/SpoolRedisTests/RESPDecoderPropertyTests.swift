import NIOCore
import SpoolTesting
import Testing

@testable import SpoolRedis

/// Seeded property tests of the RESP decoder against hostile input: whatever the bytes, a call
/// returns a reply, says it needs more bytes, or throws ``RESPDecodingError`` (a trap would end
/// the test process), and a valid reply cut anywhere decodes once the rest arrives.
@Suite("Redis RESP decoder, property tests")
struct RESPDecoderPropertyTests {
    /// What feeding some bytes to a fresh decoder came to.
    enum Outcome: Equatable {
        case values([RESPValue])
        /// No error, and part of a reply held (`values` came before it).
        case needsMore([RESPValue])
        case refused
    }

    /// Feeds `bytes` in chunks of `chunk` bytes (all at once when nil), taking out every reply.
    static func decode(_ bytes: [UInt8], limits: RESPLimits = RESPLimits(), chunk: Int? = nil) -> Outcome {
        var decoder = RESPDecoder(limits: limits)
        var values: [RESPValue] = []
        let step = chunk ?? max(1, bytes.count)
        var offset = 0
        repeat {
            let end = min(bytes.count, offset + step)
            decoder.feed(bytes[offset..<end])
            offset = end
            do {
                while let value = try decoder.next() { values.append(value) }
            } catch {
                #expect(error is RESPDecodingError)
                return .refused
            }
        } while offset < bytes.count
        return decoder.isIdle ? .values(values) : .needsMore(values)
    }

    /// A random valid reply: every type, nested at most `depth` levels, small enough that cutting
    /// it at every byte stays cheap. No NaN (it is not equal to itself) and no attributes (they
    /// decode to the value they annotate).
    static func value(_ random: inout SplitMix64, depth: Int = 3) -> RESPValue {
        func bytes(_ random: inout SplitMix64, plain: Bool) -> [UInt8] {
            let count = Int(random.next() % 13)
            return (0..<count).map { _ in
                let byte = UInt8(truncatingIfNeeded: random.next())
                return plain ? UInt8(ascii: "a") + byte % 26 : byte
            }
        }
        let kinds = depth > 0 ? 15 : 11
        switch random.next() % UInt64(kinds) {
        case 0: return .simpleString(bytes(&random, plain: true))
        case 1: return .error(String(decoding: bytes(&random, plain: true), as: UTF8.self))
        case 2: return .integer(Int64(bitPattern: random.next()) >> (random.next() % 64))
        case 3: return .bulkString(bytes(&random, plain: false))
        case 4: return .null
        case 5:
            let double = Double(bitPattern: random.next())
            return .double(double.isNaN ? -.infinity : double)
        case 6: return .boolean(random.next() % 2 == 0)
        case 7:
            let digits = String(random.next()) + String(random.next() % 1000)
            return .bigNumber(random.next() % 2 == 0 ? "-" + digits : digits)
        case 8: return .verbatim(format: "txt", text: bytes(&random, plain: false))
        case 9: return .bulkString(Array("a\r\nb".utf8))
        case 10: return .integer(random.next() % 2 == 0 ? .min : .max)
        default:
            let count = Int(random.next() % 5)
            let values = (0..<count).map { _ in value(&random, depth: depth - 1) }
            switch random.next() % 4 {
            case 0: return .array(values)
            case 1: return .set(values)
            case 2: return .push(values)
            default: return .map(values.map { RESPPair(key: $0, value: value(&random, depth: depth - 1)) })
            }
        }
    }

    static func wire(_ value: RESPValue) -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        RESPEncoder.write(value, into: &buffer)
        return Array(buffer.readableBytesView)
    }

    @Test("a valid reply decodes whole, byte by byte and in random chunks (5,000 replies)")
    func validReplies() {
        var random = SplitMix64(seed: 0x5E5D_0001)
        var mismatches = 0
        for _ in 0..<5_000 {
            let value = Self.value(&random)
            let bytes = Self.wire(value)
            for chunk in [nil, 1, Int(random.next() % 7) + 1] {
                if Self.decode(bytes, chunk: chunk) != .values([value]) { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
    }

    @Test("several replies back to back, dripped byte by byte, come out in order (1,000 streams)")
    func streams() {
        var random = SplitMix64(seed: 0x5E5D_0002)
        var mismatches = 0
        for _ in 0..<1_000 {
            let values = (0..<Int(random.next() % 6) + 1).map { _ in Self.value(&random) }
            let bytes = values.flatMap(Self.wire)
            if Self.decode(bytes, chunk: 1) != .values(values) { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test("a valid reply cut at every byte needs more, then decodes once the rest arrives")
    func truncatedEverywhere() {
        var random = SplitMix64(seed: 0x5E5D_0003)
        var cases = 0
        var failures = 0
        for _ in 0..<2_000 {
            let value = Self.value(&random)
            let bytes = Self.wire(value)
            for cut in 1..<bytes.count {
                cases += 1
                var decoder = RESPDecoder()
                decoder.feed(bytes[..<cut])
                do {
                    guard try decoder.next() == nil, decoder.bufferedBytes <= cut else {
                        failures += 1
                        continue
                    }
                    decoder.feed(bytes[cut...])
                    if try decoder.next() != value || decoder.bufferedBytes != 0 { failures += 1 }
                } catch {
                    failures += 1
                }
            }
        }
        #expect(cases > 50_000)
        #expect(failures == 0, "\(failures) of \(cases) cuts")
    }

    @Test("a valid reply with one byte changed decodes, waits or is refused (30,000 mutations)")
    func mutated() {
        var random = SplitMix64(seed: 0x5E5D_0004)
        let limits = RESPLimits(maxBulkLength: 1 << 12, maxDepth: 8, maxElements: 1 << 12, maxLineLength: 1 << 10)
        var refused = 0
        var decoded = 0
        for _ in 0..<30_000 {
            var bytes = Self.wire(Self.value(&random))
            let position = Int(random.next() % UInt64(bytes.count))
            let pick = random.next()
            // Half the time a byte that matters to the grammar.
            let grammar = Array("\r\n-+?0123456789*$%|_~>".utf8)
            bytes[position] = pick % 2 == 0 ? grammar[Int((pick >> 8) % UInt64(grammar.count))] : UInt8(truncatingIfNeeded: pick >> 8)
            switch Self.decode(bytes, limits: limits, chunk: Int(pick >> 40) % 5 + 1) {
            case .refused: refused += 1
            case .values, .needsMore: decoded += 1
            }
        }
        #expect(refused > 1_000 && decoded > 1_000, "\(refused) refused, \(decoded) decoded or waiting")
    }

    @Test("random bytes decode, wait or are refused, and the buffer never outgrows them (20,000 inputs)")
    func randomBytes() {
        var random = SplitMix64(seed: 0x5E5D_0005)
        let alphabet = Array("+-:$*_,#(!=%~>|\r\n0123456789?.e".utf8)
        // Pieces of the grammar, so that random sequences of them often decode.
        let fragments = [
            "+", "-", ":", "$", "*", "%", "~", ">", "|", "_", "#t", ",", "(", "!", "=", "0", "1", "2", "-1", "12", "abc", "txt:", "\r\n",
            "\r\n", "\r\n",
        ]
        .map { Array($0.utf8) }
        var outcomes = [0, 0, 0]
        for round in 0..<20_000 {
            let count = Int(random.next() % 64) + 1
            var bytes: [UInt8] = []
            while bytes.count < count {
                let pick = random.next()
                switch round % 3 {
                case 0: bytes.append(UInt8(truncatingIfNeeded: pick))
                case 1: bytes.append(alphabet[Int(pick % UInt64(alphabet.count))])
                default: bytes += fragments[Int(pick % UInt64(fragments.count))]
                }
            }
            var decoder = RESPDecoder()
            var outcome = 1
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + Int(random.next() % 9) + 1)
                decoder.feed(bytes[offset..<end])
                offset = end
                do {
                    while try decoder.next() != nil { outcome = 0 }
                } catch {
                    outcome = 2
                    break
                }
                #expect(decoder.bufferedBytes <= offset)
            }
            outcomes[outcome] += 1
        }
        #expect(outcomes.allSatisfy { $0 > 100 }, "decoded, waiting, refused: \(outcomes)")
    }

    @Test(
        "hostile headers and numbers are refused at once",
        arguments: [
            "$-2\r\n", "$-9223372036854775808\r\n", "$9223372036854775807\r\n", "$99999999999999999999\r\n",
            "*99999999999999999999\r\n", "*9223372036854775807\r\n", "*-2\r\n", "%4611686018427387904\r\n",
            "|9223372036854775807\r\n", "~-1\r\n", ">-1\r\n", "=-1\r\n", ":9223372036854775808\r\n",
            ":-9223372036854775809\r\n", ":999999999999999999999\r\n", ":+\r\n", ":-\r\n", ":--1\r\n", ": 1\r\n", ":1 \r\n",
            "$\r\n", "*\r\n", "$+\r\n", "$0x10\r\n", ",1e\u{0}\r\n", ",\r\n", "(\r\n", "(-\r\n", "=2\r\nab\r\n", "\r\n", "\n",
        ])
    func hostileHeaders(_ wire: String) {
        #expect(Self.decode(Array(wire.utf8)) == .refused)
    }

    @Test("an announced length or count with the limits at their largest reserves nothing and waits")
    func hugeAnnouncements() {
        let limits = RESPLimits(maxBulkLength: .max, maxDepth: .max, maxElements: .max, maxLineLength: .max)
        for header in ["*1099511627776\r\n", "%549755813888\r\n", "~1099511627776\r\n", "$1099511627776\r\n", "|549755813888\r\n"] {
            // 2^40 elements of 32 bytes reserved up front would fail to allocate; this waits.
            let bytes = Array(header.utf8) + Array(String(repeating: ":1\r\n", count: 1000).utf8)
            #expect(Self.decode(bytes, limits: limits) == .needsMore([]), "\(header.debugDescription)")
        }
        // Past the largest bound the decoder accepts (2^40), a header is refused.
        #expect(Self.decode(Array("$1099511627777\r\n".utf8), limits: limits) == .refused)
        #expect(Self.decode(Array("*9223372036854775807\r\n".utf8), limits: limits) == .refused)
    }

    @Test("deep nesting of every aggregate is refused without recursion", arguments: ["*1\r\n", "%1\r\n", "|1\r\n", "~1\r\n", ">1\r\n"])
    func deepNesting(_ level: String) {
        let bytes = Array(String(repeating: level, count: 50_000).utf8)
        #expect(Self.decode(bytes) == .refused)
        #expect(Self.decode(bytes, limits: RESPLimits(maxDepth: .max)) == .needsMore([]))
    }

    @Test("a line as long as the limit, dripped byte by byte, is scanned once (linear, not quadratic)")
    func longLineDripped() {
        let text = Array(String(repeating: "x", count: 60_000).utf8)
        let bytes = Array("+".utf8) + text + Array("\r\n".utf8)
        let started = ContinuousClock.now
        #expect(Self.decode(bytes, chunk: 1) == .values([.simpleString(text)]))
        // Rescanning the line from its start on each of 60,000 reads is ~1.8e9 byte reads: minutes
        // in a debug build.
        #expect(ContinuousClock.now - started < .seconds(30))
        // Bytes past the limit without a CRLF are refused, dripped or not.
        let long = Array("+".utf8) + Array(repeating: UInt8(ascii: "y"), count: (64 << 10) + 3)
        #expect(Self.decode(long, chunk: 1) == .refused)
    }
}
