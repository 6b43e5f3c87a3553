import NIOCore

/// Why the bytes from the server are not a RESP reply we accept. The connection that received
/// them cannot be trusted any more and is closed.
struct RESPDecodingError: Error, Sendable, CustomStringConvertible, Equatable {
    let message: String
    var description: String { "malformed reply from the Redis server: \(message)" }
}

/// Bounds on what one reply may hold, so a broken or hostile server cannot make the decoder
/// allocate without bound or recurse without bound.
struct RESPLimits: Sendable, Hashable {
    /// The longest bulk string, verbatim string or blob error, in bytes. Default 64 MiB.
    var maxBulkLength: Int = 64 << 20
    /// The deepest nesting of aggregates (arrays, maps, sets, pushes, attributes). Default 32.
    var maxDepth: Int = 32
    /// The most elements (a map entry counts two) in one reply, over all its levels. Default 4 Mi.
    var maxElements: Int = 4 << 20
    /// The longest line (simple string, error, number) in bytes. Default 64 KiB.
    var maxLineLength: Int = 64 << 10
}

/// An incremental RESP2/RESP3 decoder: feed it bytes as they arrive, take whole replies out.
///
/// Pure (no I/O) and deterministic. A reply that is not complete yet yields nil and is parsed
/// again from its start when more bytes arrive (replies are small; the cost is a re-scan of
/// the incomplete reply). Anything that is not RESP, or breaks a limit of ``RESPLimits``,
/// throws ``RESPDecodingError``; after an error the decoder holds no usable state and must be
/// discarded. Streamed strings and aggregates (`$?`, `*?`) are refused. Attributes (`|`) are
/// read and dropped, the value they annotate is returned.
struct RESPDecoder {
    let limits: RESPLimits
    private var buffer: ByteBuffer

