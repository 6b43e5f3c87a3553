// PayloadDecoder: the strict RFC 8259 parser that turns the bytes into a JSONValue tree.
import Foundation

enum ASCII {
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
struct Parser {
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
