// PayloadDecoder: the Decoder handed to init(from:) and its keyed, unkeyed and single-value containers.
import Foundation

/// `[String: Value]`: the type that reads `allKeys` in any order and gets the same value.
private protocol StringKeyedDictionary {}

extension Dictionary: StringKeyedDictionary where Key == String {}

/// The coding key type of the standard library's `Dictionary.init(from:)`.
private let dictionaryCodingKey = ObjectIdentifier(type(of: "".codingKey))

/// The `Decoder` handed to `init(from:)`, and its single-value container. It keeps no coding
/// path: a type that asks for one is left to `JSONDecoder`.
final class ValueDecoder: Decoder, SingleValueDecodingContainer {
    let value: PayloadValue
    /// The type being decoded (whose `init(from:)` this is handed to).
    let type: Any.Type
    let run: DecodingRun

    init(value: PayloadValue, type: Any.Type, run: DecodingRun) {
        self.value = value
        self.type = type
        self.run = run
    }

    var codingPath: [any CodingKey] {
        run.unsupported = true
        return []
    }

    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy keyType: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let anyOrder = ObjectIdentifier(Key.self) == dictionaryCodingKey && type is any StringKeyedDictionary.Type
        return KeyedDecodingContainer(try KeyedContainer<Key>(value: value, run: run, anyOrder: anyOrder))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try UnkeyedContainer(value: value, run: run)
    }

    func singleValueContainer() -> any SingleValueDecodingContainer {
        self
    }

    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }

    func decode(_ type: Bool.Type) throws -> Bool { try run.bool(value) }
    func decode(_ type: String.Type) throws -> String { try run.string(value) }
    func decode(_ type: Double.Type) throws -> Double { try run.double(value) }
    func decode(_ type: Float.Type) throws -> Float { try run.float(value) }
    func decode(_ type: Int.Type) throws -> Int { try run.integer(value) }
    func decode(_ type: Int8.Type) throws -> Int8 { try run.integer(value) }
    func decode(_ type: Int16.Type) throws -> Int16 { try run.integer(value) }
    func decode(_ type: Int32.Type) throws -> Int32 { try run.integer(value) }
    func decode(_ type: Int64.Type) throws -> Int64 { try run.integer(value) }
    func decode(_ type: Int128.Type) throws -> Int128 { throw run.fail() }
    func decode(_ type: UInt.Type) throws -> UInt { try run.integer(value) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try run.integer(value) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try run.integer(value) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try run.integer(value) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try run.integer(value) }
    func decode(_ type: UInt128.Type) throws -> UInt128 { throw run.fail() }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try run.decode(T.self, from: value) }
}

