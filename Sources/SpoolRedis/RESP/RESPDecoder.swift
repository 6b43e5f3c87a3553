import NIOCore

/// Why the bytes from the server are not a RESP reply we accept. The connection that received
/// them cannot be trusted any more and is closed.
struct RESPDecodingError: Error, Sendable, CustomStringConvertible, Equatable {
    let message: String
    var description: String { "malformed reply from the Redis server: \(message)" }
}

/// Bounds on what one reply may hold, so a broken or hostile server cannot make the decoder
/// allocate without bound or recurse without bound.
///
/// The decoder reads each bound as at least 0 (depth at least 1) and at most 2^40, whatever is
/// set here, so no sum of lengths it computes can overflow.
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
/// Only an incomplete scalar is looked at again when more bytes come: a bulk string's header
/// (its body is not rescanned), or a line from where the last look stopped, so a line dripped
/// byte by byte costs O(length), not O(length²).
///
/// Never traps, whatever the bytes: each call returns a reply, returns nil for "more bytes
/// needed" (a valid reply cut anywhere decodes once the rest arrives), or throws
/// ``RESPDecodingError`` for anything that is not RESP or breaks a limit of ``RESPLimits``;
/// after an error the decoder holds no usable state and must be discarded. Headers reserve
/// nothing up front (an aggregate announcing 2^40 elements reserves room for at most 1024), so
/// memory grows only with the bytes actually received. Streamed strings and aggregates (`$?`,
/// `*?`) are refused. Attributes (`|`) are read and dropped, the value they annotate is
/// returned.
struct RESPDecoder {
    let limits: RESPLimits
    private var buffer: ByteBuffer
    /// The aggregates opened and not yet complete, outermost first.
    private var stack: [Frame] = []
    /// Elements announced so far in the reply being decoded.
    private var elements = 0
    /// How many bytes of the line after the type byte at the reader index are known to hold
    /// no CR or LF (a line not yet complete when last looked at); 0 after every token.
    private var lineScanned = 0

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
        let bound = 1 << 40
        self.limits = RESPLimits(
            maxBulkLength: min(max(0, limits.maxBulkLength), bound), maxDepth: min(max(1, limits.maxDepth), bound),
            maxElements: min(max(0, limits.maxElements), bound), maxLineLength: min(max(0, limits.maxLineLength), bound)
        )
        self.buffer = ByteBufferAllocator().buffer(capacity: 0)
    }

    /// Bytes received and not yet consumed.
    var bufferedBytes: Int { buffer.readableBytes }

    /// True when the decoder holds no part of a reply: no unconsumed bytes and no aggregate
    /// whose elements are still coming.
    var isIdle: Bool { buffer.readableBytes == 0 && stack.isEmpty }

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
            let scanned = lineScanned
            let parsed: (Token?, Int) = try buffer.withUnsafeReadableBytes { bytes in
                var parser = Parser(bytes: bytes, limits: limits, lineScanned: scanned)
                guard let token = try parser.token() else { return (nil, parser.lineScanned) }
                return (token, parser.index)
            }
            guard let token = parsed.0 else {
                lineScanned = parsed.1
                return nil
            }
            lineScanned = 0
            buffer.moveReaderIndex(forwardBy: parsed.1)
            var value: RESPValue
            switch token {
            case .value(let scalar):
                value = scalar
            case .aggregate(let kind, let count):
                // count ≤ maxElements ≤ 2^40 (half that for maps): no sum here overflows.
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
        /// In: bytes of the first line known to hold no CR or LF; out, when the line is still
        /// incomplete: how many now are.
        var lineScanned: Int

        init(bytes: UnsafeRawBufferPointer, limits: RESPLimits, lineScanned: Int) {
            self.bytes = bytes
            self.limits = limits
            self.lineScanned = lineScanned
        }

        static let cr = UInt8(ascii: "\r")
        static let lf = UInt8(ascii: "\n")

        /// The bytes up to the next CRLF (which is consumed), or nil when it has not arrived.
        /// Scanning starts `lineScanned` bytes in (bytes already known to be plain), and records
        /// where it stopped when the line is incomplete.
        mutating func line() throws -> UnsafeRawBufferPointer? {
            let start = index
            var cursor = start + min(lineScanned, bytes.count - start)
            let end = start + min(bytes.count - start, limits.maxLineLength + 2)
            while cursor < end {
                let byte = bytes[cursor]
                if byte == Self.cr {
                    guard cursor + 1 < bytes.count else {
                        lineScanned = cursor - start
                        return nil
                    }
                    guard bytes[cursor + 1] == Self.lf else {
                        throw RESPDecodingError(message: "CR not followed by LF at offset \(cursor)")
                    }
                    index = cursor + 2
                    return UnsafeRawBufferPointer(rebasing: bytes[start..<cursor])
                }
                if byte == Self.lf { throw RESPDecodingError(message: "bare LF at offset \(cursor)") }
                cursor += 1
            }
            if end - start >= limits.maxLineLength + 2 {
                throw RESPDecodingError(message: "a line longer than \(limits.maxLineLength) bytes")
            }
            lineScanned = cursor - start
            return nil
        }

        func text(_ line: UnsafeRawBufferPointer) -> String {
            String(decoding: line, as: UTF8.self)
        }

        func integer(_ line: UnsafeRawBufferPointer, what: String) throws -> Int64 {
            guard !line.isEmpty, line.count <= 20 else {
                throw RESPDecodingError(message: "\(what) is not an integer: '\(text(line).prefix(40))'")
            }
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
            guard Self.isTypeByte(type) else {
                throw RESPDecodingError(message: "unknown type byte 0x\(String(type, radix: 16)) at offset \(typeOffset)")
            }
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
                if line.count == 1 && line[0] == UInt8(ascii: "?") {
                    throw RESPDecodingError(message: "streamed strings are not supported")
                }
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
                if line.count == 1 && line[0] == UInt8(ascii: "?") {
                    throw RESPDecodingError(message: "streamed aggregates are not supported")
                }
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

        /// True for the first byte of a RESP2 or RESP3 value, so that anything else is refused
        /// before its line arrives.
        static func isTypeByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: "#"), UInt8(ascii: ","),
                UInt8(ascii: "("), UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="), UInt8(ascii: "*"), UInt8(ascii: "~"),
                UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
                return true
            default:
                return false
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
