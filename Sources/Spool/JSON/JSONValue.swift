// JSONValue: a JSON document as the server and the CLI read and write it.

/// A JSON document as the HTTP API, the dashboard and the CLI read and write it.
///
/// Objects keep their members in order (so `id` is written first), numbers keep the exact digits
/// they were written with, and stored JSON (payloads, results) is embedded as it is (`raw`)
/// rather than re-encoded: nothing a client sends is rounded or reordered on its way to storage.
/// Read one with ``JSONParser``; write one with ``rendered``, ``bytes`` or ``pretty``.
package indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number as written (valid JSON number syntax).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])
    /// Already-valid, minified JSON text, written verbatim.
    case raw(String)

    package static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
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
    package static func int(_ value: Int) -> JSONValue { .number(String(value)) }

    /// A floating-point value: whole numbers below 10¹⁵ without a fraction (`2`, not `2.0`),
    /// others as Swift describes them; null when not finite.
    package static func double(_ value: Double) -> JSONValue {
        guard value.isFinite else { return .null }
        if value == value.rounded(), abs(value) < 1e15 { return .number(String(Int64(value))) }
        return .number("\(value)")
    }

    /// `value` as a string, or null.
    package static func string(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }

    /// Stored JSON bytes embedded as they are, minified (whitespace between tokens dropped,
    /// strings and numbers untouched), or null when there are none. Bytes that are not valid
    /// JSON are embedded as a JSON string of their UTF-8 text (or null for binary). Cost: a
    /// parse of the bytes (to check them) and a copy, never a re-encoding.
    package static func embedding(_ bytes: [UInt8]?) -> JSONValue {
        guard let bytes else { return .null }
        guard JSONParser.isJSON(bytes) else { return String(validating: bytes, as: UTF8.self).map { .string($0) } ?? .null }
        return .raw(minified(bytes))
    }

    /// Valid JSON `bytes` without the whitespace between tokens.
    private static func minified(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                out.append(byte)
                if escaped {
                    escaped = false
                } else if byte == ASCII.backslash {
                    escaped = true
                } else if byte == ASCII.quote {
                    inString = false
                }
                continue
            }
            switch byte {
            case 0x20, 0x09, 0x0A, 0x0D: continue
            case ASCII.quote: inString = true
            default: break
            }
            out.append(byte)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The name of this value's JSON type, for error messages.
    package var typeName: String {
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
    package subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == key }?.1
    }
}
