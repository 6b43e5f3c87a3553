import Foundation
import Spool
import Testing

/// `JobPayload.encoded()` writes typed parameters with Spool's own JSON encoder (falling back
/// to Foundation's for what it does not handle). These tests hold it to Foundation's
/// `JSONEncoder` with Spool's settings: the same bytes for the usual shapes, the same value
/// back through `JSONDecoder` for everything.
@Suite("Payload encoding")
struct PayloadEncodingTests {
    static let foundation: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    struct Inner: Codable, Equatable, Sendable {
        var name: String
        var tags: [String]
    }

    enum Kind: String, Codable, Sendable {
        case small, large
    }

    struct Everything: Codable, Equatable, Sendable {
        var int = -42
        var min = Int64.min
        var max = UInt64.max
        var small: Int8 = -8
        var unsigned: UInt16 = 65_000
        var fraction = 0.1
        var tiny = 1e-7
        var whole = 3.0
        var float: Float = 1.5
        var flag = true
        var text = "quote \" backslash \\ slash / newline \n tab \t bell \u{07} é 😀"
        var missing: String? = nil
        var present: Int? = 7
        var list = [1, 2, 3]
        var nested = [Inner(name: "a", tags: []), Inner(name: "b", tags: ["x", "y"])]
        var map = ["zeta": 1, "alpha": 2, "Mid": 3]
        var kind = Kind.large
        var when = Date(timeIntervalSince1970: 1_795_000_000)
        var blob = Data([0, 1, 2, 250, 255])
        var link = URL(string: "https://example.com/a/b?c=d")!
        var empty: [String: Int] = [:]
    }

    @Test func writesTheSameBytesAsFoundation() throws {
        let values: [any Encodable & Sendable] = [
            Everything(), Inner(name: "", tags: ["\u{0}"]), [1, 2], ["b": [true, false]], "text", 12, -0.5, [Everything?.none],
        ]
        for value in values {
            let ours = try JobPayload(value: value).encoded()
            let theirs = Array(try Self.foundation.encode(value))
            #expect(String(decoding: ours, as: UTF8.self) == String(decoding: theirs, as: UTF8.self))
        }
    }

    @Test func decodesBackToTheSameValue() throws {
        var value = Everything()
        value.fraction = 123_456.789e10
        value.tiny = -2.5e-300
        value.whole = -1e15
        value.float = 3.4e38
        value.when = Date(timeIntervalSince1970: -2_000_000_000)
        let bytes = try JobPayload(value: value).encoded()
        #expect(try Self.decoder.decode(Everything.self, from: Data(bytes)) == value)
    }

    /// A class that encodes through `superEncoder`, which Spool's encoder leaves to Foundation.
    class Base: Codable, @unchecked Sendable {
        var base = 1
    }

    final class Derived: Base, @unchecked Sendable {
        var extra = 2
        enum Keys: CodingKey { case extra }
        override func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(extra, forKey: .extra)
            try super.encode(to: container.superEncoder())
        }
    }

    @Test func whatItDoesNotHandleGoesToFoundation() throws {
        for value: any Encodable & Sendable in [Decimal(string: "12.5")!, Derived(), [Date(timeIntervalSince1970: 1e13)]] {
            let ours = try JobPayload(value: value).encoded()
            #expect(ours == Array(try Self.foundation.encode(value)))
        }
        // Not encodable at all: the same clear error as before.
        #expect(throws: SpoolError.self) { _ = try JobPayload(value: Double.nan).encoded() }
        #expect(throws: SpoolError.self) { _ = try JobPayload(value: ["x": Float.infinity]).encoded() }
    }
}
