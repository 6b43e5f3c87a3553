// PayloadDecoder: what one decode call shares (DecodingRun), and its conversion of parsed values to strings, integers and floats.
import Foundation

/// What all decoders and containers of one `decode` call share: the bytes (for numbers) and
/// whether anything was left to `JSONDecoder`.
final class DecodingRun {
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
    func decode<T: Decodable>(_ type: T.Type, from value: PayloadValue) throws -> T {
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
    func array<Element>(_ value: PayloadValue, _ read: (PayloadValue) throws -> Element) throws -> [Element] {
        guard case .array(let items) = value else { throw fail() }
        return try items.map(read)
    }

    func bool(_ value: PayloadValue) throws -> Bool {
        guard case .bool(let bool) = value else { throw fail() }
        return bool
    }

    func string(_ value: PayloadValue) throws -> String {
        guard case .string(let string) = value else { throw fail() }
        return string
    }

    /// An integer written as one (no fraction, no exponent) that fits `T`.
    func integer<T: FixedWidthInteger>(_ value: PayloadValue) throws -> T {
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

    func double(_ value: PayloadValue) throws -> Double {
        guard let number = try decimal(value, fastPathLimit: 1 << 53, maximumExponent: 22) else {
            return try slowFloatingPoint(value)
        }
        let magnitude = Double(number.mantissa)
        let scaled = number.exponent >= 0 ? magnitude * Self.doublePowers[number.exponent] : magnitude / Self.doublePowers[-number.exponent]
        return number.negative ? -scaled : scaled
    }

    func float(_ value: PayloadValue) throws -> Float {
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
    private func decimal(
        _ value: PayloadValue, fastPathLimit: UInt64, maximumExponent: Int
    ) throws -> (negative: Bool, mantissa: UInt64, exponent: Int)? {
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
    private func slowFloatingPoint<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: PayloadValue) throws -> T {
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
