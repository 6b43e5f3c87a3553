import Foundation
import Testing

@testable import Spool

/// The package's one JSON parser and writer (`Sources/Spool/JSON`): strict RFC 8259, members in
/// order, numbers as written, repeated member names refused, one nesting limit that parses on
/// any thread.
@Suite("JSON")
struct JSONTests {
    /// Why `text` is not JSON, as the HTTP API says it.
    func refusal(_ text: String, allowsRepeatedMembers: Bool = false) -> String? {
        do throws(JSONSyntaxError) {
            _ = try JSONParser.parse(Array(text.utf8), allowsRepeatedMembers: allowsRepeatedMembers)
            return nil
        } catch {
            return error.description
        }
    }

    /// Arrays nested `depth` deep, with a member in the middle so objects are crossed too.
    func nested(_ depth: Int) -> [UInt8] {
        let half = depth / 2
        let text =
            String(repeating: "[", count: half) + String(repeating: #"{"a":"#, count: depth - half) + "1"
            + String(repeating: "}", count: depth - half) + String(repeating: "]", count: half)
        return Array(text.utf8)
    }

    @Test func parsesAndRendersLosslessly() throws {
        let text = #"{"b":1.50,"a":[true,false,null,-0.5e-3,"x\"\\\/\u00e9\ud83d\ude00"],"c":{}}"#
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(value["b"] == .number("1.50"))
        #expect(value["a"] == .array([.bool(true), .bool(false), .null, .number("-0.5e-3"), .string("x\"\\/é😀")]))
        #expect(value.rendered == #"{"b":1.50,"a":[true,false,null,-0.5e-3,"x\"\\/é😀"],"c":{}}"#)
        #expect(try JSONParser.parse(Array("12345678901234567890123.000e+0010".utf8)) == .number("12345678901234567890123.000e+0010"))
        #expect(JSONValue.string("\u{0}\u{1F}\n\t\r\u{08}\u{0C}é/").rendered == #""\u0000\u001f\n\t\r\b\fé/""#)
        #expect(
            JSONValue.object([("a", .array([])), ("b", .object([("c", .int(1))]))]).pretty
                == "{\n  \"a\": [],\n  \"b\": {\n    \"c\": 1\n  }\n}")
    }

