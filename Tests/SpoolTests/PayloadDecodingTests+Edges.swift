import Foundation
import Testing
import SpoolTesting

@testable import Spool

extension PayloadDecodingTests {
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
}
