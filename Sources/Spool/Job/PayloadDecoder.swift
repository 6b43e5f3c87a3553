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
        guard let root = bytes.withUnsafeBufferPointer({ buffer in
            var parser = Parser(bytes: buffer)
            return try? parser.document()
        }) else { return nil }
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

/// Something `PayloadDecoder` leaves to `JSONDecoder`: malformed or unusual JSON, or a value
/// `JSONDecoder` may decode differently or not at all.
private struct Unsupported: Error {}

// MARK: - Parsing

/// A parsed JSON value. Numbers stay as their place in the bytes until a type is asked for;
/// strings are decoded (escapes resolved, UTF-8 validated) while parsing.
private enum JSONValue {
    case null
    case bool(Bool)
    case number(start: Int, end: Int)
    case string(String)
    case array([JSONValue])
    /// `asciiKeys`: every key is a `MemberKey.ascii`, so that an ASCII name is found by
    /// comparing bytes.
    case object([Member], asciiKeys: Bool)
}

private struct Member {
    let key: MemberKey
    let value: JSONValue
}

/// An object's key: where it is in the bytes when it is plain ASCII (no escapes), which is
/// almost always, else its text.
private enum MemberKey {
    case ascii(start: Int, end: Int)
    case text(String)
}

private enum ASCII {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")
}

/// A strict RFC 8259 parser: anything else (trailing commas, comments, a byte-order mark,
/// control characters in strings, lone surrogates, invalid UTF-8, nesting deeper than
/// `JSONDecoder` allows) throws, and the payload goes to `JSONDecoder`.
private struct Parser {
    /// `JSONDecoder` refuses a 513th level of arrays and objects.
    static let maximumDepth = 512

    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// The one value the bytes hold, with nothing but whitespace around it.
    mutating func document() throws -> JSONValue {
        let value = try self.value()
        skipWhitespace()
        guard index == bytes.count else { throw Unsupported() }
        return value
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// The next byte after whitespace, not consumed.
    private mutating func peek() throws -> UInt8 {
        skipWhitespace()
        guard index < bytes.count else { throw Unsupported() }
        return bytes[index]
    }

    private mutating func value() throws -> JSONValue {
        switch try peek() {
        case ASCII.openBrace: return try object()
        case ASCII.openBracket: return try array()
        case ASCII.quote: return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case ASCII.minus, ASCII.zero...ASCII.nine: return try number()
        default: throw Unsupported()
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw Unsupported() }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw Unsupported()
        }
        index += count
    }

    private mutating func object() throws -> JSONValue {
        index += 1
        guard depth < Self.maximumDepth else { throw Unsupported() }
        depth += 1
        defer { depth -= 1 }
        if try peek() == ASCII.closeBrace {
            index += 1
            return .object([], asciiKeys: true)
        }
        var members: [Member] = []
        members.reserveCapacity(4)
        var asciiKeys = true
        while true {
            guard try peek() == ASCII.quote else { throw Unsupported() }
            let key = try self.key()
            if case .text = key { asciiKeys = false }
            guard try peek() == ASCII.colon else { throw Unsupported() }
            index += 1
            members.append(Member(key: key, value: try value()))
            switch try peek() {
            case ASCII.comma:
                index += 1
            case ASCII.closeBrace:
                index += 1
                return .object(members, asciiKeys: asciiKeys)
            default:
                throw Unsupported()
            }
        }
    }

