import Foundation
import Testing
import SpoolTesting

@testable import Spool

extension PayloadDecodingTests {
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
}
