import Foundation
import Spool

extension JSONValue {
    /// `value` as an RFC 3339 UTC time with milliseconds (``RFC3339``), or null.
    package static func time(_ value: Date?) -> JSONValue { value.map { .string(RFC3339.format($0)) } ?? .null }
}
