import Foundation

/// What is wrong with a JSON text, and where.
struct JSONSyntaxError: Error, Sendable, CustomStringConvertible {
    /// Zero-based byte offset of the problem.
    let offset: Int
    let reason: String
    /// For a member name given twice in one object: where that member is, as a field path
    /// (`jobs`, `jobs[2].queue`, `payload.user.id`); nil for other errors.
    var duplicateMember: String?

    var description: String { "\(reason) at byte \(offset)" }

    /// This error as seen from the value holding the one it happened in: `component` (a member
    /// name or `[index]`) goes in front of ``duplicateMember``.
    func inside(_ component: String) -> JSONSyntaxError {
        guard let path = duplicateMember else { return self }
        var outer = self
        outer.duplicateMember = component + (path.hasPrefix("[") ? "" : ".") + path
        return outer
    }
}

/// A strict RFC 8259 parser with a nesting limit, so that no request can exhaust the stack.
///
/// Stricter than RFC 8259 in one way (as I-JSON, RFC 7493, asks): an object with a member
/// name twice is refused, since readers disagree on which value wins (`{"jobs": [...],
/// "jobs": [...]}` would mean one batch here and another elsewhere).
struct JSONParser {
    /// The deepest nesting of arrays and objects accepted.
    static let maximumDepth = 64

    private let bytes: [UInt8]
    private let allowsRepeatedMembers: Bool
    private var index = 0

    private init(_ bytes: [UInt8], allowsRepeatedMembers: Bool) {
        self.bytes = bytes
        self.allowsRepeatedMembers = allowsRepeatedMembers
    }

    /// Parses one JSON document (surrounding whitespace allowed).
    /// - Parameter allowsRepeatedMembers: true to keep an object's repeated member names as
    ///   they are, for JSON already stored (a payload enqueued through the library) that is
    ///   only shown, never read by name; request bodies leave it false.
    /// - Throws: ``JSONSyntaxError`` naming the offending byte.
    static func parse(_ bytes: [UInt8], allowsRepeatedMembers: Bool = false) throws -> JSONValue {
        var parser = JSONParser(bytes, allowsRepeatedMembers: allowsRepeatedMembers)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    private func error(_ reason: String) -> JSONSyntaxError {
        JSONSyntaxError(offset: index, reason: reason)
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            index += 1
        }
    }

    private mutating func parseValue(depth: Int) throws -> JSONValue {
        guard let byte = current else { throw error("unexpected end of JSON") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character '\(Character(Unicode.Scalar(byte)))'")
        }
    }

    private mutating func expectLiteral(_ literal: String) throws {
        for expected in literal.utf8 {
            guard current == expected else { throw error("invalid literal (expected \(literal))") }
            index += 1
        }
    }

    private mutating func parseObject(depth: Int) throws -> JSONValue {
        guard depth <= Self.maximumDepth else { throw error("nested deeper than \(Self.maximumDepth) levels") }
        index += 1
        var members: [(String, JSONValue)] = []
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        // Small objects (the usual request) are checked by a scan, larger ones through a set.
        // Names are compared as written, code unit for code unit (Swift's `==` would take the
        // NFC and NFD spellings of `é` for one name; JSON and JSON Schema do not).
        var names: Set<[UInt8]> = []
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("expected a member name in quotes") }
            let keyOffset = index
            let key = try parseString()
            let repeated: Bool
            if allowsRepeatedMembers {
                repeated = false
            } else if members.count < 16 {
                repeated = members.contains { $0.0.utf8.elementsEqual(key.utf8) }
            } else {
                if names.isEmpty { names = Set(members.map { Array($0.0.utf8) }) }
                repeated = !names.insert(Array(key.utf8)).inserted
            }
            if repeated {
                throw JSONSyntaxError(offset: keyOffset, reason: "member \"\(key)\" appears twice in one object", duplicateMember: key)
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':' after member name \"\(key)\"") }
            index += 1
            skipWhitespace()
            let value: JSONValue
            do {
                value = try parseValue(depth: depth)
            } catch let inner as JSONSyntaxError {
                throw inner.inside(key)
            }
            members.append((key, value))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return .object(members)
            default: throw error("expected ',' or '}' in an object")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws -> JSONValue {
        guard depth <= Self.maximumDepth else { throw error("nested deeper than \(Self.maximumDepth) levels") }
        index += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            do {
                items.append(try parseValue(depth: depth))
            } catch let inner as JSONSyntaxError {
                throw inner.inside("[\(items.count)]")
            }
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return .array(items)
            default: throw error("expected ',' or ']' in an array")
            }
        }
    }

    private mutating func parseNumber() throws -> String {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, isDigit(first) else { throw error("invalid number") }
        index += 1
        if first == UInt8(ascii: "0"), let next = current, isDigit(next) { throw error("invalid number (leading zero)") }
        while let byte = current, isDigit(byte) { index += 1 }
        if current == UInt8(ascii: ".") {
            index += 1
            guard let byte = current, isDigit(byte) else { throw error("invalid number (digits expected after '.')") }
            while let byte = current, isDigit(byte) { index += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard let byte = current, isDigit(byte) else { throw error("invalid number (digits expected in exponent)") }
            while let byte = current, isDigit(byte) { index += 1 }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private mutating func parseString() throws -> String {
        index += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var runStart = index
        func flush(_ parser: JSONParser, upTo end: Int) throws {
            guard runStart < end else { return }
            guard let text = String(validating: parser.bytes[runStart..<end], as: UTF8.self) else {
                throw JSONSyntaxError(offset: runStart, reason: "invalid UTF-8 in a string")
            }
            scalars.append(contentsOf: text.unicodeScalars)
        }
        while true {
            guard let byte = current else { throw error("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                try flush(self, upTo: index)
                index += 1
                return String(scalars)
            case UInt8(ascii: "\\"):
                try flush(self, upTo: index)
                index += 1
                guard let escape = current else { throw error("unterminated escape") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    let unit = try parseHex4()
                    if (0xD800...0xDBFF).contains(unit) {
                        guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate in \\u escape")
                        }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate in \\u escape") }
                        let value = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                        scalars.append(Unicode.Scalar(value)!)
                    } else if (0xDC00...0xDFFF).contains(unit) {
                        throw error("unpaired surrogate in \\u escape")
                    } else {
                        scalars.append(Unicode.Scalar(unit)!)
                    }
                default:
                    throw error("invalid escape '\\\(Character(Unicode.Scalar(escape)))'")
                }
                runStart = index
            default:
                guard byte >= 0x20 else { throw error("control character in a string (escape it)") }
                index += 1
            }
        }
    }

    private mutating func parseHex4() throws -> UInt16 {
        guard index + 4 <= bytes.count else { throw error("incomplete \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }
}
