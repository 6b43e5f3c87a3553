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

    // MARK: Tests

    @Test func integers() {
        let inputs = [
            "0", "-0", "7", "123", " 123 ", "\n\t123\r", "-1", "127", "128", "-128", "-129", "255", "256", "65535", "65536",
            "2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
            "18446744073709551615", "18446744073709551616", "99999999999999999999999",
            "1.0", "1.5", "-0.0", "1e2", "1E2", "1e-2", "1.0000000000000001", "01", "-01", "+1", "1.", ".5", "-", "--1",
            "", " ", "\"1\"", "null", "true", "[1]", "{}", "1 2", "1,", "1]", "\u{FEFF}1", "\u{0663}", "0x10", "1_000",
        ]
        for input in inputs {
            check(input, as: Int.self)
            check(input, as: Int8.self)
            check(input, as: Int16.self)
            check(input, as: Int32.self)
            check(input, as: Int64.self)
            check(input, as: UInt.self)
            check(input, as: UInt8.self)
            check(input, as: UInt16.self)
            check(input, as: UInt32.self)
            check(input, as: UInt64.self)
        }
        fast("123", as: Int.self)
        fast("-0", as: Int.self)
        fast("-0", as: UInt8.self)
        fast("\n 42\t", as: UInt16.self)
        fast("-9223372036854775808", as: Int64.self)
        fast("18446744073709551615", as: UInt64.self)
        fast("-128", as: Int8.self)
        #expect(PayloadDecoder.decode(Int8.self, from: Array("128".utf8)) == nil)
        #expect(PayloadDecoder.decode(UInt.self, from: Array("-1".utf8)) == nil)
        #expect(PayloadDecoder.decode(Int.self, from: Array("1e2".utf8)) == nil)
    }

    static let floatingInputs = [
        "0", "-0", "0.0", "-0.0", "1", "-1", "0.1", "0.5", "1.5", "-2.25", "3.141592653589793", "3.14159265358979323846264338327950288",
        "0.30000000000000004", "1e5", "1E5", "1e+5", "1e-5", "-1.5e-7", "123.456e10", "2.5e-300", "1e22", "1e23", "1e-22", "1e-23",
        "9007199254740992", "9007199254740993", "18446744073709551617", "123456789012345678901234567890",
        "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "1e308", "1e309", "1e400", "-1e400",
        "2.2250738585072014e-308", "4.9e-324", "5e-324", "2e-324", "1e-400", "-1e-400", "0e500", "-0e-500", "0.000e-99999",
        "0.000000000000000000000000000000001", "100000000000000000000000", "1.00000000000000000000000000001",
        "3.4028235e38", "3.4028236e38", "3.5e38", "1e39", "1.17549435e-38", "1e-45", "1.4e-45", "7e-46", "1e-50",
        "16777216", "16777217", "0.1e1", "00", "01.5", "1.", ".5", "1e", "1e+", "-", "+1", "1.5e5.5", "NaN", "Infinity", "-Infinity",
        "\"1.5\"", "null", "true", "[1.5]", " 1.5 ", "1.5x",
    ]

    @Test func floatingPoint() {
        for input in Self.floatingInputs {
            check(input, as: Double.self)
            check(input, as: Float.self)
            // Bit for bit, so that -0.0 and rounding are held to JSONDecoder too.
            if let fast = PayloadDecoder.decode(Double.self, from: Array(input.utf8)) {
                let expected = try? JSONDecoder.spool.decode(Double.self, from: Data(input.utf8))
                #expect(fast.bitPattern == expected?.bitPattern, "Double from \(input)")
            }
            if let fast = PayloadDecoder.decode(Float.self, from: Array(input.utf8)) {
                let expected = try? JSONDecoder.spool.decode(Float.self, from: Data(input.utf8))
                #expect(fast.bitPattern == expected?.bitPattern, "Float from \(input)")
            }
        }
        fast("0.1", as: Double.self)
        fast("-0", as: Double.self)
        fast("123.456e10", as: Double.self)
        fast("9007199254740993", as: Double.self)
        fast("5e-324", as: Double.self)
        fast("0.1", as: Float.self)
        fast("16777217", as: Float.self)
        #expect(PayloadDecoder.decode(Double.self, from: Array("-0".utf8))?.sign == .minus)
    }

    /// Random numbers in the forms JSON writers produce, bit for bit against JSONDecoder.
    @Test func randomNumbers() {
        var random = SplitMix64(seed: 0x5EED)
        for _ in 0..<3000 {
            var texts = [
                Double(bitPattern: random.next()).description,
                Float(bitPattern: UInt32(truncatingIfNeeded: random.next())).description,
                String(Int64(bitPattern: random.next())),
                String(random.next() % 100_000) + "." + String(random.next() % 1_000_000),
            ]
            let digits = String((0..<Int(random.next() % 25 + 1)).map { _ in Character(String(random.next() % 10)) })
            texts.append("0." + digits + "e" + String(Int(random.next() % 700) - 350))
            texts.append("1" + digits)
            for text in texts {
                let bytes = Array(text.utf8)
                let double = try? JSONDecoder.spool.decode(Double.self, from: Data(bytes))
                if let fast = PayloadDecoder.decode(Double.self, from: bytes) {
                    #expect(fast.bitPattern == double?.bitPattern, "Double from \(text)")
                } else {
                    #expect(double == nil, "Double from \(text) took the slow path")
                }
                let float = try? JSONDecoder.spool.decode(Float.self, from: Data(bytes))
                if let fast = PayloadDecoder.decode(Float.self, from: bytes) {
                    #expect(fast.bitPattern == float?.bitPattern, "Float from \(text)")
                }
                let integer = try? JSONDecoder.spool.decode(Int64.self, from: Data(bytes))
                if let fast = PayloadDecoder.decode(Int64.self, from: bytes) {
                    #expect(fast == integer, "Int64 from \(text)")
                } else if !text.contains(".") && !text.contains("e") {
                    #expect(integer == nil, "Int64 from \(text) took the slow path")
                }
            }
        }
    }

    @Test func strings() {
        let inputs = [
            #""""#, #""abc""#, #""é""#, #""😀""#, #""a/b""#, #""\n\t\"\\\/\b\f\r""#, #""\u00e9""#, #""\u00E9""#, #""\u0000""#,
            #""\u001f""#, #""\u007f""#, #""\u0800""#, #""\uffff""#, #""\ud83d\ude00""#, #""x\uD83D\uDE00y""#, #""\ud83d""#,
            #""\ude00""#, #""\ud83d\u0041""#, #""\ud83dx""#, #""\ud83d\ud83d""#, #""\u12""#, #""\u12G4""#, #""\x""#, #""\'""#,
            #""\U00e9""#, "\"a\u{1}b\"", "\"a\tb\"", "\"a\nb\"", "\"a\u{7F}b\"", #""unterminated"#, #""a"b""#, #"  "spaced"  "#,
            #""\u212A""#, #""e\u0301""#, "\"e\u{301}\"", #"'single'"#, "null", "1", "[\"a\"]", #""\"#, #""\u"#, #""\ud83d\"#,
        ]
        for input in inputs {
            check(input, as: String.self)
        }
        let invalidUTF8: [[UInt8]] = [
            [0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
            [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x22, 0x5C, 0x6E, 0xFF, 0x22], [0x22, 0x61, 0x80, 0x22],
            [0xEF, 0xBB, 0xBF, 0x22, 0x61, 0x22], [0x22, 0x61, 0x22, 0x00], [0x31, 0x00],
        ]
        for bytes in invalidUTF8 {
            check(bytes, as: String.self)
            #expect(PayloadDecoder.decode(String.self, from: bytes) == nil)
        }
        fast(#""abc""#, as: String.self)
        fast(#""\n\t\"\\\/\b\f\r""#, as: String.self)
        fast(#""\u00e9 \ud83d\ude00""#, as: String.self)
        fast("\"é 😀\"", as: String.self)
        #expect(PayloadDecoder.decode(String.self, from: Array(#""\ud83d\ude00""#.utf8)) == "😀")
        #expect(PayloadDecoder.decode(String.self, from: Array(#""\ud83d""#.utf8)) == nil)
    }

    @Test func literals() {
        for input in ["true", "false", " true ", "tru", "truee", "True", "nul", "nulll", "1", "0", "\"true\"", "null", "[true]"] {
            check(input, as: Bool.self)
            check(input, as: Bool?.self)
            check(input, as: Int?.self)
        }
        fast("true", as: Bool.self)
        fast("null", as: Bool?.self)
        fast("null", as: Int?.self)
        fast("false", as: Bool?.self)
    }

    @Test func structs() {
        let small = [
            #"{"index":123}"#, #" {"index":123} "#, "{\n  \"index\" : 123\n}\n", #"{"index":123,"extra":[1,{"a":null}],"more":"x"}"#,
            #"{"extra":true,"index":-5}"#, #"{"index":"123"}"#, #"{"index":null}"#, #"{}"#, #"{"index":1,"index":2}"#, #"{"index":1,}"#,
            #"{"index":1.0}"#, #"{"index":1e2}"#, #"{"\u0069ndex":5}"#, #"{"index":5} x"#, #"[{"index":1}]"#, #"{"index":5"#,
            #"{"index"5}"#, #"{index:5}"#, #"{"index":5,"extra":"\ud800"}"#, #"{"index":5,"extra":01}"#, "null", "[]", "5",
            #"{"Index":5}"#, #"{"index ":5}"#, #"{"index":9223372036854775808}"#,
        ]
        for input in small {
            check(input, as: Small.self)
            check(input, as: Small?.self)
            check(input, as: [Small].self)
        }
        fast(#"{"index":123}"#, as: Small.self)
        fast(#" {"index":123} "#, as: Small.self)
        fast(#"{"index":123,"extra":[1,{"a":null}],"more":"x"}"#, as: Small.self)
        fast(#"{"\u0069ndex":5}"#, as: Small.self)
        fast(#"[{"index":1},{"index":2}]"#, as: [Small].self)
        fast("null", as: Small?.self)

        let mixed = #"{"count":3,"enabled":true,"id":42,"kind":"large","name":"report","note":"n","ratio":0.25,"tags":["a","b"]}"#
        fast(mixed, as: Mixed.self)
        fast(#"{"count":3,"enabled":true,"id":42,"kind":"large","name":"report","ratio":0.25,"tags":[]}"#, as: Mixed.self)
        fast(#"{"count":3,"enabled":true,"id":42,"kind":"large","name":"report","note":null,"ratio":0.25,"tags":[]}"#, as: Mixed.self)
        for broken in [
            mixed.replacingOccurrences(of: #""large""#, with: #""medium""#), mixed.replacingOccurrences(of: "3", with: "256"),
            mixed.replacingOccurrences(of: #"["a","b"]"#, with: "null"), mixed.replacingOccurrences(of: #""n""#, with: "1"),
            mixed.replacingOccurrences(of: "true", with: "1"), mixed.replacingOccurrences(of: #""id":42,"#, with: ""),
            mixed.replacingOccurrences(of: "0.25", with: "1e400"), mixed.replacingOccurrences(of: #"["a","b"]"#, with: #"["a",2]"#),
        ] {
            #expect(!check(broken, as: Mixed.self))
        }

        let nested = #"""
            {"big":18446744073709551615,"float":1.5,"holes":[1,null,3],"inner":{"level":2,"name":"a"},
             "list":[{"name":"b"},{"level":null,"name":"c"}],"map":{"x":1,"y":-2},"matrix":[[1,2],[],[3]],
             "optionalInner":null,"small":-8}
            """#
        fast(nested, as: Nested.self)
        check(nested.replacingOccurrences(of: #""level":2"#, with: #""level":3"#), as: Nested.self)
        check(nested.replacingOccurrences(of: #""x":1"#, with: #""x":null"#), as: Nested.self)
        check(nested.replacingOccurrences(of: "[3]]", with: "[3.5]]"), as: Nested.self)
        check(nested.replacingOccurrences(of: "-8", with: "-129"), as: Nested.self)
    }

    @Test func enumsAndWrappers() {
        for input in [#""small""#, #""large""#, #""medium""#, #""Small""#, "1", "null", #"["small"]"#] {
            check(input, as: Kind.self)
            check(input, as: Kind?.self)
            check(input, as: Token.self)
        }
        for input in ["1", "2", "3", "1.0", #""1""#, "null"] {
            check(input, as: Level.self)
        }
        for input in [
            #"{"circle":{"radius":1.5}}"#, #"{"square":{"side":2}}"#, #"{"empty":{}}"#, #"{"circle":{"radius":1},"square":{"side":2}}"#,
            #"{"square":{"side":2.5}}"#, #"{"triangle":{}}"#, #"{}"#, #""empty""#, #"{"circle":{}}"#,
        ] {
            check(input, as: Shape.self)
        }
        fast(#""large""#, as: Kind.self)
        fast("2", as: Level.self)
        fast(#""abc""#, as: Token.self)
        fast(#"{"circle":{"radius":1.5}}"#, as: Shape.self)
        fast(#"{"empty":{}}"#, as: Shape.self)
        fast(#"[{"square":{"side":2}},{"empty":{}}]"#, as: [Shape].self)
    }

    @Test func arraysAndDictionaries() {
        let inputs = [
            "[]", "[1,2,3]", " [ 1 , 2 ] ", "[1,]", "[,1]", "[1 2]", "[1,null,3]", "[[1],[2,3]]", "[", "]", "[1]]",
            #"{"b":1,"a":2}"#, #"{"a":1,"a":2}"#, #"{"a":null}"#, #"{"a":1,}"#, #"{"é":1,"e\u0301":2}"#, "{\"é\":1,\"e\u{301}\":2}",
            #"{"K":1,"\u212A":2}"#, #"{"\u212A":1}"#, #"{"":0}"#, #"{"1":2,"3":4}"#, #"{"a":{"b":1}}"#, "{}", "null",
        ]
        for input in inputs {
            check(input, as: [Int].self)
            check(input, as: [Int?].self)
            check(input, as: [[Int]].self)
            check(input, as: Set<Int>.self)
            check(input, as: [String: Int].self)
            check(input, as: [String: Int?].self)
            check(input, as: [String: [String: Int]].self)
            check(input, as: [Int: Int].self)
            check(input, as: Kelvin.self)
            check(input, as: KelvinSign.self)
            check(input, as: KeyOrder.self)
        }
        for input in [#"{"byID":{"1":"a"}}"#, #"{"byID":{"1":"a","2":"b"}}"#, #"{"byID":{"x":"a"}}"#, #"{"byID":["1","a"]}"#] {
            check(input, as: Keyed.self)
        }
        fast("[1,null,3]", as: [Int?].self)
        fast("[[1],[2,3]]", as: [[Int]].self)
        fast(#"{"b":1,"a":2}"#, as: [String: Int].self)
        fast(#"{"a":null}"#, as: [String: Int?].self)
        fast(#"{"a":{"b":1}}"#, as: [String: [String: Int]].self)
        fast(#"{"\u212A":1}"#, as: Kelvin.self)
        fast(#"{"K":1}"#, as: KelvinSign.self)
        fast(#"{"\u212A":1}"#, as: KelvinSign.self)
        #expect(PayloadDecoder.decode(KelvinSign.self, from: Array(#"{"K":1}"#.utf8)) == KelvinSign(kelvin: 1))
        fast(#"{"byID":{"1":"a"}}"#, as: Keyed.self)
        fast(#"{"only":1}"#, as: KeyOrder.self)
        // Larger objects are looked up through an index.
        let large = "{" + (0..<40).map { #""key\#($0)":\#($0)"# }.joined(separator: ",") + "}"
        fast(large, as: [String: Int].self)
        fast(large.replacingOccurrences(of: "key7", with: "index"), as: Small.self)
        check(large.replacingOccurrences(of: "key7", with: "key30"), as: [String: Int].self)
        check(large.replacingOccurrences(of: "key7", with: "k\\u0065y30"), as: [String: Int].self)
        #expect(PayloadDecoder.decode([String: Int].self, from: Array(large.replacingOccurrences(of: "key7", with: "key30").utf8)) == nil)
        check(large, as: [Int: Int].self)
        // Duplicates, canonically equal ones included, and more than one key in `allKeys` order.
        #expect(PayloadDecoder.decode([String: Int].self, from: Array(#"{"a":1,"a":2}"#.utf8)) == nil)
        #expect(PayloadDecoder.decode([String: Int].self, from: Array(#"{"é":1,"e\u0301":2}"#.utf8)) == nil)
        #expect(PayloadDecoder.decode(KeyOrder.self, from: Array(#"{"a":1,"b":2}"#.utf8)) == nil)
    }

    @Test func whatItLeavesToFoundation() throws {
        let when = #"{"when":"2026-01-02T03:04:05Z"}"#
        #expect(PayloadDecoder.decode(Dated.self, from: Array(when.utf8)) == nil)
        check(when, as: Dated.self)
        check(#"{"when":"yesterday"}"#, as: Dated.self)
        for input in [#""AAEC""#, #""https://example.com/a""#, "12.5", "12"] {
            #expect(PayloadDecoder.decode(Data.self, from: Array(input.utf8)) == nil)
            #expect(PayloadDecoder.decode(URL.self, from: Array(input.utf8)) == nil)
            #expect(PayloadDecoder.decode(Decimal.self, from: Array(input.utf8)) == nil)
            #expect(PayloadDecoder.decode([Decimal].self, from: Array("[\(input)]".utf8)) == nil)
            check(input, as: Data.self)
            check(input, as: URL.self)
            check(input, as: Decimal.self)
            check(input, as: Int128.self)
            check(input, as: UInt128.self)
        }
        #expect(PayloadDecoder.decode(Int128.self, from: Array("12".utf8)) == nil)
        for input in [#"{"value":1}"#, #"{"value":1.0}"#, #"{"value":"x"}"#, #"{}"#] {
            check(input, as: Lenient.self)
        }
        fast(#"{"value":1}"#, as: Lenient.self)
        #expect(PayloadDecoder.decode(Lenient.self, from: Array(#"{"value":1.0}"#.utf8)) == nil)
        #expect(PayloadDecoder.decode(PathLength.self, from: Array("{}".utf8)) == nil)
        check("{}", as: PathLength.self)
        #expect(PayloadDecoder.decode(Derived.self, from: Array(#"{"extra":3,"super":{"base":4}}"#.utf8)) == nil)
        check(#"{"extra":3,"super":{"base":4}}"#, as: Derived.self)
    }

    @Test func nesting() {
        for depth in [1, 100, 511, 512, 513, 600] {
            let json = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            check(json, as: Tree.self)
        }
        fast(String(repeating: "[", count: 512) + String(repeating: "]", count: 512), as: Tree.self)
        #expect(
            PayloadDecoder.decode(Tree.self, from: Array((String(repeating: "[", count: 513) + String(repeating: "]", count: 513)).utf8))
                == nil)
        check(String(repeating: "[", count: 5) + String(repeating: "]", count: 4), as: Tree.self)
    }

    /// Valid payloads with bytes flipped, dropped and inserted: the fast path may answer only
    /// what JSONDecoder answers.
    @Test func mutatedPayloads() {
        let originals = [
            #"{"count":3,"enabled":true,"id":42,"kind":"large","name":"r\u00e9port","note":"n","ratio":0.25,"tags":["a","b"]}"#,
            #"{"big":1,"float":1.5e3,"holes":[1,null],"inner":{"level":2,"name":"a"},"list":[],"map":{"x":1},"matrix":[[1]],"optionalInner":null,"small":-8}"#,
        ]
        let alphabet = Array(#"{}[]":,.-+eE0123456789 nulltruefalse\u"#.utf8) + [0x00, 0x0A, 0xC3, 0xA9, 0xFF]
        var random = SplitMix64(seed: 42)
        var answered = 0
        for original in originals {
            let bytes = Array(original.utf8)
            for _ in 0..<1500 {
                var mutated = bytes
                for _ in 0...(random.next() % 3) {
                    let position = Int(random.next() % UInt64(mutated.count))
                    switch random.next() % 3 {
                    case 0: mutated[position] = alphabet[Int(random.next() % UInt64(alphabet.count))]
                    case 1: mutated.remove(at: position)
                    default: mutated.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: position)
                    }
                }
                if check(mutated, as: Mixed.self) { answered += 1 }
                if check(mutated, as: Nested.self) { answered += 1 }
                check(mutated, as: [String: Int].self)
            }
        }
        // Some mutations keep the payload valid (a digit for a digit, a space added).
        #expect(answered > 50)
    }

    @Test func roundTripsPayloadEncoderOutput() throws {
        let values: [any Codable & Equatable & Sendable] = [
            Small(index: 123),
            Mixed(
                id: -42, name: "quote \" backslash \\ é 😀 \u{01}", ratio: 123_456.789e10, enabled: false, tags: ["", "x"], note: nil,
                kind: .small, count: 255),
            Nested(
                inner: Inner(name: "a", level: .high), list: [Inner(name: "b", level: nil)], map: ["zeta": 1, "alpha": -2, "Mid": 3],
                optionalInner: Inner(name: "c", level: .low), matrix: [[1, 2], []], holes: [nil, 1], float: 3.4e38, small: .min, big: .max
            ),
            Shape.circle(radius: -2.5e-300), Shape.square(side: .max), Shape.empty, Token(rawValue: "t"),
            [Small(index: 1), Small(index: 2)], ["a": [1.5, -0.1], "b": []], [Int8.min, 0, .max], Keyed(byID: [7: "seven"]),
        ]
        for value in values {
            try roundTrip(value)
        }
    }

    private func roundTrip<T: Codable & Equatable & Sendable>(_ value: T) throws {
        let bytes = try #require(PayloadEncoder.encode(value))
        let decoded = PayloadDecoder.decode(T.self, from: bytes)
        #expect(decoded == value, "\(T.self) from \(String(decoding: bytes, as: UTF8.self))")
        #expect(try JobPayload(bytes: bytes).decode(as: T.self) == value)
    }

    struct Email: Codable, Equatable, Sendable {
        var to: String
        var count: Int
    }

    @Test func badPayloadsStillSayWhy() throws {
        #expect(try JobPayload(bytes: Array(#"{"to":"x","count":2}"#.utf8)).decode(as: Email.self) == Email(to: "x", count: 2))

        let missing = #expect(throws: SpoolError.self) { try JobPayload(bytes: Array(#"{"to":"x"}"#.utf8)).decode(as: Email.self) }
        #expect(missing?.code == .undecodablePayload)
        #expect(missing?.message == "the payload is not a valid Email: missing field 'count' at the top level")

        for bad in ["not json", #"{"to":"x","count":"2"}"#, #"{"to":null,"count":2}"#, #"{"to":"x","count":2.5}"#, ""] {
            let error = #expect(throws: SpoolError.self) { try JobPayload(bytes: Array(bad.utf8)).decode(as: Email.self) }
            #expect(error?.code == .undecodablePayload)
            var foundation: (any Error)?
            do { _ = try JSONDecoder.spool.decode(Email.self, from: Data(bad.utf8)) } catch { foundation = error }
            let why = try #require(foundation.map { describe(decodingError: $0) })
            #expect(error?.message == "the payload is not a valid Email: \(why)")
        }
    }
}
