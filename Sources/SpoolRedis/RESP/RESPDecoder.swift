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
/// Pure (no I/O) and deterministic. Aggregates are built up as their elements arrive (a stack
/// of open aggregates), so a large reply arriving in many reads is scanned once: cost O(bytes).
/// Only an incomplete scalar (a line or a bulk string not fully arrived) is read again when
/// more bytes come. Anything that is not RESP, or breaks a limit of ``RESPLimits``, throws
/// ``RESPDecodingError``; after an error the decoder holds no usable state and must be
/// discarded. Streamed strings and aggregates (`$?`, `*?`) are refused. Attributes (`|`) are
/// read and dropped, the value they annotate is returned.
struct RESPDecoder {
    let limits: RESPLimits
    private var buffer: ByteBuffer
    /// The aggregates opened and not yet complete, outermost first.
    private var stack: [Frame] = []
    /// Elements announced so far in the reply being decoded.
    private var elements = 0

    fileprivate enum Kind { case array, set, push, map, attribute }

    private struct Frame {
        var kind: Kind
        var remaining: Int
        var values: [RESPValue]
    }

    fileprivate enum Token {
        case value(RESPValue)
        case aggregate(Kind, count: Int)
    }

    init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
        self.buffer = ByteBufferAllocator().buffer(capacity: 0)
    }

    /// Bytes received and not yet consumed.
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
        defer { compact() }
        while buffer.readableBytes > 0 {
            guard stack.count <= limits.maxDepth else {
                throw RESPDecodingError(message: "replies nested deeper than \(limits.maxDepth) levels")
            }
            let limits = self.limits
            let parsed: (Token, Int)? = try buffer.withUnsafeReadableBytes { bytes in
                var parser = Parser(bytes: bytes, limits: limits)
                guard let token = try parser.token() else { return nil }
                return (token, parser.index)
            }
            guard let (token, consumed) = parsed else { return nil }
            buffer.moveReaderIndex(forwardBy: consumed)
            var value: RESPValue
            switch token {
            case .value(let scalar):
                value = scalar
            case .aggregate(let kind, let count):
                let announced = kind == .map || kind == .attribute ? count * 2 : count
                elements += announced
                guard elements <= limits.maxElements else {
                    throw RESPDecodingError(message: "a reply with more than \(limits.maxElements) elements")
                }
                if announced > 0 {
                    var values: [RESPValue] = []
                    values.reserveCapacity(min(announced, 1024))
                    stack.append(Frame(kind: kind, remaining: announced, values: values))
                    continue
                }
                if kind == .attribute { continue }
                value = Self.build(kind, [])
            }
            // Hand the value to the innermost open aggregate, closing those it completes.
            while true {
                guard !stack.isEmpty else {
                    elements = 0
                    return value
                }
                stack[stack.count - 1].values.append(value)
                stack[stack.count - 1].remaining -= 1
                guard stack[stack.count - 1].remaining == 0 else { break }
                let frame = stack.removeLast()
                if frame.kind == .attribute { break }  // dropped: the annotated value comes next
                value = Self.build(frame.kind, frame.values)
            }
        }
        return nil
    }

    private static func build(_ kind: Kind, _ values: [RESPValue]) -> RESPValue {
        switch kind {
        case .array: return .array(values)
        case .set: return .set(values)
        case .push: return .push(values)
        case .map, .attribute:
            var pairs: [RESPPair] = []
            pairs.reserveCapacity(values.count / 2)
            for pair in 0..<(values.count / 2) { pairs.append(RESPPair(key: values[2 * pair], value: values[2 * pair + 1])) }
            return .map(pairs)
        }
    }

    private mutating func compact() {
        if buffer.readableBytes == 0 {
            buffer.clear()
        } else if buffer.readerIndex > 1 << 16 {
            buffer.discardReadBytes()
        }
    }

    /// A one-pass parser over the readable bytes; `nil` from any method means "incomplete".
    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        let limits: RESPLimits
        var index = 0

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

        /// One scalar value or aggregate header, or nil when it has not fully arrived.
        mutating func token() throws -> Token? {
            guard index < bytes.count else { return nil }
            let type = bytes[index]
            let typeOffset = index
            index += 1
            guard let line = try line() else { return nil }
            switch type {
            case UInt8(ascii: "+"):
                return .value(.simpleString(Array(line)))
            case UInt8(ascii: "-"):
                return .value(.error(text(line)))
            case UInt8(ascii: ":"):
                return .value(.integer(try integer(line, what: "an integer reply")))
            case UInt8(ascii: "_"):
                guard line.isEmpty else { throw RESPDecodingError(message: "a null with content") }
                return .value(.null)
            case UInt8(ascii: "#"):
                guard line.count == 1, line[0] == UInt8(ascii: "t") || line[0] == UInt8(ascii: "f") else {
                    throw RESPDecodingError(message: "a boolean that is not t or f")
                }
                return .value(.boolean(line[0] == UInt8(ascii: "t")))
            case UInt8(ascii: ","):
                let literal = text(line)
                switch literal {
                case "inf", "+inf": return .value(.double(.infinity))
                case "-inf": return .value(.double(-.infinity))
                case "nan", "-nan": return .value(.double(.nan))
                default:
                    guard !literal.isEmpty, literal.utf8.allSatisfy({ Self.isFloatByte($0) }), let value = Double(literal) else {
                        throw RESPDecodingError(message: "a double that is not a number: '\(literal.prefix(40))'")
                    }
                    return .value(.double(value))
                }
            case UInt8(ascii: "("):
                var digits = line[...]
                if let first = digits.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") { digits = digits.dropFirst() }
                guard !digits.isEmpty, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                    throw RESPDecodingError(message: "a big number that is not digits")
                }
                return .value(.bigNumber(text(line)))
            case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
                if line.count == 1 && line[0] == UInt8(ascii: "?") { throw RESPDecodingError(message: "streamed strings are not supported") }
                let length = try length(line, what: "a bulk length", max: limits.maxBulkLength)
                if length == -1 {
                    guard type == UInt8(ascii: "$") else { throw RESPDecodingError(message: "a null blob error or verbatim string") }
                    return .value(.null)
                }
                guard let blob = try blob(length) else { return nil }
                if type == UInt8(ascii: "!") { return .value(.error(String(decoding: blob, as: UTF8.self))) }
                if type == UInt8(ascii: "=") {
                    guard blob.count >= 4, blob[3] == UInt8(ascii: ":") else {
                        throw RESPDecodingError(message: "a verbatim string without its format prefix")
                    }
                    return .value(.verbatim(format: String(decoding: blob[0..<3], as: UTF8.self), text: Array(blob[4...])))
                }
                return .value(.bulkString(blob))
            case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
                if line.count == 1 && line[0] == UInt8(ascii: "?") { throw RESPDecodingError(message: "streamed aggregates are not supported") }
                let count = try length(line, what: "an aggregate count", max: limits.maxElements)
                if count == -1 {
                    guard type == UInt8(ascii: "*") else { throw RESPDecodingError(message: "a null set or push") }
                    return .value(.null)
                }
                switch type {
                case UInt8(ascii: "~"): return .aggregate(.set, count: count)
                case UInt8(ascii: ">"): return .aggregate(.push, count: count)
                default: return .aggregate(.array, count: count)
                }
            case UInt8(ascii: "%"), UInt8(ascii: "|"):
                let count = try length(line, what: "a map size", max: limits.maxElements / 2)
                guard count >= 0 else { throw RESPDecodingError(message: "a null map") }
                return .aggregate(type == UInt8(ascii: "|") ? .attribute : .map, count: count)
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
