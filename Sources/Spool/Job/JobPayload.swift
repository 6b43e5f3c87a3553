import Foundation

/// A job's parameters: encoded bytes (JSON for `Codable` parameters), or, for an in-process
/// driver, the typed value itself so that no encode/decode round-trip is paid.
///
/// Durable drivers call ``encoded()`` and store the bytes; the memory driver keeps the value as
/// it is and encodes only when someone inspects the job.
public struct JobPayload: Sendable {
    @usableFromInline
    enum Storage: Sendable {
        case bytes([UInt8])
        case value(any Encodable & Sendable)
    }

    @usableFromInline
    let storage: Storage

    /// A payload of already-encoded bytes (what a durable driver reads back, or what the HTTP
    /// API receives).
    public init(bytes: [UInt8]) {
        storage = .bytes(bytes)
    }

    /// A payload holding a typed value; encoded to JSON only when needed.
    public init(value: some Encodable & Sendable) {
        storage = .value(value)
    }

    /// The payload's bytes: the stored bytes, or the value encoded as JSON (sorted keys).
    ///
    /// - Throws: ``SpoolError`` (`unencodablePayload`) when the value cannot be encoded.
    public func encoded() throws -> [UInt8] {
        switch storage {
        case .bytes(let bytes):
            return bytes
        case .value(let value):
            do {
                return try JSONCoding.encode(value)
            } catch {
                throw SpoolError(code: .unencodablePayload, message: "the job's parameters could not be encoded as JSON: \(error)")
            }
        }
    }

    /// Decodes the payload as `P`, using the held value when it already is one.
    ///
    /// - Throws: ``SpoolError`` (`undecodablePayload`) saying why decoding failed.
    @inlinable
    public func decode<P: Decodable>(as type: P.Type) throws -> P {
        switch storage {
        case .value(let value):
            if let typed = value as? P { return typed }
            return try Self.decodeBytes(try encoded(), as: type)
        case .bytes(let bytes):
            return try Self.decodeBytes(bytes, as: type)
        }
    }

    /// `bytes` as `P`: Spool's own decoder when it can, `JSONDecoder` (and its error) otherwise.
    @usableFromInline
    static func decodeBytes<P: Decodable>(_ bytes: [UInt8], as type: P.Type) throws -> P {
        do {
            return try PayloadDecoder.decode(P.self, from: bytes, orWith: .spool)
        } catch {
            throw SpoolError(
                code: .undecodablePayload,
                message: "the payload is not a valid \(P.self): \(describe(decodingError: error))"
            )
        }
    }

    /// The payload as text for inspection (JSON for JSON payloads, otherwise a byte count).
    public var text: String {
        guard let bytes = try? encoded() else { return "<unencodable>" }
        return String(validating: bytes, as: UTF8.self) ?? "<\(bytes.count) bytes>"
    }
}

/// A short, human sentence for a decoding error (the default description is long and nested).
func describe(decodingError error: any Error) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "the top level" : "'" + keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") + "'"
    }
    switch error {
    case .keyNotFound(let key, let context):
        return "missing field '\(key.stringValue)' at \(path(context.codingPath))"
    case .typeMismatch(let type, let context):
        return "expected \(type) at \(path(context.codingPath))"
    case .valueNotFound(let type, let context):
        return "expected \(type) at \(path(context.codingPath)) but found null"
    case .dataCorrupted(let context):
        let underlying = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
        return "\(context.debugDescription) at \(path(context.codingPath))" + (underlying.map { " (\($0))" } ?? "")
    @unknown default:
        return "\(error)"
    }
}

extension JSONEncoder {
    /// The encoder Spool uses for payloads and results: sorted keys, ISO 8601 dates. One
    /// shared instance (encoding is thread-safe; making an encoder per payload cost as much as
    /// encoding a small one).
    static let spool: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
}

extension JSONDecoder {
    /// The decoder Spool uses for payloads: ISO 8601 dates. One shared instance.
    static let spool: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
