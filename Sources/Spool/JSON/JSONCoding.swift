// JSONCoding: `Encodable` values as JSON bytes, with the payload codec everywhere JSON is made
// from a Swift value (stored columns, webhook bodies, reports).
import Foundation

/// The one way the package turns an `Encodable` value into JSON: ``PayloadEncoder`` (a few
/// times faster than Foundation's), and `JSONEncoder` with the same rules for what it leaves.
package enum JSONCoding {
    /// `value` as minified JSON: keys sorted by their UTF-8 bytes, `/` not escaped, whole
    /// floating-point numbers without a fraction, dates ISO 8601.
    /// - Throws: `EncodingError` for what JSON cannot carry (a non-finite number).
    package static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        if let bytes = PayloadEncoder.encode(value) { return bytes }
        return Array(try JSONEncoder.spool.encode(value))
    }

    /// `value` as minified JSON text (see ``encode(_:)``).
    package static func text<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }
}
