/// A strict check that bytes are one well-formed JSON text (RFC 8259), saying where they are
/// not.
///
/// Foundation's `JSONSerialization` accepts things other parsers refuse (a trailing comma, for
/// one), and a payload stored here may be read by workers in any language, so the CLI checks
/// payloads with this before storing them. Pure: one pass over the bytes, recursion bounded by
/// ``maximumDepth``.
struct JSONCheck {
    /// How deeply arrays and objects may nest.
    static let maximumDepth = 512

    /// Why a text is not JSON, and where.
    struct Failure: Error, Equatable, CustomStringConvertible {
        /// What was expected or found.
        let reason: String
        /// 1-based line and column (in characters) of the offending spot.
        let line: Int
        let column: Int

        var description: String { "\(reason) at line \(line), column \(column)" }
    }

    private let bytes: [UInt8]
    private var index = 0

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Checks that `text` is exactly one JSON value (any value: object, array, string, number,
    /// `true`, `false`, `null`), with optional whitespace around it.
    /// - Throws: ``Failure`` at the first problem.
    static func validate(_ text: some StringProtocol) throws {
        var checker = JSONCheck(Array(text.utf8))
        checker.skipWhitespace()
        guard !checker.atEnd else { throw checker.failure("expected a JSON value but the text is empty") }
        try checker.value(depth: 0)
        checker.skipWhitespace()
        guard checker.atEnd else { throw checker.failure("unexpected \(checker.found) after the JSON value") }
    }

    private var atEnd: Bool { index >= bytes.count }

    /// The byte at the current position, described for a message.
    private var found: String {
        guard !atEnd else { return "end of text" }
        let byte = bytes[index]
        if byte >= 0x20 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        if byte < 0x20 { return "control character 0x\(String(byte, radix: 16, uppercase: true))" }
        // The first scalar of a multi-byte character.
        var end = index + 1
        while end < bytes.count && bytes[end] & 0xC0 == 0x80 { end += 1 }
        return "'\(String(decoding: bytes[index..<end], as: UTF8.self))'"
    }

    private func failure(_ reason: String) -> Failure {
        var line = 1
        var column = 1
        for byte in bytes[..<min(index, bytes.count)] {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return Failure(reason: reason, line: line, column: column)
    }

    private mutating func skipWhitespace() {
        while !atEnd {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): index += 1
            default: return
            }
        }
    }

    private mutating func value(depth: Int) throws {
        guard !atEnd else { throw failure("expected a value but the text ended") }
        switch bytes[index] {
        case UInt8(ascii: "{"): try object(depth: depth + 1)
        case UInt8(ascii: "["): try array(depth: depth + 1)
        case UInt8(ascii: "\""): try string()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default:
            let hint = bytes[index] == UInt8(ascii: "'") ? " (JSON strings use double quotes)" : ""
            throw failure("expected a value but found \(found)\(hint)")
        }
    }

    private mutating func object(depth: Int) throws {
        guard depth <= Self.maximumDepth else { throw failure("arrays and objects nest deeper than \(Self.maximumDepth) levels") }
        index += 1  // {
        skipWhitespace()
        if !atEnd && bytes[index] == UInt8(ascii: "}") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            guard !atEnd, bytes[index] == UInt8(ascii: "\"") else {
                let hint = atEnd ? "" : bytes[index] == UInt8(ascii: "}") ? " (a trailing comma is not allowed)"
                    : bytes[index] == UInt8(ascii: "'") ? " (JSON strings use double quotes)" : ""
                throw failure("expected a member name in double quotes but found \(found)\(hint)")
            }
            try string()
            skipWhitespace()
            guard !atEnd, bytes[index] == UInt8(ascii: ":") else { throw failure("expected ':' after a member name but found \(found)") }
            index += 1
            skipWhitespace()
            try value(depth: depth)
            skipWhitespace()
            guard !atEnd else { throw failure("expected ',' or '}' but the text ended") }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return
            default: throw failure("expected ',' or '}' after an object member but found \(found)")
            }
        }
    }

    private mutating func array(depth: Int) throws {
        guard depth <= Self.maximumDepth else { throw failure("arrays and objects nest deeper than \(Self.maximumDepth) levels") }
        index += 1  // [
        skipWhitespace()
        if !atEnd && bytes[index] == UInt8(ascii: "]") {
            index += 1
            return
        }
        while true {
            skipWhitespace()
            if !atEnd && bytes[index] == UInt8(ascii: "]") {
                throw failure("expected a value but found ']' (a trailing comma is not allowed)")
            }
            try value(depth: depth)
            skipWhitespace()
            guard !atEnd else { throw failure("expected ',' or ']' but the text ended") }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return
            default: throw failure("expected ',' or ']' after an array element but found \(found)")
            }
        }
    }

    private mutating func string() throws {
        index += 1  // opening quote
        while true {
            guard !atEnd else { throw failure("a string is not closed (missing '\"')") }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return
            case UInt8(ascii: "\\"):
                index += 1
                guard !atEnd else { throw failure("a string is not closed (missing '\"')") }
                switch bytes[index] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    index += 1
                case UInt8(ascii: "u"):
                    index += 1
                    for _ in 0..<4 {
                        guard !atEnd, Self.isHexDigit(bytes[index]) else { throw failure("expected four hex digits after \\u but found \(found)") }
                        index += 1
                    }
                default:
                    throw failure("invalid escape '\\\(found.dropFirst().dropLast())' in a string")
                }
            case 0..<0x20:
                throw failure("unescaped \(found) in a string (write it as an escape such as \\n)")
            default:
                index += 1
            }
        }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): return true
        default: return false
        }
    }

    private mutating func digits() -> Int {
        let start = index
        while !atEnd && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9") { index += 1 }
        return index - start
    }

    private mutating func number() throws {
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard !atEnd, bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9") else {
            throw failure("expected a digit but found \(found)")
        }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if !atEnd && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9") {
                throw failure("numbers must not have leading zeros")
            }
        } else {
            _ = digits()
        }
        if !atEnd && bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw failure("expected a digit after the decimal point but found \(found)") }
        }
        if !atEnd && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
            index += 1
            if !atEnd && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
            guard digits() > 0 else { throw failure("expected a digit in the exponent but found \(found)") }
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for byte in expected {
            guard !atEnd, bytes[index] == byte else {
                throw failure("expected '\(word)' but found \(found)")
            }
            index += 1
        }
    }
}
