import Foundation

/// A JSON document as the server reads and writes it.
///
/// Objects keep their members in order (so `id` is written first), numbers keep the exact digits
/// they were written with, and stored JSON (payloads, results) is embedded as it is (`raw`)
/// rather than re-encoded: nothing a client sends is rounded or reordered on its way to storage.
indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number as written (valid JSON number syntax).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])
    /// Already-valid, minified JSON text, written verbatim.
    case raw(String)

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.raw(let a), .raw(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// An integer value.
    static func int(_ value: Int) -> JSONValue { .number(String(value)) }

    /// A floating-point value (null when not finite).
    static func double(_ value: Double) -> JSONValue {
        guard value.isFinite else { return .null }
        if value == value.rounded(), abs(value) < 1e15 { return .number(String(Int64(value))) }
        return .number("\(value)")
    }

    /// `value` as a string, or null.
    static func string(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }

    /// `value` as RFC 3339 UTC with milliseconds, or null.
    static func time(_ value: Date?) -> JSONValue { value.map { .string(RFC3339.format($0)) } ?? .null }

    /// Stored JSON bytes embedded verbatim, or null when there are none. Bytes that are not
    /// valid JSON are embedded as a JSON string of their UTF-8 text (or null for binary).
    static func embedding(_ bytes: [UInt8]?) -> JSONValue {
        guard let bytes else { return .null }
        if (try? JSONParser.parse(bytes, allowsRepeatedMembers: true)) != nil, let text = String(validating: bytes, as: UTF8.self) {
            return .raw(text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return String(validating: bytes, as: UTF8.self).map { .string($0) } ?? .null
    }

    /// The name of this value's JSON type, for error messages.
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        case .raw: return "JSON"
        }
    }

    /// The member `key` of an object (nil for other values or a missing key).
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }

    // MARK: Writing

    /// The document as minified JSON text.
    var rendered: String {
        var out = ""
        write(to: &out)
        return out
    }

    /// The document as UTF-8 bytes.
    var bytes: [UInt8] { Array(rendered.utf8) }

    /// The document indented by two spaces per level, members in their order and numbers as
    /// written (for people: the dashboard). `raw` members are parsed and indented too.
    var pretty: String {
        var out = ""
        writePretty(to: &out, indent: "")
        return out
    }

    private func writePretty(to out: inout String, indent: String) {
        let inner = indent + "  "
        switch self {
        case .raw(let text):
            if let parsed = try? JSONParser.parse(Array(text.utf8), allowsRepeatedMembers: true) {
                parsed.writePretty(to: &out, indent: indent)
            } else {
                out += text
            }
        case .array(let items) where !items.isEmpty:
            out += "[\n"
            for (index, item) in items.enumerated() {
                out += inner
                item.writePretty(to: &out, indent: inner)
                out += index < items.count - 1 ? ",\n" : "\n"
            }
            out += indent + "]"
        case .object(let members) where !members.isEmpty:
            out += "{\n"
            for (index, (key, value)) in members.enumerated() {
                out += inner
                Self.writeString(key, to: &out)
                out += ": "
                value.writePretty(to: &out, indent: inner)
                out += index < members.count - 1 ? ",\n" : "\n"
            }
            out += indent + "}"
        default:
            write(to: &out)
        }
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let text): out += text
        case .string(let value): Self.writeString(value, to: &out)
        case .raw(let text): out += text
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out += "," }
                Self.writeString(key, to: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
