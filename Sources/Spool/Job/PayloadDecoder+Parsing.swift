// PayloadDecoder: the strict RFC 8259 parser that turns the bytes into a PayloadValue tree, on
// the package's one JSON scanner.

/// A strict RFC 8259 parser: anything else (trailing commas, comments, a byte-order mark,
/// control characters in strings, lone surrogates, invalid UTF-8, nesting deeper than
/// ``JSONParser/maximumDepth``, which is also `JSONDecoder`'s limit) throws, and the payload
/// goes to `JSONDecoder`.
///
/// The tokens are ``JSONScanner``'s; this builds the decoder's own tree (numbers and ASCII keys
/// left as places in the bytes, read only when a type asks). It recurses once per level, as
/// decoding a nested `Decodable` does anyway.
struct Parser {
    var scanner: JSONScanner
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        scanner = JSONScanner(bytes: bytes)
    }

    /// The one value the bytes hold, with nothing but whitespace around it.
    mutating func document() throws(JSONSyntaxError) -> PayloadValue {
        let value = try self.value()
        try scanner.expectEnd()
        return value
    }

    private mutating func value() throws(JSONSyntaxError) -> PayloadValue {
        let byte = try scanner.peek()
        switch byte {
        case ASCII.openBrace: return try object()
        case ASCII.openBracket: return try array()
        case ASCII.quote: return .string(try scanner.string())
        case UInt8(ascii: "t"): try scanner.literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try scanner.literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try scanner.literal("null"); return .null
        case ASCII.minus, ASCII.zero...ASCII.nine:
            let range = try scanner.number()
            return .number(start: range.lowerBound, end: range.upperBound)
        default: throw scanner.unexpected(byte)
        }
    }

    /// Enters one more level of arrays and objects, past its opening byte.
    private mutating func enter() throws(JSONSyntaxError) {
        guard depth < JSONParser.maximumDepth else {
            throw scanner.error("arrays and objects nested deeper than \(JSONParser.maximumDepth) levels")
        }
        scanner.index += 1
        depth += 1
    }

    private mutating func object() throws(JSONSyntaxError) -> PayloadValue {
        try enter()
        defer { depth -= 1 }
        if try scanner.peek() == ASCII.closeBrace {
            scanner.index += 1
            return .object([], asciiKeys: true)
        }
        var members: [Member] = []
        members.reserveCapacity(4)
        var asciiKeys = true
        while true {
            guard try scanner.peek() == ASCII.quote else { throw scanner.error("expected a member name in quotes") }
            let key: MemberKey
            if let range = scanner.plainASCIIString() {
                key = .ascii(start: range.lowerBound, end: range.upperBound)
            } else {
                key = .text(try scanner.string())
                asciiKeys = false
            }
            guard try scanner.peek() == ASCII.colon else { throw scanner.error("expected ':' after a member name") }
            scanner.index += 1
            members.append(Member(key: key, value: try value()))
            switch try scanner.peek() {
            case ASCII.comma:
                scanner.index += 1
            case ASCII.closeBrace:
                scanner.index += 1
                return .object(members, asciiKeys: asciiKeys)
            default:
                throw scanner.error("expected ',' or '}' in an object")
            }
        }
    }

    private mutating func array() throws(JSONSyntaxError) -> PayloadValue {
        try enter()
        defer { depth -= 1 }
        if try scanner.peek() == ASCII.closeBracket {
            scanner.index += 1
            return .array([])
        }
        var items: [PayloadValue] = []
        while true {
            items.append(try value())
            switch try scanner.peek() {
            case ASCII.comma:
                scanner.index += 1
            case ASCII.closeBracket:
                scanner.index += 1
                return .array(items)
            default:
                throw scanner.error("expected ',' or ']' in an array")
            }
        }
    }
}
