import Foundation
import Synchronization

/// A job's identity: 128 bits, ordered by creation time, printable as 26 Crockford base-32
/// characters (the ULID alphabet).
///
/// The high 48 bits hold the creation time in milliseconds since the Unix epoch, so ids sort
/// by creation time across processes; the rest is a per-process random prefix and counter, so
/// ids made in one process are strictly increasing even within one millisecond.
///
/// Cost: making an id reads the clock (vDSO, no system call) and bumps one atomic counter; it
/// never asks the kernel for randomness (the process seeds its counter once).
public struct JobID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The high 64 bits: milliseconds (48 bits) and a 16-bit process tag.
    public let high: UInt64
    /// The low 64 bits: a per-process counter that starts at a random value.
    public let low: UInt64

    /// An id from its two halves, as stored by a driver.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// A new id for a job created now.
    public init() {
        self = JobIDGenerator.shared.next(millis: JobIDGenerator.currentMillis())
    }

    /// A new id whose time part is `date` (used for ids made on a manual clock in tests).
    public init(date: Date) {
        self = JobIDGenerator.shared.next(millis: UInt64(max(0, Int64(saturating: date.timeIntervalSince1970 * 1000))), monotonic: false)
    }

    /// The creation time carried in the id, to the millisecond.
    public var date: Date {
        Date(timeIntervalSince1970: Double(high >> 16) / 1000)
    }

    /// Hashes one word: the low half is already unique within a process, the high half adds the
    /// time and process tag.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(low ^ (high &* 0x9E37_79B9_7F4A_7C15))
    }

    public static func < (lhs: JobID, rhs: JobID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    private static let alphabet: [UInt8] = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// The 26-character Crockford base-32 form, which sorts like the id itself.
    public var description: String {
        // 128 bits in 26 groups of 5 (the first group holds only 3 bits).
        String(unsafeUninitializedCapacity: 26) { buffer in
            var hi = high
            var lo = low
            for index in stride(from: 25, through: 0, by: -1) {
                buffer[index] = Self.alphabet[Int(lo & 0x1F)]
                lo = (lo >> 5) | ((hi & 0x1F) << 59)
                hi >>= 5
            }
            return 26
        }
    }

    /// Parses the 26-character form (case-insensitive; `I`/`L` read as 1 and `O` as 0).
    /// Returns nil for any other text.
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        guard utf8.count == 26 else { return nil }
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for (index, byte) in utf8.enumerated() {
            guard let value = Self.decodeDigit(byte) else { return nil }
            if index == 0 && value > 7 { return nil }
            hi = (hi << 5) | (lo >> 59)
            lo = (lo << 5) | UInt64(value)
        }
        self.init(high: hi, low: lo)
    }

    private static func decodeDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0"), UInt8(ascii: "o"), UInt8(ascii: "O"): return 0
        case UInt8(ascii: "1"), UInt8(ascii: "i"), UInt8(ascii: "I"), UInt8(ascii: "l"), UInt8(ascii: "L"): return 1
        case UInt8(ascii: "2")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        default:
            let upper = byte >= UInt8(ascii: "a") ? byte - 32 : byte
            guard let index = alphabet.firstIndex(of: upper), index >= 10 else { return nil }
            return UInt8(index)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = JobID(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not a job id (26 base-32 characters)")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Makes ids: a process-wide tag and counter seeded once, and the last millisecond seen so the
/// time part never goes backwards within a process.
final class JobIDGenerator: Sendable {
    static let shared = JobIDGenerator()

    private let tag: UInt64
    private let counter: Atomic<UInt64>
    private let lastMillis = Atomic<UInt64>(0)

    private init() {
        var generator = SystemRandomNumberGenerator()
        tag = UInt64.random(in: 0...0xFFFF, using: &generator)
        // Leave headroom so the counter never wraps in a process's life.
        counter = Atomic(UInt64.random(in: 0...(UInt64.max >> 2), using: &generator))
    }

    static func currentMillis() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(spec.tv_sec) &* 1000 &+ UInt64(spec.tv_nsec / 1_000_000)
    }

    func next(millis: UInt64, monotonic: Bool = true) -> JobID {
        guard monotonic else {
            return JobID(high: ((millis & 0xFFFF_FFFF_FFFF) << 16) | tag, low: counter.wrappingAdd(1, ordering: .relaxed).newValue)
        }
        // The time part is monotonic: max(now, last seen).
        var last = lastMillis.load(ordering: .relaxed)
        while millis > last {
            let (exchanged, original) = lastMillis.compareExchange(expected: last, desired: millis, ordering: .relaxed)
            if exchanged { last = millis; break }
            last = original
        }
        let time = max(millis, last) & 0xFFFF_FFFF_FFFF
        let low = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return JobID(high: (time << 16) | tag, low: low)
    }
}
