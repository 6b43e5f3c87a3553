import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Encodes job parameters as JSON with far less work than Foundation's `JSONEncoder` (which
/// costs a few microseconds even for `{"id":1}`: a durable driver's enqueue spent a fifth of its
/// time there).
///
/// Output is what ``JSONEncoder/spool`` would decode to the same value: keys sorted (by their
/// UTF-8 bytes), `/` not escaped, dates as ISO 8601 in UTC without fractional seconds, `Data` as
/// base64, URLs as their absolute string. It handles the shapes parameters have: structs,
/// enums, arrays, dictionaries, optionals and the standard scalar types. Anything else (a
/// non-finite float, `Decimal`, `superEncoder`, a date outside years 1–9999) makes
/// ``encode(_:)`` return nil, and the caller uses `JSONEncoder` instead, which either encodes it
/// or says precisely why not.
enum PayloadEncoder {
    /// The value as JSON bytes, or nil when it needs `JSONEncoder` (see the type's summary).
    static func encode<T: Encodable>(_ value: T) -> [UInt8]? {
        let encoder = NodeEncoder(run: EncodingRun())
        do {
            guard let node = try encoder.node(for: value), !encoder.run.unsupported else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(64)
            node.write(to: &out)
            return out
        } catch {
            return nil
        }
    }
}

/// Something `PayloadEncoder` leaves to `JSONEncoder`.
private struct Unsupported: Error {}

/// What all encoders of one `encode` call share.
private final class EncodingRun {
    /// Set when something asked for what this encoder does not do (`superEncoder`), even if
    /// it then wrote nothing that failed.
    var unsupported = false
}

/// A JSON value under construction. Objects and arrays are boxes, so containers handed out
/// earlier keep filling them.
private enum Node {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case object(ObjectBox)
    case array(ArrayBox)

