// The tokens of strict JSON (RFC 8259), read in place: shared by JSONParser (documents for the
// server and the CLI) and the payload decoder's parser (job parameters, on every job's path).

/// Bytes the JSON grammar names.
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

/// What is wrong with a JSON text, and where.
package struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    /// Zero-based byte offset of the problem.
    package let offset: Int
    /// What is wrong, without the place (`expected a member name in quotes`).
    package let reason: String
    /// For a member name given twice in one object: where that member is, as a field path
    /// (`jobs`, `jobs[2].queue`, `payload.user.id`); nil for other errors.
    package var duplicateMember: String?

    package init(offset: Int, reason: String, duplicateMember: String? = nil) {
        self.offset = offset
        self.reason = reason
        self.duplicateMember = duplicateMember
    }

    /// `reason at byte N`, as the HTTP API says it.
    package var description: String { "\(reason) at byte \(offset)" }

    /// `reason at line L, column C` (1-based, columns in characters) for a text a person typed,
    /// as the CLI says it.
    package func located(in bytes: some Collection<UInt8>) -> String {
        var line = 1
        var column = 1
        for byte in bytes.prefix(offset) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return "\(reason) at line \(line), column \(column)"
    }
}

/// A reader of JSON tokens over bytes it does not own: whitespace, literals, numbers (kept as
/// their place in the bytes) and strings (escapes resolved, UTF-8 validated).
///
/// Strict: what RFC 8259 does not allow (a leading zero, a control character or a lone
/// surrogate in a string, invalid UTF-8) throws a ``JSONSyntaxError`` naming the byte. Cost:
/// one pass; a string without escapes or non-ASCII bytes is made without a scratch buffer
/// (one that fits in a small `String` without any allocation).
struct JSONScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    func error(_ reason: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: index, reason: reason)
    }

    /// The byte at the current position, nil at the end.
    var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// The next byte after whitespace, not consumed.
    mutating func peek() throws(JSONSyntaxError) -> UInt8 {
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end of JSON") }
        return bytes[index]
    }

    /// Past the end of the one value, only whitespace may follow.
    mutating func expectEnd() throws(JSONSyntaxError) {
        skipWhitespace()
        guard index == bytes.count else { throw error("unexpected text after the JSON value") }
    }

    /// The error for a byte that starts no value.
    func unexpected(_ byte: UInt8) -> JSONSyntaxError {
        error("unexpected character '\(Character(Unicode.Scalar(byte)))'")
    }

    /// `true`, `false` or `null`, at the current position.
    mutating func literal(_ word: StaticString) throws(JSONSyntaxError) {
        for offset in 0..<word.utf8CodeUnitCount {
            guard index < bytes.count, bytes[index] == word.utf8Start[offset] else {
                throw error("invalid literal (expected \(word))")
            }
            index += 1
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, as its place in the bytes.
    mutating func number() throws(JSONSyntaxError) -> Range<Int> {
        let start = index
        if bytes[index] == ASCII.minus { index += 1 }
        guard index < bytes.count, Self.isDigit(bytes[index]) else { throw error("invalid number") }
        if bytes[index] == ASCII.zero {
            index += 1
            if index < bytes.count, Self.isDigit(bytes[index]) { throw error("invalid number (leading zero)") }
        } else {
            skipDigits()
        }
        if index < bytes.count, bytes[index] == ASCII.dot {
            index += 1
            guard index < bytes.count, Self.isDigit(bytes[index]) else { throw error("invalid number (digits expected after '.')") }
            skipDigits()
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < bytes.count, bytes[index] == ASCII.plus || bytes[index] == ASCII.minus { index += 1 }
            guard index < bytes.count, Self.isDigit(bytes[index]) else { throw error("invalid number (digits expected in exponent)") }
            skipDigits()
        }
        return start..<index
    }

    static func isDigit(_ byte: UInt8) -> Bool {
        byte &- ASCII.zero < 10
    }

    private mutating func skipDigits() {
        while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
    }

    /// A plain ASCII string (no escapes) at the current opening quote: its bytes' place, and
    /// the position moved past its closing quote; nil (nothing consumed) for any other string.
    mutating func plainASCIIString() -> Range<Int>? {
        var position = index + 1
        while position < bytes.count {
            let byte = bytes[position]
            if byte == ASCII.quote {
                defer { index = position + 1 }
                return index + 1..<position
            }
            guard byte >= 0x20, byte < 0x80, byte != ASCII.backslash else { return nil }
            position += 1
        }
        return nil
    }

    /// A string's text, from its opening quote to past its closing one.
    mutating func string() throws(JSONSyntaxError) -> String {
        index += 1
        let start = index
        var ascii = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte == ASCII.quote {
                let text = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                if ascii { return String(decoding: text, as: UTF8.self) }
                guard let string = String(validating: text, as: UTF8.self) else {
                    throw JSONSyntaxError(offset: start, reason: "invalid UTF-8 in a string")
                }
                return string
            }
            if byte == ASCII.backslash { return try escapedString(from: start, ascii: ascii) }
            guard byte >= 0x20 else { throw error("control character in a string (escape it)") }
            if byte >= 0x80 { ascii = false }
            index += 1
        }
        throw error("unterminated string")
    }

    /// The rest of a string that has escapes; `start` is just past its opening quote, and
    /// `ascii` says whether the bytes up to here are all ASCII.
    private mutating func escapedString(from start: Int, ascii: Bool) throws(JSONSyntaxError) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(index - start + 16)
        var runStart = start
        var runIsASCII = ascii
        // Each run between escapes is checked on its own, so an error names where it starts.
        func appendRun(_ scanner: JSONScanner) throws(JSONSyntaxError) {
            let run = UnsafeBufferPointer(rebasing: scanner.bytes[runStart..<scanner.index])
            if !runIsASCII, String(validating: run, as: UTF8.self) == nil {
                throw JSONSyntaxError(offset: runStart, reason: "invalid UTF-8 in a string")
            }
            text.append(contentsOf: run)
        }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case ASCII.quote:
                try appendRun(self)
                index += 1
                return String(decoding: text, as: UTF8.self)
            case ASCII.backslash:
                try appendRun(self)
                index += 1
                guard index < bytes.count else { throw error("unterminated escape") }
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
                default: throw error("invalid escape '\\\(Character(Unicode.Scalar(escaped)))'")
                }
                runStart = index
                runIsASCII = true
            case 0x00..<0x20:
                throw error("control character in a string (escape it)")
            default:
                if byte >= 0x80 { runIsASCII = false }
                index += 1
            }
        }
        throw error("unterminated string")
    }

    /// The scalar of a `\uXXXX` escape (its `\u` already read), joining a surrogate pair.
    private mutating func unicodeEscape() throws(JSONSyntaxError) -> UInt32 {
        let unit = try hexQuad()
        switch unit {
        case 0xD800...0xDBFF:
            guard bytes.count - index >= 2, bytes[index] == ASCII.backslash, bytes[index + 1] == UInt8(ascii: "u") else {
                throw error("unpaired surrogate in \\u escape")
            }
            index += 2
            let low = try hexQuad()
            guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate in \\u escape") }
            return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
        case 0xDC00...0xDFFF:
            throw error("unpaired surrogate in \\u escape")
        default:
            return unit
        }
    }

    private mutating func hexQuad() throws(JSONSyntaxError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw error("incomplete \\u escape") }
        var unit: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case ASCII.zero...ASCII.nine: digit = byte - ASCII.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in \\u escape")
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