    @Test func refusesWhatIsNotJSONNamingTheByte() throws {
        let cases: [(String, String)] = [
            ("", "unexpected end of JSON at byte 0"),
            ("{", "expected a member name in quotes at byte 1"),
            (#"{"a": 1,}"#, "expected a member name in quotes at byte 8"),
            ("[1,]", "unexpected character ']' at byte 3"),
            ("01", "invalid number (leading zero) at byte 1"),
            ("1.", "invalid number (digits expected after '.') at byte 2"),
            ("1e", "invalid number (digits expected in exponent) at byte 2"),
            ("-", "invalid number at byte 1"),
            ("\"\u{01}\"", "control character in a string (escape it) at byte 1"),
            ("{\"a\" 1}", "expected ':' after member name \"a\" at byte 5"),
            ("tru", "invalid literal (expected true) at byte 3"),
            ("\"\\ud800\"", "unpaired surrogate in \\u escape at byte 7"),
            ("\"\\udc00\"", "unpaired surrogate in \\u escape at byte 7"),
            ("\"\\u12x4\"", "invalid hex digit in \\u escape at byte 5"),
            ("\"\\u12\"", "incomplete \\u escape at byte 3"),
            ("\"\\x\"", "invalid escape '\\x' at byte 3"),
            ("\"abc", "unterminated string at byte 4"),
            ("[] []", "unexpected text after the JSON value at byte 3"),
            ("{'a':1}", "expected a member name in quotes at byte 1"),
            ("NaN", "unexpected character 'N' at byte 0"),
            ("[1 2]", "expected ',' or ']' in an array at byte 3"),
            (#"{"a":1 "b":2}"#, "expected ',' or '}' in an object at byte 7"),
        ]
        for (text, reason) in cases {
            #expect(refusal(text) == reason, "\(text.debugDescription)")
        }
        #expect((try? JSONParser.parse([0x22, 0x61, 0xFF, 0x22])) == nil, "invalid UTF-8 in a string")
        #expect((try? JSONParser.parse([0x22, 0x5C, 0x6E, 0xC3, 0x22])) == nil, "invalid UTF-8 after an escape")
        #expect(try JSONParser.parse(Array("\"\\n\u{e9}\"".utf8)) == .string("\né"))
    }

    @Test func refusesARepeatedMemberAndNamesItsPath() throws {
        func duplicate(_ text: String) -> String? {
            do throws(JSONSyntaxError) {
                _ = try JSONParser.parse(Array(text.utf8))
                return nil
            } catch {
                return error.duplicateMember ?? "(not a duplicate: \(error))"
            }
        }
        #expect(duplicate(#"[{"a": [{"b": 1, "b": 2}]}]"#) == "[0].a[0].b")
        #expect(duplicate(#"{"x": [1, 2, {"y": {"z": 1, "z": 2}}]}"#) == "x[2].y.z")
        #expect(duplicate(#"{"a": 1, "A": 2, "a\u0301": 3, "á": 4}"#) == nil, "names are compared as written, code point for code point")
        let many = (0..<40).map { "\"k\($0)\": \($0)" }.joined(separator: ", ")
        #expect(duplicate("{\(many)}") == nil)
        #expect(duplicate("{\(many), \"k39\": 0}") == "k39", "past 16 members the check goes through a set")
        #expect(duplicate("{\(many), \"k3\": 0}") == "k3")
        #expect(duplicate(#"{"a": 1,}"#) == "(not a duplicate: expected a member name in quotes at byte 8)")
        #expect(refusal(#"{"a": 1, "a": 2}"#) == #"member "a" appears twice in one object at byte 9"#)
        // JSON already stored (a payload enqueued through the library) is kept, and shown as
        // JSON, minified, strings and numbers untouched.
        #expect(refusal(#"{"a": 1, "a": 2}"#, allowsRepeatedMembers: true) == nil)
        #expect(JSONValue.embedding(Array(" {\"a\": 1, \"a\": [2.50, \"x y\\\"\"]}\n".utf8)) == .raw(#"{"a":1,"a":[2.50,"x y\""]}"#))
        #expect(JSONValue.embedding(Array("not json".utf8)) == .string("not json"))
        #expect(JSONValue.embedding([0xFF]) == .null)
        #expect(JSONValue.embedding(nil) == .null)
    }

    @Test func nestingUpToTheLimitIsAcceptedOneMoreIsRefused() throws {
        let limit = JSONParser.maximumDepth
        #expect(limit == 512)
        let deepest = try JSONParser.parse(nested(limit))
        #expect(deepest.rendered == String(decoding: nested(limit), as: UTF8.self))
        #expect(
            refusal(String(decoding: nested(limit + 1), as: UTF8.self)) == "arrays and objects nested deeper than 512 levels at byte 1536")
        // The limit counts open containers, not values: many siblings at depth 2 are fine.
        #expect(throws: Never.self) {
            try JSONParser.parse(Array(("[" + Array(repeating: "[[]]", count: 10_000).joined(separator: ",") + "]").utf8))
        }
        // An embedded payload nested as deep as the payload codec allows stays JSON.
        #expect(JSONValue.embedding(nested(limit)) == .raw(String(decoding: nested(limit), as: UTF8.self)))
    }

    @Test func theLimitParsesOnTheCooperativePool() async throws {
        let bytes = nested(JSONParser.maximumDepth)
        let rendered = try await Task.detached { try JSONParser.parse(bytes).pretty }.value
        #expect(rendered.hasPrefix("[\n  ["))
        let tree = await Task.detached { () -> PayloadDecodingTests.Tree? in
            let arrays = String(repeating: "[", count: JSONParser.maximumDepth) + String(repeating: "]", count: JSONParser.maximumDepth)
            return PayloadDecoder.decode(PayloadDecodingTests.Tree.self, from: Array(arrays.utf8))
        }.value
        #expect(tree != nil, "the payload decoder answers at the limit")
    }

    @Test func theLimitParsesOnASmallThreadStack() async throws {
        // 512 KiB, the default of a secondary thread on macOS and far below Linux's 8 MiB: the
        // parser keeps no frame per level, and writing and freeing the tree stay well within.
        let bytes = nested(JSONParser.maximumDepth)
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            let thread = Thread {
                let rendered = (try? JSONParser.parse(bytes))?.rendered
                continuation.resume(returning: rendered)
            }
            thread.stackSize = 512 * 1024
            thread.start()
        }
        #expect(outcome == String(decoding: bytes, as: UTF8.self))
    }

    @Test func errorsSayLineAndColumnForPeople() {
        let text = "{\n  \"a\": [1, 2\n}"
        do throws(JSONSyntaxError) {
            _ = try JSONParser.parse(Array(text.utf8))
            Issue.record("parsed")
        } catch {
            #expect(error.located(in: Array(text.utf8)) == "expected ',' or ']' in an array at line 3, column 1")
        }
        let accented = Array("{\"é\": x}".utf8)
        #expect((try? JSONParser.parse(accented)) == nil)
        do throws(JSONSyntaxError) {
            _ = try JSONParser.parse(accented)
        } catch {
            #expect(error.located(in: accented) == "unexpected character 'x' at line 1, column 7", "columns count characters, not bytes")
        }
    }
}