    private mutating func array() throws -> JSONValue {
        index += 1
        guard depth < Self.maximumDepth else { throw Unsupported() }
        depth += 1
        defer { depth -= 1 }
        if try peek() == ASCII.closeBracket {
            index += 1
            return .array([])
        }
        var items: [JSONValue] = []
        while true {
            items.append(try value())
            switch try peek() {
            case ASCII.comma:
                index += 1
            case ASCII.closeBracket:
                index += 1
                return .array(items)
            default:
                throw Unsupported()
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, kept as its place in the bytes.
    private mutating func number() throws -> JSONValue {
        let start = index
        if bytes[index] == ASCII.minus { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw Unsupported() }
        if bytes[index] == ASCII.zero {
            index += 1
        } else {
            skipDigits()
        }
        if index < bytes.count, bytes[index] == ASCII.dot {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw Unsupported() }
            skipDigits()
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < bytes.count, bytes[index] == ASCII.plus || bytes[index] == ASCII.minus { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw Unsupported() }
            skipDigits()
        }
        return .number(start: start, end: index)
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte &- ASCII.zero < 10
    }

    private mutating func skipDigits() {
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }

    /// An object's key, from its opening quote to past its closing one: its place when it is
    /// plain ASCII, else its text.
    private mutating func key() throws -> MemberKey {
        var position = index + 1
        while position < bytes.count {
            let byte = bytes[position]
            if byte == ASCII.quote {
                defer { index = position + 1 }
                return .ascii(start: index + 1, end: position)
            }
            guard byte >= 0x20, byte < 0x80, byte != ASCII.backslash else { break }
            position += 1
        }
        return .text(try string())
    }

    /// A string's text, from its opening quote to past its closing one.
    private mutating func string() throws -> String {
        index += 1
        let start = index
        var ascii = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte == ASCII.quote {
                let text = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if ascii { return String(decoding: text, as: UTF8.self) }
                guard let string = String(validating: text, as: UTF8.self) else { throw Unsupported() }
                return string
            }
            if byte == ASCII.backslash { return try escapedString(from: start) }
            guard byte >= 0x20 else { throw Unsupported() }
            if byte >= 0x80 { ascii = false }
            index += 1
        }
        throw Unsupported()
    }

    /// The rest of a string that has escapes; `start` is just past its opening quote.
    private mutating func escapedString(from start: Int) throws -> String {
        var text: [UInt8] = []
        text.reserveCapacity(index - start + 16)
        text.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case ASCII.quote:
                guard let string = String(validating: text, as: UTF8.self) else { throw Unsupported() }
                return string
            case ASCII.backslash:
                guard index < bytes.count else { throw Unsupported() }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case ASCII.quote, ASCII.backslash, ASCII.slash: text.append(escaped)
                case UInt8(ascii: "b"): text.append(0x08)
                case UInt8(ascii: "f"): text.append(0x0C)
                case UInt8(ascii: "n"): text.append(0x0A)
                case UInt8(ascii: "r"): text.append(0x0D)
                case UInt8(ascii: "t"): text.append(0x09)
                case UInt8(ascii: "u"): Self.appendUTF8(of: try unicodeEscape(), to: &text)
                default: throw Unsupported()
                }
            case 0x00..<0x20:
                throw Unsupported()
            default:
                text.append(byte)
            }
        }
        throw Unsupported()
    }

    /// The scalar of a `\uXXXX` escape (its `\u` already read), joining a surrogate pair.
    private mutating func unicodeEscape() throws -> UInt32 {
        let unit = try hexQuad()
        switch unit {
        case 0xD800...0xDBFF:
            guard bytes.count - index >= 6, bytes[index] == ASCII.backslash, bytes[index + 1] == UInt8(ascii: "u") else {
                throw Unsupported()
            }
            index += 2
            let low = try hexQuad()
            guard (0xDC00...0xDFFF).contains(low) else { throw Unsupported() }
            return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
        case 0xDC00...0xDFFF:
            throw Unsupported()
        default:
            return unit
        }
    }

    private mutating func hexQuad() throws -> UInt32 {
        guard bytes.count - index >= 4 else { throw Unsupported() }
        var unit: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case ASCII.zero...ASCII.nine: digit = byte - ASCII.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw Unsupported()
            }
            unit = unit << 4 | UInt32(digit)
            index += 1
        }
        return unit
    }

    private static func appendUTF8(of scalar: UInt32, to text: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            text.append(UInt8(scalar))
        case 0x80..<0x800:
            text.append(UInt8(0xC0 | scalar >> 6))
            text.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            text.append(UInt8(0xE0 | scalar >> 12))
            text.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            text.append(UInt8(0x80 | scalar & 0x3F))
        default:
            text.append(UInt8(0xF0 | scalar >> 18))
            text.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            text.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            text.append(UInt8(0x80 | scalar & 0x3F))
        }
    }
}

// MARK: - Decoding

/// What all decoders and containers of one `decode` call share: the bytes (for numbers) and
/// whether anything was left to `JSONDecoder`.
private final class DecodingRun {
    let bytes: [UInt8]
    /// Set by every throw from here and by what `JSONDecoder` may answer differently: the
    /// result is then discarded, even if an `init(from:)` caught the error and carried on.
    var unsupported = false

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Marks the run as left to `JSONDecoder`, and the error to throw.
    func fail() -> Unsupported {
        unsupported = true
        return Unsupported()
    }

