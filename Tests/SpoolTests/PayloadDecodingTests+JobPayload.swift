import Foundation
import Testing
import SpoolTesting

@testable import Spool

extension PayloadDecodingTests {
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