    func write(to out: inout [UInt8]) {
        switch self {
        case .null:
            out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])  // null
        case .bool(let value):
            out.append(contentsOf: value ? Array("true".utf8) : Array("false".utf8))
        case .int(let value):
            Node.writeDecimal(value.magnitude, negative: value < 0, to: &out)
        case .uint(let value):
            Node.writeDecimal(value, negative: false, to: &out)
        case .double(let value):
            out.append(contentsOf: value.description.utf8)
        case .string(let value):
            Node.writeString(value, to: &out)
        case .object(let box):
            box.write(to: &out)
        case .array(let box):
            out.append(UInt8(ascii: "["))
            for (index, item) in box.items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    static func writeDecimal(_ magnitude: UInt64, negative: Bool, to out: inout [UInt8]) {
        if negative { out.append(UInt8(ascii: "-")) }
        if magnitude < 10 {
            out.append(UInt8(ascii: "0") + UInt8(magnitude))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        withUnsafeMutableBytes(of: &digits) { buffer in
            var value = magnitude
            var index = buffer.count
            while value > 0 {
                index -= 1
                buffer[index] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
            out.append(contentsOf: buffer[index...])
        }
    }

    static func writeString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

private final class ObjectBox {
    var entries: [(key: String, value: Node)] = []

    func write(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        // Usually the keys come sorted already (one key, or declared in order): write them as
        // they are.
        var inOrder = true
        for index in entries.indices.dropFirst() where !entries[index - 1].key.utf8.lexicographicallyPrecedes(entries[index].key.utf8) {
            inOrder = false
            break
        }
        if inOrder {
            for (index, entry) in entries.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                Node.writeString(entry.key, to: &out)
                out.append(UInt8(ascii: ":"))
                entry.value.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
            return
        }
        // Sorted by key bytes; of a key encoded twice, the last value wins (as with JSONEncoder).
        let sorted = entries.enumerated().sorted { lhs, rhs in
            if lhs.element.key == rhs.element.key { return lhs.offset < rhs.offset }
            return lhs.element.key.utf8.lexicographicallyPrecedes(rhs.element.key.utf8)
        }
        var first = true
        for (index, entry) in sorted.enumerated() {
            if index + 1 < sorted.count && sorted[index + 1].element.key == entry.element.key { continue }
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            Node.writeString(entry.element.key, to: &out)
            out.append(UInt8(ascii: ":"))
            entry.element.value.write(to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}

private final class ArrayBox {
    var items: [Node] = []
}

/// The `Encoder` handed to `encode(to:)`: it records one value (a scalar, or a box its
/// containers fill). It keeps no coding path: errors are left to `JSONEncoder` to describe.
private final class NodeEncoder: Encoder {
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    let run: EncodingRun
    var value: Node?

    init(run: EncodingRun) {
        self.run = run
    }

    /// `value` as a node: the types JSONEncoder treats specially first, then the value's own
    /// encoding. Nil when it encoded nothing at all (JSONEncoder writes `{}` then; so do we).
    func node<T: Encodable>(for value: T) throws -> Node? {
        if let special = try Self.special(value) { return special }
        let child = NodeEncoder(run: run)
        try value.encode(to: child)
        return child.value ?? .object(ObjectBox())
    }

    static func special<T: Encodable>(_ value: T) throws -> Node? {
        // Compare types before casting: a dynamic cast of every value costs more than the rest
        // of encoding it.
        if T.self == Date.self, let date = value as? Date { return .string(try iso8601(date)) }
        if T.self == Data.self, let data = value as? Data { return .string(data.base64EncodedString()) }
        if T.self == URL.self, let url = value as? URL { return .string(url.absoluteString) }
        if T.self == Decimal.self { throw Unsupported() }
        return nil
    }

    /// `yyyy-MM-ddTHH:mm:ssZ` in UTC, whole seconds (as the `.iso8601` strategy writes).
    static func iso8601(_ date: Date) throws -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        guard seconds.isFinite, abs(seconds) < 2.5e11 else { throw Unsupported() }
        var time = time_t(seconds)
        var fields = tm()
        guard gmtime_r(&time, &fields) != nil else { throw Unsupported() }
        let year = Int(fields.tm_year) + 1900
        guard (1...9999).contains(year) else { throw Unsupported() }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let yearText = String(repeating: "0", count: 4 - String(year).count) + String(year)
        return "\(yearText)-\(two(fields.tm_mon + 1))-\(two(fields.tm_mday))T\(two(fields.tm_hour)):\(two(fields.tm_min)):\(two(fields.tm_sec))Z"
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box: ObjectBox
        if case .object(let existing) = value {
            box = existing
        } else {
            box = ObjectBox()
            value = .object(box)
        }
        return KeyedEncodingContainer(KeyedContainer<Key>(encoder: self, box: box))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let box: ArrayBox
        if case .array(let existing) = value {
            box = existing
        } else {
            box = ArrayBox()
            value = .array(box)
        }
        return UnkeyedContainer(encoder: self, box: box)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueContainer(encoder: self)
    }

    static func double(_ value: Double) throws -> Node {
        guard value.isFinite else { throw Unsupported() }
        // Whole numbers as integers, as JSONEncoder writes them (`1`, not `1.0`).
        if value == value.rounded(), abs(value) < 1e15 { return .int(Int64(value)) }
        return .double(value)
    }

    static func float(_ value: Float) throws -> Node {
        guard value.isFinite else { throw Unsupported() }
        if value == value.rounded(), abs(value) < 1e7 { return .int(Int64(value)) }
        // Float's own shortest form, read back as a Double, names the same Float.
        return .double(Double(value.description) ?? Double(value))
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: NodeEncoder
    let box: ObjectBox
    var codingPath: [any CodingKey] { [] }

    private func put(_ node: Node, _ key: Key) { box.entries.append((key.stringValue, node)) }

    mutating func encodeNil(forKey key: Key) throws { put(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(try NodeEncoder.double(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { put(try NodeEncoder.float(value), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(.int(Int64(value)), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(.int(value), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { put(.uint(UInt64(value)), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(.uint(UInt64(value)), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(.uint(UInt64(value)), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(.uint(UInt64(value)), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(.uint(value), key) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        put(try encoder.node(for: value) ?? .object(ObjectBox()), key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectBox()
        put(.object(nested), key)
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(encoder: encoder, box: nested))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = ArrayBox()
        put(.array(nested), key)
        return UnkeyedContainer(encoder: encoder, box: nested)
    }

    mutating func superEncoder() -> any Encoder {
        encoder.run.unsupported = true
        return UnsupportedEncoder()
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        encoder.run.unsupported = true
        return UnsupportedEncoder()
    }
}

/// Where unkeyed and single-value containers put what they are given.
private protocol NodeSink {
    var encoder: NodeEncoder { get }
    func put(_ node: Node)
}

// One set of scalar overloads serves both containers (their requirements match).
extension NodeSink {
    func encodeNil() throws { put(.null) }
    func encode(_ value: Bool) throws { put(.bool(value)) }
    func encode(_ value: String) throws { put(.string(value)) }
    func encode(_ value: Double) throws { put(try NodeEncoder.double(value)) }
    func encode(_ value: Float) throws { put(try NodeEncoder.float(value)) }
    func encode(_ value: Int) throws { put(.int(Int64(value))) }
    func encode(_ value: Int8) throws { put(.int(Int64(value))) }
    func encode(_ value: Int16) throws { put(.int(Int64(value))) }
    func encode(_ value: Int32) throws { put(.int(Int64(value))) }
    func encode(_ value: Int64) throws { put(.int(value)) }
    func encode(_ value: UInt) throws { put(.uint(UInt64(value))) }
    func encode(_ value: UInt8) throws { put(.uint(UInt64(value))) }
    func encode(_ value: UInt16) throws { put(.uint(UInt64(value))) }
    func encode(_ value: UInt32) throws { put(.uint(UInt64(value))) }
    func encode(_ value: UInt64) throws { put(.uint(value)) }
    func encode<T: Encodable>(_ value: T) throws {
        put(try encoder.node(for: value) ?? .object(ObjectBox()))
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer, NodeSink {
    let encoder: NodeEncoder
    let box: ArrayBox
    var codingPath: [any CodingKey] { [] }
    var count: Int { box.items.count }

    func put(_ node: Node) { box.items.append(node) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = ObjectBox()
        put(.object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(encoder: encoder, box: nested))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = ArrayBox()
        put(.array(nested))
        return UnkeyedContainer(encoder: encoder, box: nested)
    }

    mutating func superEncoder() -> any Encoder {
        encoder.run.unsupported = true
        return UnsupportedEncoder()
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer, NodeSink {
    let encoder: NodeEncoder
    var codingPath: [any CodingKey] { [] }

    func put(_ node: Node) { encoder.value = node }
}

/// What `superEncoder` returns: every use of it throws, so the whole value falls back to
/// `JSONEncoder`.
private struct UnsupportedEncoder: Encoder {
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(FailingKeyed<Key>())
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer { FailingUnkeyed() }
    func singleValueContainer() -> any SingleValueEncodingContainer { FailingSingle() }
}

private struct FailingKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    var codingPath: [any CodingKey] { [] }
    mutating func encodeNil(forKey key: Key) throws { throw Unsupported() }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { throw Unsupported() }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(FailingKeyed<NestedKey>())
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { FailingUnkeyed() }
    mutating func superEncoder() -> any Encoder { UnsupportedEncoder() }
    mutating func superEncoder(forKey key: Key) -> any Encoder { UnsupportedEncoder() }
}

private struct FailingUnkeyed: UnkeyedEncodingContainer {
    var codingPath: [any CodingKey] { [] }
    var count: Int { 0 }
    mutating func encodeNil() throws { throw Unsupported() }
    mutating func encode<T: Encodable>(_ value: T) throws { throw Unsupported() }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(FailingKeyed<NestedKey>())
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { FailingUnkeyed() }
    mutating func superEncoder() -> any Encoder { UnsupportedEncoder() }
}

private struct FailingSingle: SingleValueEncodingContainer {
    var codingPath: [any CodingKey] { [] }
    mutating func encodeNil() throws { throw Unsupported() }
    mutating func encode<T: Encodable>(_ value: T) throws { throw Unsupported() }
}
