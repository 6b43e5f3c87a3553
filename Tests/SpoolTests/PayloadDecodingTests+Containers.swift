import Foundation
import Testing
import SpoolTesting

@testable import Spool

extension PayloadDecodingTests {
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
}