    init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
        self.buffer = ByteBufferAllocator().buffer(capacity: 0)
    }

    /// Bytes received and not yet returned as part of a reply.
    var bufferedBytes: Int { buffer.readableBytes }

    /// Adds received bytes.
    mutating func feed(_ bytes: ByteBuffer) {
        var bytes = bytes
        buffer.writeBuffer(&bytes)
    }

    /// Adds received bytes.
    mutating func feed(_ bytes: some Sequence<UInt8>) {
        buffer.writeBytes(bytes)
    }

    /// The next complete reply, or nil when more bytes are needed.
    /// - Throws: ``RESPDecodingError`` for bytes that are not an acceptable reply.
    mutating func next() throws -> RESPValue? {
        guard buffer.readableBytes > 0 else {
            if buffer.readerIndex > 0 { buffer.clear() }
            return nil
        }
        let limits = self.limits
        let result: (RESPValue, Int)? = try buffer.withUnsafeReadableBytes { bytes in
            var parser = Parser(bytes: bytes, limits: limits)
            guard let value = try parser.value(depth: 0) else { return nil }
            return (value, parser.index)
        }
        guard let (value, consumed) = result else { return nil }
        buffer.moveReaderIndex(forwardBy: consumed)
        if buffer.readableBytes == 0 {
            buffer.clear()
        } else if buffer.readerIndex > 1 << 16 {
            buffer.discardReadBytes()
        }
        return value
    }

    /// A one-pass parser over the readable bytes; `nil` from any method means "incomplete".
    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        let limits: RESPLimits
        var index = 0
        var elements = 0

        init(bytes: UnsafeRawBufferPointer, limits: RESPLimits) {
            self.bytes = bytes
            self.limits = limits
        }

        static let cr = UInt8(ascii: "\r")
        static let lf = UInt8(ascii: "\n")

        /// The bytes up to the next CRLF (which is consumed), or nil when it has not arrived.
        mutating func line() throws -> UnsafeRawBufferPointer? {
            let start = index
            var cursor = start
            let end = min(bytes.count, start + limits.maxLineLength + 2)
            while cursor < end {
                let byte = bytes[cursor]
                if byte == Self.cr {
                    guard cursor + 1 < bytes.count else { return nil }
                    guard bytes[cursor + 1] == Self.lf else { throw RESPDecodingError(message: "CR not followed by LF at offset \(cursor)") }
                    index = cursor + 2
                    return UnsafeRawBufferPointer(rebasing: bytes[start..<cursor])
                }
                if byte == Self.lf { throw RESPDecodingError(message: "bare LF at offset \(cursor)") }
                cursor += 1
            }
            if end - start >= limits.maxLineLength + 2 {
                throw RESPDecodingError(message: "a line longer than \(limits.maxLineLength) bytes")
            }
            return nil
        }

        func text(_ line: UnsafeRawBufferPointer) -> String {
            String(decoding: line, as: UTF8.self)
        }

        func integer(_ line: UnsafeRawBufferPointer, what: String) throws -> Int64 {
            guard !line.isEmpty, line.count <= 20 else { throw RESPDecodingError(message: "\(what) is not an integer: '\(text(line).prefix(40))'") }
            var negative = false
            var digits = line[...]
            if line[0] == UInt8(ascii: "-") || line[0] == UInt8(ascii: "+") {
                negative = line[0] == UInt8(ascii: "-")
                digits = line[1...]
            }
            guard !digits.isEmpty else { throw RESPDecodingError(message: "\(what) has no digits") }
            var value: Int64 = 0
            for byte in digits {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                    throw RESPDecodingError(message: "\(what) is not an integer: '\(text(line).prefix(40))'")
                }
                let digit = Int64(byte - UInt8(ascii: "0"))
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
                guard !overflow1, !overflow2 else { throw RESPDecodingError(message: "\(what) overflows 64 bits") }
                value = sum
            }
            return value
        }

        /// A length or count header: -1 means null.
        func length(_ line: UnsafeRawBufferPointer, what: String, max: Int) throws -> Int {
            let value = try integer(line, what: what)
            guard value >= -1 else { throw RESPDecodingError(message: "\(what) is negative: \(value)") }
            guard value <= Int64(max) else { throw RESPDecodingError(message: "\(what) \(value) exceeds the limit of \(max)") }
            return Int(value)
        }

        /// `count` bytes followed by CRLF, or nil when they have not all arrived.
        mutating func blob(_ count: Int) throws -> [UInt8]? {
            guard bytes.count - index >= count + 2 else { return nil }
            let blob = Array(bytes[index..<(index + count)])
            guard bytes[index + count] == Self.cr, bytes[index + count + 1] == Self.lf else {
                throw RESPDecodingError(message: "a bulk string of \(count) bytes is not followed by CRLF")
            }
            index += count + 2
            return blob
        }

        mutating func count(elements added: Int) throws {
            elements += added
            guard elements <= limits.maxElements else {
                throw RESPDecodingError(message: "a reply with more than \(limits.maxElements) elements")
            }
        }

        mutating func aggregate(_ count: Int, depth: Int) throws -> [RESPValue]? {
            try self.count(elements: count)
            var values: [RESPValue] = []
            values.reserveCapacity(Swift.min(count, 1024))
            for _ in 0..<count {
                guard let value = try value(depth: depth + 1) else { return nil }
                values.append(value)
            }
            return values
        }

        mutating func value(depth: Int) throws -> RESPValue? {
            guard depth <= limits.maxDepth else { throw RESPDecodingError(message: "replies nested deeper than \(limits.maxDepth) levels") }
            guard index < bytes.count else { return nil }
            let type = bytes[index]
            let typeOffset = index
            index += 1
            guard let line = try line() else { return nil }
            switch type {
            case UInt8(ascii: "+"):
                return .simpleString(Array(line))
            case UInt8(ascii: "-"):
                return .error(text(line))
            case UInt8(ascii: ":"):
                return .integer(try integer(line, what: "an integer reply"))
            case UInt8(ascii: "_"):
                guard line.isEmpty else { throw RESPDecodingError(message: "a null with content") }
                return .null
            case UInt8(ascii: "#"):
                guard line.count == 1, line[0] == UInt8(ascii: "t") || line[0] == UInt8(ascii: "f") else {
                    throw RESPDecodingError(message: "a boolean that is not t or f")
                }
                return .boolean(line[0] == UInt8(ascii: "t"))
            case UInt8(ascii: ","):
                let literal = text(line)
                switch literal {
                case "inf", "+inf": return .double(.infinity)
                case "-inf": return .double(-.infinity)
                case "nan", "-nan": return .double(.nan)
                default:
                    guard !literal.isEmpty, literal.utf8.allSatisfy({ Self.isFloatByte($0) }), let value = Double(literal) else {
                        throw RESPDecodingError(message: "a double that is not a number: '\(literal.prefix(40))'")
                    }
                    return .double(value)
                }
            case UInt8(ascii: "("):
                var digits = line[...]
                if let first = digits.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") { digits = digits.dropFirst() }
                guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                    throw RESPDecodingError(message: "a big number that is not digits")
                }
                return .bigNumber(text(line))
            case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
                if line.count == 1 && line[0] == UInt8(ascii: "?") { throw RESPDecodingError(message: "streamed strings are not supported") }
                let length = try length(line, what: "a bulk length", max: limits.maxBulkLength)
                if length == -1 {
                    guard type == UInt8(ascii: "$") else { throw RESPDecodingError(message: "a null blob error or verbatim string") }
                    return .null
                }
                guard let blob = try blob(length) else { return nil }
                if type == UInt8(ascii: "!") { return .error(String(decoding: blob, as: UTF8.self)) }
                if type == UInt8(ascii: "=") {
                    guard blob.count >= 4, blob[3] == UInt8(ascii: ":") else {
                        throw RESPDecodingError(message: "a verbatim string without its format prefix")
                    }
                    return .verbatim(format: String(decoding: blob[0..<3], as: UTF8.self), text: Array(blob[4...]))
                }
                return .bulkString(blob)
            case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
                if line.count == 1 && line[0] == UInt8(ascii: "?") { throw RESPDecodingError(message: "streamed aggregates are not supported") }
                let count = try length(line, what: "an aggregate count", max: limits.maxElements)
                if count == -1 {
                    guard type == UInt8(ascii: "*") else { throw RESPDecodingError(message: "a null set or push") }
                    return .null
                }
                guard let values = try aggregate(count, depth: depth) else { return nil }
                switch type {
                case UInt8(ascii: "~"): return .set(values)
                case UInt8(ascii: ">"): return .push(values)
                default: return .array(values)
                }
            case UInt8(ascii: "%"), UInt8(ascii: "|"):
                let count = try length(line, what: "a map size", max: limits.maxElements / 2)
                guard count >= 0 else { throw RESPDecodingError(message: "a null map") }
                guard let values = try aggregate(count * 2, depth: depth) else { return nil }
                if type == UInt8(ascii: "|") {
                    // An attribute annotates the value that follows: read that and return it.
                    return try value(depth: depth)
                }
                var pairs: [RESPPair] = []
                pairs.reserveCapacity(count)
                for pair in 0..<count { pairs.append(RESPPair(key: values[2 * pair], value: values[2 * pair + 1])) }
                return .map(pairs)
            default:
                throw RESPDecodingError(message: "unknown type byte 0x\(String(type, radix: 16)) at offset \(typeOffset)")
            }
        }

        static func isFloatByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                UInt8(ascii: "e"), UInt8(ascii: "E"):
                return true
            default:
                return false
            }
        }
    }
}
