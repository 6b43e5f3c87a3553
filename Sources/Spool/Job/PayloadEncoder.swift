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
            let node = try encoder.node(for: value)
            guard !encoder.run.unsupported else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(64)
            node.write(to: &out)
            return out
        } catch {
            return nil
        }
    }
}

/// What all encoders of one `encode` call share.
private final class EncodingRun {
    /// Set when something asked for what this encoder does not do (`superEncoder`): the
    /// output is then left to `JSONEncoder`, whatever was written.
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
            out.append(contentsOf: String(value).utf8)
        case .uint(let value):
            out.append(contentsOf: String(value).utf8)
        case .double(let value):
            out.append(contentsOf: value.description.utf8)
        case .string(let value):
            JSONWriter.writeString(value, to: &out)
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
}

private final class ObjectBox {
    var entries: [(key: String, value: Node)] = []

    func write(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (index, entry) in inKeyOrder().enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.writeString(entry.key, to: &out)
            out.append(UInt8(ascii: ":"))
            entry.value.write(to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The entries sorted by key bytes; of a key encoded twice, the last value wins (as with
    /// JSONEncoder). Usually they come sorted already (one key, or declared in order).
    private func inKeyOrder() -> [(key: String, value: Node)] {
        let precedes = { (lhs: String, rhs: String) in lhs.utf8.lexicographicallyPrecedes(rhs.utf8) }
        if entries.indices.dropFirst().allSatisfy({ precedes(entries[$0 - 1].key, entries[$0].key) }) { return entries }
        let sorted = entries.enumerated().sorted { lhs, rhs in
            lhs.element.key == rhs.element.key ? lhs.offset < rhs.offset : precedes(lhs.element.key, rhs.element.key)
        }
        return sorted.indices.compactMap { index in
            index + 1 < sorted.count && sorted[index + 1].element.key == sorted[index].element.key ? nil : sorted[index].element
        }
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
    /// encoding (`{}` when it encoded nothing at all, as JSONEncoder writes).
    func node<T: Encodable>(for value: T) throws -> Node {
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
        return
            "\(yearText)-\(two(fields.tm_mon + 1))-\(two(fields.tm_mday))T\(two(fields.tm_hour)):\(two(fields.tm_min)):\(two(fields.tm_sec))Z"
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

    /// What `superEncoder` returns: marks the run as needing `JSONEncoder` (so nothing encoded
    /// here is used) and gives a throwaway encoder to write into.
    func unsupported() -> any Encoder {
        run.unsupported = true
        return NodeEncoder(run: run)
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
        put(try encoder.node(for: value), key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
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
        encoder.unsupported()
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        encoder.unsupported()
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
        put(try encoder.node(for: value))
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
        encoder.unsupported()
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer, NodeSink {
    let encoder: NodeEncoder
    var codingPath: [any CodingKey] { [] }

    func put(_ node: Node) { encoder.value = node }
}