/// An object's members, looked up as `JSONDecoder` looks them up: by `String` equality (so
/// canonically equivalent keys match; plain ASCII names among plain ASCII keys are compared as
/// bytes, which is the same), linearly for the few members of a struct, through an index for
/// larger objects.
private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    /// Objects with more members than this get an index.
    static var linearLimit: Int { 12 }

    let members: [Member]
    let asciiKeys: Bool
    let run: DecodingRun
    /// Whether the reader takes `allKeys` in any order to the same value (`[String: Value]`).
    let anyOrder: Bool
    let index: [String: Int]?

    init(value: PayloadValue, run: DecodingRun, anyOrder: Bool = false) throws {
        guard case .object(let members, let asciiKeys) = value else { throw run.fail() }
        self.members = members
        self.asciiKeys = asciiKeys
        self.run = run
        self.anyOrder = anyOrder
        // A key seen twice (JSONDecoder keeps the first): left to JSONDecoder.
        if members.count <= Self.linearLimit {
            index = nil
            if asciiKeys {
                let duplicated = run.bytes.withUnsafeBufferPointer { bytes in
                    members.indices.dropFirst().contains { later in
                        (0..<later).contains { earlier in Self.same(members[earlier].key, members[later].key, in: bytes) }
                    }
                }
                if duplicated { throw run.fail() }
            } else {
                let names = members.map { run.text(of: $0.key) }
                for later in names.indices.dropFirst() {
                    for earlier in 0..<later where names[earlier] == names[later] { throw run.fail() }
                }
            }
        } else {
            var index = [String: Int](minimumCapacity: members.count)
            for (position, member) in members.enumerated() where index.updateValue(position, forKey: run.text(of: member.key)) != nil {
                throw run.fail()
            }
            self.index = index
        }
    }

    /// Whether two ASCII keys have the same bytes.
    private static func same(_ lhs: MemberKey, _ rhs: MemberKey, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard case .ascii(let lhsStart, let lhsEnd) = lhs, case .ascii(let rhsStart, let rhsEnd) = rhs,
            lhsEnd - lhsStart == rhsEnd - rhsStart
        else { return false }
        return bytes[lhsStart..<lhsEnd].elementsEqual(bytes[rhsStart..<rhsEnd])
    }

    var codingPath: [any CodingKey] {
        run.unsupported = true
        return []
    }

    /// The keys in the order of the bytes. JSONDecoder gives them in its dictionary's hash
    /// order, which changes from run to run: more than one key is left to it, unless the
    /// reader is a `[String: Value]`.
    var allKeys: [Key] {
        let keys = members.compactMap { Key(stringValue: run.text(of: $0.key)) }
        if keys.count > 1, !anyOrder { run.unsupported = true }
        return keys
    }

    private func lookUp(_ key: Key) -> PayloadValue? {
        var name = key.stringValue
        if let index { return index[name].map { members[$0].value } }
        if asciiKeys {
            let members = members
            let found: Int?? = name.withUTF8 { name in
                // A non-ASCII name may still equal an ASCII key ("\u{212A}" is "K").
                guard name.allSatisfy({ $0 < 0x80 }) else { return nil }
                return run.bytes.withUnsafeBufferPointer { bytes in
                    members.firstIndex { member in
                        guard case .ascii(let start, let end) = member.key, end - start == name.count else { return false }
                        return bytes[start..<end].elementsEqual(name)
                    }
                }
            }
            if let found { return found.map { members[$0].value } }
        }
        for member in members where run.text(of: member.key) == name { return member.value }
        return nil
    }

    private func value(_ key: Key) throws -> PayloadValue {
        guard let value = lookUp(key) else { throw run.fail() }
        return value
    }

    /// The value, or nil when the key is missing or null (as `decodeIfPresent` wants).
    private func present(_ key: Key) -> PayloadValue? {
        guard let value = lookUp(key) else { return nil }
        if case .null = value { return nil }
        return value
    }

    func contains(_ key: Key) -> Bool { lookUp(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try value(key) { return true }
        return false
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try run.bool(value(key)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try run.string(value(key)) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try run.double(value(key)) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try run.float(value(key)) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try run.integer(value(key)) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try run.integer(value(key)) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try run.integer(value(key)) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try run.integer(value(key)) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try run.integer(value(key)) }
    func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { throw run.fail() }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try run.integer(value(key)) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try run.integer(value(key)) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try run.integer(value(key)) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try run.integer(value(key)) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try run.integer(value(key)) }
    func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { throw run.fail() }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try run.decode(T.self, from: value(key)) }

    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try present(key).map(run.bool) }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try present(key).map(run.string) }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try present(key).map(run.double) }
    func decodeIfPresent(_ type: Float.Type, forKey key: Key) throws -> Float? { try present(key).map(run.float) }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: Int8.Type, forKey key: Key) throws -> Int8? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: Int16.Type, forKey key: Key) throws -> Int16? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: Int32.Type, forKey key: Key) throws -> Int32? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: UInt.Type, forKey key: Key) throws -> UInt? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: UInt8.Type, forKey key: Key) throws -> UInt8? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: UInt16.Type, forKey key: Key) throws -> UInt16? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try present(key).map(run.integer) }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try present(key).map(run.integer) }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try present(key).map { try run.decode(T.self, from: $0) }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(try KeyedContainer<NestedKey>(value: value(key), run: run))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try UnkeyedContainer(value: value(key), run: run)
    }

    func superDecoder() throws -> any Decoder { throw run.fail() }
    func superDecoder(forKey key: Key) throws -> any Decoder { throw run.fail() }
}

