import Foundation
import Spool

/// Any JSON value, as the body of an ``HTTPJob``: what the payload's `body` held, sent on as
/// JSON.
///
/// Whole numbers within 64 bits stay exact; other numbers are `Double`s. Object members are sent
/// in sorted key order.
public enum JSONBody: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONBody])
    case object([String: JSONBody])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONBody].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONBody].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The value as JSON text, members in sorted key order, written by the package's one JSON
    /// encoder.
    /// - Throws: `EncodingError` for a number JSON cannot carry (infinity, NaN).
    public func encoded() throws -> [UInt8] {
        try JSONCoding.encode(self)
    }
}