    /// `value` as a `T`: the commonest types straight away (a decoder per value is most of
    /// their cost), refusing the types `JSONDecoder` treats specially, then the type's own
    /// `init(from:)`.
    func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        if T.self == String.self { return unsafeBitCast(try string(value), to: T.self) }
        if T.self == Int.self { return unsafeBitCast(try integer(value) as Int, to: T.self) }
        if T.self == Double.self { return unsafeBitCast(try double(value), to: T.self) }
        if T.self == Bool.self { return unsafeBitCast(try bool(value), to: T.self) }
        if T.self == [String].self { return unsafeBitCast(try array(value, string), to: T.self) }
        if T.self == [Int].self { return unsafeBitCast(try array(value) { try integer($0) as Int }, to: T.self) }
        if T.self == Date.self || T.self == Data.self || T.self == URL.self || T.self == Decimal.self { throw fail() }
        return try T(from: ValueDecoder(value: value, type: T.self, run: self))
    }

    /// A key's text.
    func text(of key: MemberKey) -> String {
        switch key {
        case .ascii(let start, let end):
            bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[start..<end]), as: UTF8.self) }
        case .text(let text):
            text
        }
    }

    /// An array's items read by `read`, as `Array.init(from:)` would read them, without
    /// growing the array one item at a time.
    func array<Element>(_ value: JSONValue, _ read: (JSONValue) throws -> Element) throws -> [Element] {
        guard case .array(let items) = value else { throw fail() }
        return try items.map(read)
    }

    func bool(_ value: JSONValue) throws -> Bool {
        guard case .bool(let bool) = value else { throw fail() }
        return bool
    }

    func string(_ value: JSONValue) throws -> String {
        guard case .string(let string) = value else { throw fail() }
        return string
    }

    /// An integer written as one (no fraction, no exponent) that fits `T`.
    func integer<T: FixedWidthInteger>(_ value: JSONValue) throws -> T {
        guard case .number(let start, let end) = value else { throw fail() }
        let parsed: T? = bytes.withUnsafeBufferPointer { bytes in
            var index = start
            let negative = bytes[index] == ASCII.minus
            if negative { index += 1 }
            var magnitude: UInt64 = 0
            while index < end {
                let digit = bytes[index] &- ASCII.zero
                guard digit < 10 else { return nil }
                let (tens, overflow) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, carry) = tens.addingReportingOverflow(UInt64(digit))
                guard !overflow, !carry else { return nil }
                magnitude = sum
                index += 1
            }
            guard negative else { return T(exactly: magnitude) }
            if magnitude == 0 { return 0 }  // `-0`, which JSONDecoder reads as 0 for any integer type
            guard magnitude <= UInt64(1) << 63 else { return nil }
            return T(exactly: magnitude == UInt64(1) << 63 ? Int64.min : -Int64(magnitude))
        }
        guard let parsed else { throw fail() }
        return parsed
    }

    func double(_ value: JSONValue) throws -> Double {
        guard let number = try decimal(value, fastPathLimit: 1 << 53, maximumExponent: 22) else {
            return try slowFloatingPoint(value)
        }
        let magnitude = Double(number.mantissa)
        let scaled = number.exponent >= 0 ? magnitude * Self.doublePowers[number.exponent] : magnitude / Self.doublePowers[-number.exponent]
        return number.negative ? -scaled : scaled
    }

    func float(_ value: JSONValue) throws -> Float {
        guard let number = try decimal(value, fastPathLimit: 1 << 24, maximumExponent: 10) else {
            return try slowFloatingPoint(value)
        }
        let magnitude = Float(number.mantissa)
        let scaled = number.exponent >= 0 ? magnitude * Self.floatPowers[number.exponent] : magnitude / Self.floatPowers[-number.exponent]
        return number.negative ? -scaled : scaled
    }

    private static let doublePowers: [Double] = (0...22).map { exponent in (0..<exponent).reduce(1.0) { product, _ in product * 10 } }
    private static let floatPowers: [Float] = (0...10).map { exponent in (0..<exponent).reduce(Float(1)) { product, _ in product * 10 } }

    /// A number as `mantissa × 10^exponent` when both are small enough that one multiplication
    /// or division of exactly represented floats rounds correctly (Clinger's fast path); nil
    /// when it needs the full conversion. A mantissa of zero is always exact.
    private func decimal(_ value: JSONValue, fastPathLimit: UInt64, maximumExponent: Int) throws -> (negative: Bool, mantissa: UInt64, exponent: Int)? {
        guard case .number(let start, let end) = value else { throw fail() }
        return bytes.withUnsafeBufferPointer { bytes in
            var index = start
            let negative = bytes[index] == ASCII.minus
            if negative { index += 1 }
            var mantissa: UInt64 = 0
            var exponent = 0
            var fraction = false
            while index < end {
                let byte = bytes[index]
                if byte == ASCII.dot {
                    fraction = true
                } else if byte | 0x20 == UInt8(ascii: "e") {
                    break
                } else {
                    mantissa = mantissa * 10 + UInt64(byte - ASCII.zero)
                    guard mantissa <= fastPathLimit else { return nil }
                    if fraction { exponent -= 1 }
                }
                index += 1
            }
            if index < end {
                index += 1
                let negativeExponent = bytes[index] == ASCII.minus
                if bytes[index] == ASCII.minus || bytes[index] == ASCII.plus { index += 1 }
                var written = 0
                while index < end {
                    written = written * 10 + Int(bytes[index] - ASCII.zero)
                    guard written <= 1000 else { break }
                    index += 1
                }
                if mantissa == 0 { return (negative, 0, 0) }
                guard written <= 1000 else { return nil }
                exponent += negativeExponent ? -written : written
            }
            guard mantissa == 0 || abs(exponent) <= maximumExponent else { return nil }
            return (negative, mantissa, mantissa == 0 ? 0 : exponent)
        }
    }

    /// The full conversion (correctly rounded, as `JSONDecoder`'s), refusing what it refuses:
    /// a result too large for `T`, or one that rounds to zero from non-zero digits.
    private func slowFloatingPoint<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: JSONValue) throws -> T {
        guard case .number(let start, let end) = value else { throw fail() }
        let (text, nonZero) = bytes.withUnsafeBufferPointer { bytes in
            let text = UnsafeBufferPointer(rebasing: bytes[start..<end])
            let digits = text.prefix { $0 | 0x20 != UInt8(ascii: "e") }
            return (String(decoding: text, as: UTF8.self), digits.contains { $0 > ASCII.zero && $0 <= ASCII.nine })
        }
        guard let result = T(text), result.isFinite, result != 0 || !nonZero else { throw fail() }
        return result
    }
}

