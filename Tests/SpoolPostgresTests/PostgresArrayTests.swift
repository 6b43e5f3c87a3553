import Foundation
import NIOCore
import PostgresNIO
@testable import SpoolPostgres
import Testing

/// No server needed: the driver's array parameters against PostgresNIO's own encoding.
@Suite("PostgreSQL array parameters")
struct PostgresArrayTests {
    static func bytes(_ value: some PostgresThrowingDynamicTypeEncodable) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try value.encode(into: &buffer, context: .default)
        return buffer
    }

    @Test("each kind of array encodes to PostgresNIO's bytes and type, empty ones too")
    func sameBytesAsPostgresNIO() throws {
        let uuids = [UUID(), UUID(), UUID()]
        let texts = ["default", "", "ünïcödé ✓", String(repeating: "x", count: 300)]
        let blobs: [[UInt8]] = [[], [0, 1, 2, 255], Array("{\"a\":1}".utf8)]
        let ints: [Int64] = [0, -1, .max, .min, 42]
        let bools = [true, false, true]
        let cases: [(PostgresArray, any PostgresThrowingDynamicTypeEncodable)] = [
            (PostgresArray(.uuids(uuids)), uuids),
            (PostgresArray(.texts(texts)), texts),
            (PostgresArray(.bytes(blobs)), blobs.map { ByteBuffer(bytes: $0) }),
            (PostgresArray(.int8s(ints)), ints),
            (PostgresArray(.int4s([0, -7, .max, .min])), [Int32(0), -7, .max, .min]),
            (PostgresArray(.bools(bools)), bools),
            (PostgresArray(.uuids([])), [UUID]()),
            (PostgresArray(.texts([])), [String]()),
            (PostgresArray(.bools([])), [Bool]()),
        ]
        for (ours, theirs) in cases {
            #expect(try Self.bytes(ours) == Self.bytes(theirs), "\(ours.elements)")
            #expect(ours.psqlType == theirs.psqlType && ours.psqlFormat == theirs.psqlFormat)
        }
    }
}
