import Foundation
import Spool

/// A JSON document the CLI prints: keys keep the order they are written in (so `id` comes
/// first), and stored JSON (payloads, results) is embedded as it is rather than re-encoded, so
/// numbers keep their exact digits.
indirect enum JSONOut: Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    /// Already-valid, minified JSON text, embedded verbatim.
    case raw(String)
    case array([JSONOut])
    case object([(String, JSONOut)])

    /// `value` as a string, or null.
    static func orNull(_ value: String?) -> JSONOut { value.map { .string($0) } ?? .null }
    /// `value` in RFC 3339 UTC with milliseconds, or null.
    static func time(_ value: Date?) -> JSONOut { value.map { .string(TimeText.rfc3339($0)) } ?? .null }

    /// The document on one line.
    var rendered: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .double(let value): out += value.isFinite ? "\(value)" : "null"
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
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// Stored bytes (a payload or a result) for JSON output: embedded as JSON when they are JSON,
/// else a string of their text, else base64; the second value names which (`json`, `text`,
/// `base64`).
func storedBytes(_ bytes: [UInt8]) -> (value: JSONOut, format: String) {
    if let text = String(validating: bytes, as: UTF8.self) {
        if (try? JSONCheck.validate(text)) != nil { return (.raw(JSONCheck.minified(text)), "json") }
        return (.string(text), "text")
    }
    return (.string(Data(bytes).base64EncodedString()), "base64")
}

extension JSONCheck {
    /// Valid JSON `text` without the whitespace between tokens (strings are kept as they are).
    static func minified(_ text: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        var inString = false
        var escaped = false
        for byte in text.utf8 {
            if inString {
                out.append(byte)
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                continue
            case UInt8(ascii: "\""):
                inString = true
                out.append(byte)
            default:
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension JobRecord {
    /// The job as the CLI prints it with `--json` (the same fields as the HTTP API's job).
    var json: JSONOut {
        let payloadBytes = (try? payload.encoded()) ?? []
        let (payloadValue, payloadFormat) = storedBytes(payloadBytes)
        var members: [(String, JSONOut)] = [
            ("id", .string(id.description)),
            ("kind", .string(kind)),
            ("queue", .string(queue)),
            ("state", .string(state.rawValue)),
            ("priority", .int(priority)),
            ("attempt", .int(attempt)),
            ("max_attempts", .int(maxAttempts)),
            ("run_at", .time(runAt)),
            ("created_at", .time(createdAt)),
            ("attempted_at", .time(attemptedAt)),
            ("finished_at", .time(finishedAt)),
            ("lease_owner", .orNull(leaseOwner)),
            ("lease_expires_at", .time(leaseExpiresAt)),
            ("unique_key", .orNull(uniqueKey)),
            ("timeout_s", timeout.map { .double(Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) } ?? .null),
            ("payload", payloadValue),
            ("payload_format", .string(payloadFormat)),
        ]
        if let result {
            let (value, format) = storedBytes(result)
            members += [("result", value), ("result_format", .string(format))]
        } else {
            members += [("result", .null), ("result_format", .null)]
        }
        members += [
            ("progress", progress.map { .object([("fraction", .double($0.fraction)), ("message", .orNull($0.message))]) } ?? .null),
            ("errors", .array(errors.map { error in
                .object([
                    ("attempt", .int(error.attempt)), ("at", .time(error.at)),
                    ("reason", .string(error.reason)), ("message", .string(error.message)),
                ])
            })),
            ("expired_leases", .int(expiredLeases)),
            ("metadata", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
        ]
        return .object(members)
    }
}