/// `[String: Value]`: the type that reads `allKeys` in any order and gets the same value.
private protocol StringKeyedDictionary {}

extension Dictionary: StringKeyedDictionary where Key == String {}

/// The coding key type of the standard library's `Dictionary.init(from:)`.
private let dictionaryCodingKey = ObjectIdentifier(type(of: "".codingKey))

/// The `Decoder` handed to `init(from:)`, and its single-value container. It keeps no coding
/// path: a type that asks for one is left to `JSONDecoder`.
private final class ValueDecoder: Decoder, SingleValueDecodingContainer {
    let value: JSONValue
    /// The type being decoded (whose `init(from:)` this is handed to).
    let type: Any.Type
    let run: DecodingRun

    init(value: JSONValue, type: Any.Type, run: DecodingRun) {
        self.value = value
        self.type = type
        self.run = run
    }

    var codingPath: [any CodingKey] {
        run.unsupported = true
        return []
    }

    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy keyType: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let anyOrder = ObjectIdentifier(Key.self) == dictionaryCodingKey && type is any StringKeyedDictionary.Type
        return KeyedDecodingContainer(try KeyedContainer<Key>(value: value, run: run, anyOrder: anyOrder))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try UnkeyedContainer(value: value, run: run)
    }

    func singleValueContainer() -> any SingleValueDecodingContainer {
        self
    }

    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }

    func decode(_ type: Bool.Type) throws -> Bool { try run.bool(value) }
    func decode(_ type: String.Type) throws -> String { try run.string(value) }
    func decode(_ type: Double.Type) throws -> Double { try run.double(value) }
    func decode(_ type: Float.Type) throws -> Float { try run.float(value) }
    func decode(_ type: Int.Type) throws -> Int { try run.integer(value) }
    func decode(_ type: Int8.Type) throws -> Int8 { try run.integer(value) }
    func decode(_ type: Int16.Type) throws -> Int16 { try run.integer(value) }
    func decode(_ type: Int32.Type) throws -> Int32 { try run.integer(value) }
    func decode(_ type: Int64.Type) throws -> Int64 { try run.integer(value) }
    func decode(_ type: Int128.Type) throws -> Int128 { throw run.fail() }
    func decode(_ type: UInt.Type) throws -> UInt { try run.integer(value) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try run.integer(value) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try run.integer(value) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try run.integer(value) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try run.integer(value) }
    func decode(_ type: UInt128.Type) throws -> UInt128 { throw run.fail() }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try run.decode(T.self, from: value) }
}

