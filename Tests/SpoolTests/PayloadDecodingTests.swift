import Foundation
import Testing
import SpoolTesting

@testable import Spool

/// `JobPayload.decode(as:)` reads bytes with Spool's own JSON decoder first and falls back to
/// Foundation's for what it leaves. These tests hold it to its contract: for any bytes, it
/// either answers nothing or answers exactly what `JSONDecoder.spool` answers, and it never
/// answers where `JSONDecoder.spool` throws. They also check that it does answer for the usual
/// shapes (a decoder that always said nil would be correct and useless).
@Suite("Payload decoding")
struct PayloadDecodingTests {
    // MARK: Shapes

    struct Small: Codable, Equatable, Sendable {
        var index: Int
    }

    enum Kind: String, Codable, Equatable, Sendable {
        case small, large
    }

    enum Level: Int, Codable, Equatable, Sendable {
        case low = 1, high = 2
    }

    struct Mixed: Codable, Equatable, Sendable {
        var id: Int64
        var name: String
        var ratio: Double
        var enabled: Bool
        var tags: [String]
        var note: String?
        var kind: Kind
        var count: UInt8
    }

    struct Inner: Codable, Equatable, Sendable {
        var name: String
        var level: Level?
    }

    struct Nested: Codable, Equatable, Sendable {
        var inner: Inner
        var list: [Inner]
        var map: [String: Int]
        var optionalInner: Inner?
        var matrix: [[Int]]
        var holes: [Int?]
        var float: Float
        var small: Int8
        var big: UInt64
    }

    enum Shape: Codable, Equatable, Sendable {
        case circle(radius: Double)
        case square(side: Int)
        case empty
    }

    struct Token: RawRepresentable, Codable, Equatable, Sendable {
        var rawValue: String
    }

    struct Keyed: Codable, Equatable, Sendable {
        var byID: [Int: String]
    }

    struct Kelvin: Codable, Equatable, Sendable {
        var K: Int?
    }

    /// A key that is not ASCII but equals an ASCII one ("\u{212A}" == "K").
    struct KelvinSign: Codable, Equatable, Sendable {
        var kelvin: Int?
        enum CodingKeys: String, CodingKey { case kelvin = "\u{212A}" }
    }

    struct Dated: Codable, Equatable, Sendable {
        var when: Date
    }

    /// An `init(from:)` that swallows errors: whatever it caught must not make a value.
    struct Lenient: Decodable, Equatable, Sendable {
        var value: Int
        enum CodingKeys: CodingKey { case value }
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            value = (try? container.decode(Int.self, forKey: .value)) ?? -1
        }
    }

    /// An `init(from:)` that reads its coding path.
    struct PathLength: Decodable, Equatable, Sendable {
        var length: Int
        init(from decoder: any Decoder) throws {
            length = decoder.codingPath.count
        }
    }

    /// An `init(from:)` that keeps the order of `allKeys`, which JSONDecoder does not promise.
    struct KeyOrder: Decodable, Equatable, Sendable {
        var keys: [String]
        struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        init(from decoder: any Decoder) throws {
            keys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        }
    }

    /// Nested arrays as deep as the JSON goes.
    indirect enum Tree: Decodable, Equatable, Sendable {
        case node([Tree])
        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            var children: [Tree] = []
            while !container.isAtEnd { children.append(try container.decode(Tree.self)) }
            self = .node(children)
        }
    }

    class Base: Codable, @unchecked Sendable {
        var base = 1
    }

    /// Decodes through `superDecoder`, which Spool's decoder leaves to Foundation.
    final class Derived: Base, Equatable, @unchecked Sendable {
        var extra = 2
        enum Keys: CodingKey { case extra }
        required init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            extra = try container.decode(Int.self, forKey: .extra)
            try super.init(from: container.superDecoder())
        }
        static func == (lhs: Derived, rhs: Derived) -> Bool { lhs.base == rhs.base && lhs.extra == rhs.extra }
    }

    // MARK: The differential check

    /// Decodes `bytes` both ways and checks the contract; true when the fast path answered.
    @discardableResult
    func check<T: Decodable & Equatable>(
        _ bytes: [UInt8], as type: T.Type, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Bool {
        let fast = PayloadDecoder.decode(T.self, from: bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            let expected = try JSONDecoder.spool.decode(T.self, from: Data(bytes))
            if let fast {
                #expect(fast == expected, "\(T.self) from \(text.debugDescription)", sourceLocation: sourceLocation)
            }
        } catch {
            #expect(fast == nil, "\(T.self) from \(text.debugDescription): JSONDecoder threw \(error)", sourceLocation: sourceLocation)
        }
        return fast != nil
    }

    @discardableResult
    func check<T: Decodable & Equatable>(
        _ json: String, as type: T.Type, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Bool {
        check(Array(json.utf8), as: type, sourceLocation: sourceLocation)
    }

    /// Checks `json` and expects the fast path to answer it.
    func fast<T: Decodable & Equatable>(
        _ json: String, as type: T.Type, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(
            check(json, as: type, sourceLocation: sourceLocation), "\(T.self) from \(json.debugDescription) took the slow path",
            sourceLocation: sourceLocation)
    }
}
