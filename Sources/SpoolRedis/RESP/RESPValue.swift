/// One reply (or one element of a reply) of the Redis serialization protocol, RESP2 or RESP3.
///
/// Internal to the driver: the storage turns replies into job records and never hands them out.
enum RESPValue: Sendable, Hashable {
    /// `+OK`: a status line.
    case simpleString([UInt8])
    /// `-ERR …` or a RESP3 blob error `!`: the server refused the command.
    case error(String)
    /// `:42`.
    case integer(Int64)
    /// `$5\r\nhello`: binary-safe bytes.
    case bulkString([UInt8])
    /// `$-1`, `*-1` (RESP2) or `_` (RESP3).
    case null
    /// `*2 …`.
    case array([RESPValue])
    /// RESP3 `%`: key-value pairs in the server's order.
    case map([RESPPair])
    /// RESP3 `~`.
    case set([RESPValue])
    /// RESP3 `,` (including `inf`, `-inf`, `nan`).
    case double(Double)
    /// RESP3 `#t` / `#f`.
    case boolean(Bool)
    /// RESP3 `(`: an integer too large for 64 bits, kept as its digits.
    case bigNumber(String)
    /// RESP3 `=`: text with a three-letter format (`txt`, `mkd`).
    case verbatim(format: String, text: [UInt8])
    /// RESP3 `>`: an out-of-band message (pub/sub, client tracking), not a reply to a command.
    case push([RESPValue])

    /// The bytes of a string-like reply (simple, bulk, verbatim), or the decimal form of an
    /// integer; nil otherwise.
    var bytes: [UInt8]? {
        switch self {
        case .simpleString(let bytes), .bulkString(let bytes): return bytes
        case .verbatim(_, let text): return text
        case .integer(let value): return Array(String(value).utf8)
        case .bigNumber(let digits): return Array(digits.utf8)
        default: return nil
        }
    }

    /// The reply as text (see ``bytes``), nil when it is not string-like or not UTF-8.
    var string: String? {
        bytes.flatMap { String(validating: $0, as: UTF8.self) }
    }

    /// The reply as an integer: an integer reply, or a string of decimal digits.
    var int: Int64? {
        switch self {
        case .integer(let value): return value
        case .double(let value): return value.rounded() == value && abs(value) < 9.2e18 ? Int64(value) : nil
        default: return string.flatMap { Int64($0) }
        }
    }

    /// The elements of an aggregate reply (array, set, push; a map flattened to key, value, …).
    var elements: [RESPValue]? {
        switch self {
        case .array(let values), .set(let values), .push(let values): return values
        case .map(let pairs): return pairs.flatMap { [$0.key, $0.value] }
        default: return nil
        }
    }

    /// True for `null`.
    var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// One entry of a RESP3 map.
struct RESPPair: Sendable, Hashable {
    var key: RESPValue
    var value: RESPValue
}