/// An object's members, looked up as `JSONDecoder` looks them up: by `String` equality (so
/// canonically equivalent keys match; plain ASCII names among plain ASCII keys are compared as
/// bytes, which is the same), linearly for the few members of a struct, through an index for
/// larger objects.
private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    /// Objects with more members than this get an index.
    static var linearLimit: Int { 12 }

    let members: [Member]
    let asciiKeys: Bool
    let run: DecodingRun
    /// Whether the reader takes `allKeys` in any order to the same value (`[String: Value]`).
    let anyOrder: Bool
    let index: [String: Int]?

    init(value: JSONValue, run: DecodingRun, anyOrder: Bool = false) throws {
        guard case .object(let members, let asciiKeys) = value else { throw run.fail() }
        self.members = members
        self.asciiKeys = asciiKeys
        self.run = run
        self.anyOrder = anyOrder
        // A key seen twice (JSONDecoder keeps the first): left to JSONDecoder.
        if members.count <= Self.linearLimit {
            index = nil
            if asciiKeys {
                let duplicated = run.bytes.withUnsafeBufferPointer { bytes in
                    members.indices.dropFirst().contains { later in
                        (0..<later).contains { earlier in Self.same(members[earlier].key, members[later].key, in: bytes) }
                    }
                }
                if duplicated { throw run.fail() }
            } else {
                let names = members.map { run.text(of: $0.key) }
                for later in names.indices.dropFirst() {
                    for earlier in 0..<later where names[earlier] == names[later] { throw run.fail() }
                }
            }
        } else {
            var index = [String: Int](minimumCapacity: members.count)
            for (position, member) in members.enumerated() where index.updateValue(position, forKey: run.text(of: member.key)) != nil {
                throw run.fail()
            }
            self.index = index
        }
    }

    /// Whether two ASCII keys have the same bytes.
    private static func same(_ lhs: MemberKey, _ rhs: MemberKey, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard case .ascii(let lhsStart, let lhsEnd) = lhs, case .ascii(let rhsStart, let rhsEnd) = rhs,
            lhsEnd - lhsStart == rhsEnd - rhsStart
        else { return false }
        return bytes[lhsStart..<lhsEnd].elementsEqual(bytes[rhsStart..<rhsEnd])
    }

    var codingPath: [any CodingKey] {
        run.unsupported = true
        return []
    }

    /// The keys in the order of the bytes. JSONDecoder gives them in its dictionary's hash
    /// order, which changes from run to run: more than one key is left to it, unless the
    /// reader is a `[String: Value]`.
    var allKeys: [Key] {
        let keys = members.compactMap { Key(stringValue: run.text(of: $0.key)) }
        if keys.count > 1, !anyOrder { run.unsupported = true }
        return keys
    }

    private func lookUp(_ key: Key) -> JSONValue? {
        var name = key.stringValue
        if let index { return index[name].map { members[$0].value } }
        if asciiKeys {
            let members = members
            let found: Int?? = name.withUTF8 { name in
                // A non-ASCII name may still equal an ASCII key ("\u{212A}" is "K").
                guard name.allSatisfy({ $0 < 0x80 }) else { return nil }
                return run.bytes.withUnsafeBufferPointer { bytes in
                    members.firstIndex { member in
                        guard case .ascii(let start, let end) = member.key, end - start == name.count else { return false }
                        return bytes[start..<end].elementsEqual(name)
                    }
                }
            }
            if let found { return found.map { members[$0].value } }
        }
        for member in members where run.text(of: member.key) == name { return member.value }
        return nil
    }

    private func value(_ key: Key) throws -> JSONValue {
        guard let value = lookUp(key) else { throw run.fail() }
        return value
    }

    /// The value, or nil when the key is missing or null (as `decodeIfPresent` wants).
    private func present(_ key: Key) -> JSONValue? {
        guard let value = lookUp(key) else { return nil }
        if case .null = value { return nil }
        return value
    }

    func contains(_ key: Key) -> Bool { lookUp(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try value(key) { return true }
        return false
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try run.bool(value(key)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try run.string(value(key)) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try run.double(value(key)) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try run.float(value(key)) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try run.integer(value(key)) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try run.integer(value(key)) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try run.integer(value(key)) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try run.integer(value(key)) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try run.integer(value(key)) }
    func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { throw run.fail() }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try run.integer(value(key)) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try run.integer(value(key)) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try run.integer(value(key)) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try run.integer(value(key)) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try run.integer(value(key)) }
    func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { throw run.fail() }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try run.decode(T.self, from: value(key)) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try present(key).map(run.bool) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try present(key).map(run.string) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try present(key).map(run.double) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try present(key).map(run.float) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try present(key).map(run.integer) }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try present(key).map { try run.decode(T.self, from: $0) }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(try KeyedContainer<NestedKey>(value: value(key), run: run))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try UnkeyedContainer(value: value(key), run: run)
    }

    func superDecoder() throws -> any Decoder { throw run.fail() }
    func superDecoder(forKey key: Key) throws -> any Decoder { throw run.fail() }
}

