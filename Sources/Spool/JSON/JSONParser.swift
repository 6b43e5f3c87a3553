// JSONParser: a JSON text to a JSONValue, without recursion.

/// The one strict RFC 8259 parser of the package: request bodies of the HTTP API, payloads the
/// CLI is given, stored JSON the API and dashboard show.
///
/// Stricter than RFC 8259 in one way (as I-JSON, RFC 7493, asks): an object with a member
/// name twice is refused, since readers disagree on which value wins (`{"jobs": [...],
/// "jobs": [...]}` would mean one batch here and another elsewhere). Names are compared as
/// written, code unit for code unit (Swift's `==` would take the NFC and NFD spellings of `é`
/// for one name; JSON and JSON Schema do not).
///
/// Arrays and objects may nest ``maximumDepth`` levels, the limit of the payload codec and of
/// Foundation's `JSONDecoder`. The parser keeps its open containers in an array rather than on
/// the call stack, so a document at the limit parses on any thread (a NIO event loop, a task
/// of the cooperative pool). Cost: one pass over the bytes, an array per array or object and a
/// `String` per string and number.
package enum JSONParser {
    /// The deepest nesting of arrays and objects accepted anywhere JSON is read: the HTTP API,
    /// the CLI, the payload codec.
    package static let maximumDepth = 512

    /// Parses one JSON document (surrounding whitespace allowed).
    /// - Parameter allowsRepeatedMembers: true to keep an object's repeated member names as
    ///   they are, for JSON already stored (a payload enqueued through the library) that is
    ///   only shown, never read by name; input leaves it false.
    /// - Throws: ``JSONSyntaxError`` naming the offending byte (and, for a repeated member
    ///   name, its path).
    package static func parse(_ bytes: [UInt8], allowsRepeatedMembers: Bool = false) throws(JSONSyntaxError) -> JSONValue {
        let result: Result<JSONValue, JSONSyntaxError> = bytes.withUnsafeBufferPointer { buffer in
            var parser = DocumentParser(scanner: JSONScanner(bytes: buffer), allowsRepeatedMembers: allowsRepeatedMembers)
            return Result { () throws(JSONSyntaxError) in try parser.document() }
        }
        return try result.get()
    }

    /// Whether `bytes` are one JSON document (repeated member names allowed, as for stored
    /// JSON).
    package static func isJSON(_ bytes: [UInt8]) -> Bool {
        (try? parse(bytes, allowsRepeatedMembers: true)) != nil
    }
}

/// The parse of one document: its containers still open, innermost last.
private struct DocumentParser {
    var scanner: JSONScanner
    let allowsRepeatedMembers: Bool

    /// An array or object being read, with what it holds so far.
    enum Open {
        case array([JSONValue])
        /// `key`: the name of the member whose value comes next; `names`: the names so far as
        /// bytes, once there are too many to scan.
        case object([(String, JSONValue)], key: String, names: Set<[UInt8]>)
    }

    var open: [Open] = []

    init(scanner: JSONScanner, allowsRepeatedMembers: Bool) {
        self.scanner = scanner
        self.allowsRepeatedMembers = allowsRepeatedMembers
    }

    mutating func document() throws(JSONSyntaxError) -> JSONValue {
        scanner.skipWhitespace()
        while true {
            // A value starts here: a scalar completes at once, a container opens (or is empty).
            var value: JSONValue
            let byte = try scanner.peek()
            switch byte {
            case ASCII.openBrace, ASCII.openBracket:
                guard open.count < JSONParser.maximumDepth else {
                    throw scanner.error("arrays and objects nested deeper than \(JSONParser.maximumDepth) levels")
                }
                scanner.index += 1
                let closing = byte == ASCII.openBrace ? ASCII.closeBrace : ASCII.closeBracket
                scanner.skipWhitespace()
                if scanner.current == closing {
                    scanner.index += 1
                    value = byte == ASCII.openBrace ? .object([]) : .array([])
                } else if byte == ASCII.openBrace {
                    var names: Set<[UInt8]> = []
                    let key = try memberName(after: [], names: &names)
                    open.append(.object([], key: key, names: names))
                    continue
                } else {
                    open.append(.array([]))
                    continue
                }
            case ASCII.quote: value = .string(try scanner.string())
            case UInt8(ascii: "t"): try scanner.literal("true"); value = .bool(true)
            case UInt8(ascii: "f"): try scanner.literal("false"); value = .bool(false)
            case UInt8(ascii: "n"): try scanner.literal("null"); value = .null
            case ASCII.minus, ASCII.zero...ASCII.nine:
                let range = try scanner.number()
                value = .number(String(decoding: UnsafeBufferPointer(rebasing: scanner.bytes[range]), as: UTF8.self))
            default: throw scanner.unexpected(byte)
            }
            // The value is complete: it joins the innermost open container, which may then close
            // and join the next one out.
            while true {
                guard let container = open.popLast() else {
                    try scanner.expectEnd()
                    return value
                }
                switch container {
                case .array(var items):
                    items.append(value)
                    scanner.skipWhitespace()
                    switch scanner.current {
                    case ASCII.comma:
                        scanner.index += 1
                        open.append(.array(items))
                    case ASCII.closeBracket:
                        scanner.index += 1
                        value = .array(items)
                        continue
                    default:
                        throw scanner.error("expected ',' or ']' in an array")
                    }
                case .object(var members, let key, var names):
                    members.append((key, value))
                    scanner.skipWhitespace()
                    switch scanner.current {
                    case ASCII.comma:
                        scanner.index += 1
                        let next = try memberName(after: members, names: &names)
                        open.append(.object(members, key: next, names: names))
                    case ASCII.closeBrace:
                        scanner.index += 1
                        value = .object(members)
                        continue
                    default:
                        throw scanner.error("expected ',' or '}' in an object")
                    }
                }
                break
            }
        }
    }

    /// A member's name and the `:` after it; refuses a name `members` already has.
    private mutating func memberName(after members: [(String, JSONValue)], names: inout Set<[UInt8]>) throws(JSONSyntaxError) -> String {
        scanner.skipWhitespace()
        guard scanner.current == ASCII.quote else { throw scanner.error("expected a member name in quotes") }
        let offset = scanner.index
        let key = try scanner.string()
        if !allowsRepeatedMembers {
            // Small objects (the usual request) are checked by a scan, larger ones through a set.
            let repeated: Bool
            if members.count < 16 {
                repeated = members.contains { $0.0.utf8.elementsEqual(key.utf8) }
            } else {
                if names.isEmpty { names = Set(members.map { Array($0.0.utf8) }) }
                repeated = !names.insert(Array(key.utf8)).inserted
            }
            if repeated {
                throw JSONSyntaxError(
                    offset: offset, reason: "member \"\(key)\" appears twice in one object", duplicateMember: path(to: key))
            }
        }
        scanner.skipWhitespace()
        guard scanner.current == ASCII.colon else { throw scanner.error("expected ':' after member name \"\(key)\"") }
        scanner.index += 1
        return key
    }

    /// The field path of member `key` of the innermost object (`jobs[2].queue`).
    private func path(to key: String) -> String {
        var path = key
        for container in open.reversed() {
            switch container {
            case .array(let items): path = "[\(items.count)]" + (path.hasPrefix("[") ? "" : ".") + path
            case .object(_, let name, _): path = name + (path.hasPrefix("[") ? "" : ".") + path
            }
        }
        return path
    }
}
