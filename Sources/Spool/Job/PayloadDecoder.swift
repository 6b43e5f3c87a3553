// PayloadDecoder: its entry points, and the parsed JSON value the parser builds and the decoding reads.
import Foundation

/// Decodes job parameters from JSON with far less work than Foundation's `JSONDecoder` (which
/// costs two microseconds even for `{"index":1}`: a worker draining a durable queue of small
/// jobs spent a fifth of its time there).
///
/// A value comes back only when ``JSONDecoder/spool`` would decode the very same value from the
/// same bytes; for everything else ``decode(_:from:)`` returns nil, and the caller uses
/// `JSONDecoder`, which either decodes it or says precisely why not (so no error ever comes from
/// here). It handles the shapes parameters have: structs, enums (with raw values or with
/// associated values), arrays, dictionaries with `String` keys, optionals, `Bool`, every
/// fixed-width integer, `Float`, `Double` and `String`, parsed from strict JSON (RFC 8259) in
/// UTF-8. It leaves to `JSONDecoder`: `Date`, `Data`, `URL`, `Decimal`, `Int128`,
/// `superDecoder`; a number that does not fit the asked type exactly, or an integer written
/// with a fraction or an exponent; null, a missing key or a mismatched type where a value is
/// required; duplicate keys; JSON that is malformed, lenient (trailing commas, a byte-order
/// mark) or nested deeper than 512; `allKeys` of more than one key, whose order `JSONDecoder`
/// does not promise, unless the reader is a `[String: Value]` (so an `[Int: Value]` of more
/// than one entry, or an `init(from:)` that lists keys); a coding path asked for.
///
/// Cost: one pass over the bytes that builds a small tree (one array per object or array, a
/// `String` per string value, short ones without allocating; plain ASCII keys stay bytes),
/// then an allocation per keyed container and per value decoded through its own `init(from:)`.
/// About 0.4 µs for `{"index":1}` and 1.6 µs for a struct of six mixed fields, against 2.2 µs
/// and 6.5 µs with `JSONDecoder`; a payload left to `JSONDecoder` pays for both (0.7 µs more
/// for an `Int` beside a `Date`).
enum PayloadDecoder {
    /// The value `JSONDecoder.spool` would decode from `bytes`, or nil when that is left to it
    /// (see the type's summary).
    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) -> T? {
        guard
            let root = bytes.withUnsafeBufferPointer({ buffer in
                var parser = Parser(bytes: buffer)
                return try? parser.document()
            })
        else { return nil }
        let run = DecodingRun(bytes: bytes)
        do {
            let value = try run.decode(T.self, from: root)
            // A hand-written `init(from:)` may have caught what was thrown here and carried on.
            return run.unsupported ? nil : value
        } catch {
            return nil
        }
    }

    /// The value in `bytes`: this decoder's when it answers, else `fallback`'s, which throws
    /// its own error. `fallback` must decode as `JSONDecoder.spool` does wherever this decoder
    /// answers (a plain `JSONDecoder` does, dates aside, which are left to it anyway).
    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], orWith fallback: JSONDecoder) throws -> T {
        if let value = decode(T.self, from: bytes) { return value }
        return try fallback.decode(T.self, from: Data(bytes))
    }
}

/// Something the payload codec leaves to Foundation: for `PayloadDecoder`, malformed or unusual
/// JSON, or a value `JSONDecoder` may decode differently or not at all; for `PayloadEncoder`,
/// a value `JSONEncoder` encodes in its own way (a `Decimal`, a date outside 1...9999).
struct Unsupported: Error {}

/// A parsed JSON value. Numbers stay as their place in the bytes until a type is asked for;
/// strings are decoded (escapes resolved, UTF-8 validated) while parsing.
enum PayloadValue {
    case null
    case bool(Bool)
    case number(start: Int, end: Int)
    case string(String)
    case array([PayloadValue])
    /// `asciiKeys`: every key is a `MemberKey.ascii`, so that an ASCII name is found by
    /// comparing bytes.
    case object([Member], asciiKeys: Bool)
}

struct Member {
    let key: MemberKey
    let value: PayloadValue
}

/// An object's key: where it is in the bytes when it is plain ASCII (no escapes), which is
/// almost always, else its text.
enum MemberKey {
    case ascii(start: Int, end: Int)
    case text(String)
}