/// An array's items in order. Like `JSONDecoder`'s: a failed decode does not advance, and
/// `decodeIfPresent` advances even past the end.
private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let items: [PayloadValue]
    let run: DecodingRun
    private(set) var currentIndex = 0

    init(value: PayloadValue, run: DecodingRun) throws {
        guard case .array(let items) = value else { throw run.fail() }
        self.items = items
        self.run = run
    }

    var codingPath: [any CodingKey] {
        run.unsupported = true
        return []
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    /// The next item decoded by `read`; the index moves past it only when that succeeds.
    private mutating func next<T>(_ read: (PayloadValue) throws -> T) throws -> T {
        guard currentIndex < items.count else { throw run.fail() }
        let result = try read(items[currentIndex])
        currentIndex += 1
        return result
    }

    /// Nil for the end or a null, else the next item decoded by `read`; the index moves on
    /// unless `read` throws.
    private mutating func nextIfPresent<T>(_ read: (PayloadValue) throws -> T) throws -> T? {
        var result: T?
        if currentIndex < items.count {
            if case .null = items[currentIndex] {
                result = nil
            } else {
                result = try read(items[currentIndex])
            }
        }
        currentIndex += 1
        return result
    }

    mutating func decodeNil() throws -> Bool {
        guard currentIndex < items.count else { throw run.fail() }
        guard case .null = items[currentIndex] else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try next(run.bool) }
    mutating func decode(_ type: String.Type) throws -> String { try next(run.string) }
    mutating func decode(_ type: Double.Type) throws -> Double { try next(run.double) }
    mutating func decode(_ type: Float.Type) throws -> Float { try next(run.float) }
    mutating func decode(_ type: Int.Type) throws -> Int { try next(run.integer) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(run.integer) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(run.integer) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(run.integer) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(run.integer) }
    mutating func decode(_ type: Int128.Type) throws -> Int128 { throw run.fail() }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try next(run.integer) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(run.integer) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(run.integer) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(run.integer) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(run.integer) }
    mutating func decode(_ type: UInt128.Type) throws -> UInt128 { throw run.fail() }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let run = run
        return try next { try run.decode(T.self, from: $0) }
    }

    mutating func decodeIfPresent(_ type: Bool.Type) throws -> Bool? { try nextIfPresent(run.bool) }
    mutating func decodeIfPresent(_ type: String.Type) throws -> String? { try nextIfPresent(run.string) }
    mutating func decodeIfPresent(_ type: Double.Type) throws -> Double? { try nextIfPresent(run.double) }
    mutating func decodeIfPresent(_ type: Float.Type) throws -> Float? { try nextIfPresent(run.float) }
    mutating func decodeIfPresent(_ type: Int.Type) throws -> Int? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: Int8.Type) throws -> Int8? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: Int16.Type) throws -> Int16? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: Int32.Type) throws -> Int32? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: Int64.Type) throws -> Int64? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: UInt.Type) throws -> UInt? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: UInt8.Type) throws -> UInt8? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: UInt16.Type) throws -> UInt16? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: UInt32.Type) throws -> UInt32? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent(_ type: UInt64.Type) throws -> UInt64? { try nextIfPresent(run.integer) }
    mutating func decodeIfPresent<T: Decodable>(_ type: T.Type) throws -> T? {
        let run = run
        return try nextIfPresent { try run.decode(T.self, from: $0) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let run = run
        return KeyedDecodingContainer(try next { try KeyedContainer<NestedKey>(value: $0, run: run) })
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let run = run
        return try next { try UnkeyedContainer(value: $0, run: run) }
    }

    mutating func superDecoder() throws -> any Decoder { throw run.fail() }
}