/// An array's items in order. Like `JSONDecoder`'s: a failed decode does not advance, and
/// `decodeIfPresent` advances even past the end.
private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let run: DecodingRun
    private(set) var currentIndex = 0

    init(value: JSONValue, run: DecodingRun) throws {
        guard case .array(let items) = value else { throw run.fail() }
        self.items = items
        self.run = run
    }

    var codingPath: [any CodingKey] {
        run.unsupported = true
        return []
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    /// The next item decoded by `read`; the index moves past it only when that succeeds.
    private mutating func next<T>(_ read: (JSONValue) throws -> T) throws -> T {
        guard currentIndex < items.count else { throw run.fail() }
        let result = try read(items[currentIndex])
        currentIndex += 1
        return result
    }

    /// Nil for the end or a null, else the next item decoded by `read`; the index moves on
    /// unless `read` throws.
    private mutating func nextIfPresent<T>(_ read: (JSONValue) throws -> T) throws -> T? {
        var result: T?
        if currentIndex < items.count {
            if case .null = items[currentIndex] {
                result = nil
            } else {
                result = try read(items[currentIndex])
            }
        }
        currentIndex += 1
        return result
    }

    mutating func decodeNil() throws -> Bool {
        guard currentIndex < items.count else { throw run.fail() }
        guard case .null = items[currentIndex] else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(run.bool) }
    mutating func decode(_ type: String.Type) throws -> String { try next(run.string) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(run.double) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(run.float) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(run.integer) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(run.integer) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(run.integer) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(run.integer) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(run.integer) }
    mutating func decode(_ type: Int128.Type) throws -> Int128 { throw run.fail() }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(run.integer) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(run.integer) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(run.integer) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(run.integer) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(run.integer) }
    mutating func decode(_ type: UInt128.Type) throws -> UInt128 { throw run.fail() }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let run = run
        return try next { try run.decode(T.self, from: $0) }
    }

    mutating func decodeIfPresent(_ type: Bool.Type) throws -> Bool? { try nextIfPresent(run.bool) }
    mutating func decodeIfPresent(_ type: String.Type) throws -> String? { try nextIfPresent(run.string) }
    mutating func decodeIfPresent(_ type: Double.Type) throws -> Double? { try nextIfPresent(run.double) }
    mutating func decodeIfPresent(_ type: Float.Type) throws -> Float? { try nextIfPresent(run.float) }
    mutating func decodeIfPresent(_ type: Int.Type) throws -> Int? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: Int8.Type) throws -> Int8? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: Int16.Type) throws -> Int16? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: Int32.Type) throws -> Int32? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: Int64.Type) throws -> Int64? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: UInt.Type) throws -> UInt? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: UInt8.Type) throws -> UInt8? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: UInt16.Type) throws -> UInt16? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: UInt32.Type) throws -> UInt32? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: UInt64.Type) throws -> UInt64? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent<T: Decodable>(_ type: T.Type) throws -> T? {
        let run = run
        return try nextIfPresent { try run.decode(T.self, from: $0) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let run = run
        return KeyedDecodingContainer(try next { try KeyedContainer<NestedKey>(value: $0, run: run) })
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let run = run
        return try next { try UnkeyedContainer(value: $0, run: run) }
    }

    mutating func superDecoder() throws -> any Decoder { throw run.fail() }
}
