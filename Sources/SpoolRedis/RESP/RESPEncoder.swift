import NIOCore

/// Writes commands (and, for tests, any value) in RESP.
enum RESPEncoder {
    /// Writes a command: an array of bulk strings, the form every Redis command takes.
    static func writeCommand(_ arguments: [[UInt8]], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "*"))
        writeDecimal(arguments.count, into: &buffer)
        for argument in arguments {
            buffer.writeInteger(UInt8(ascii: "$"))
            writeDecimal(argument.count, into: &buffer)
            buffer.writeBytes(argument)
            buffer.writeStaticString("\r\n")
        }
    }

    /// Writes `value` in its RESP3 form (RESP2 for the types RESP2 has). Errors are written as
    /// simple errors (`-`), so their text must hold no CR or LF; simple strings likewise.
    static func write(_ value: RESPValue, into buffer: inout ByteBuffer) {
        switch value {
        case .simpleString(let bytes):
            line("+", bytes, into: &buffer)
        case .error(let message):
            line("-", Array(message.utf8), into: &buffer)
        case .integer(let value):
            line(":", Array(String(value).utf8), into: &buffer)
        case .bulkString(let bytes):
            blob("$", bytes, into: &buffer)
        case .null:
            buffer.writeStaticString("_\r\n")
        case .array(let values):
            aggregate("*", values, into: &buffer)
        case .set(let values):
            aggregate("~", values, into: &buffer)
        case .push(let values):
            aggregate(">", values, into: &buffer)
        case .map(let pairs):
            buffer.writeInteger(UInt8(ascii: "%"))
            writeDecimal(pairs.count, into: &buffer)
            for pair in pairs {
                write(pair.key, into: &buffer)
                write(pair.value, into: &buffer)
            }
        case .double(let value):
            let text: String
            if value.isNaN {
                text = "nan"
            } else if value == .infinity {
                text = "inf"
            } else if value == -.infinity {
                text = "-inf"
            } else {
                text = "\(value)"
            }
            line(",", Array(text.utf8), into: &buffer)
        case .boolean(let value):
            buffer.writeStaticString(value ? "#t\r\n" : "#f\r\n")
        case .bigNumber(let digits):
            line("(", Array(digits.utf8), into: &buffer)
        case .verbatim(let format, let text):
            blob("=", Array(format.utf8.prefix(3)) + [UInt8(ascii: ":")] + text, into: &buffer)
        }
    }

    private static func line(_ type: Unicode.Scalar, _ bytes: [UInt8], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: type))
        buffer.writeBytes(bytes)
        buffer.writeStaticString("\r\n")
    }

    private static func blob(_ type: Unicode.Scalar, _ bytes: [UInt8], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: type))
        writeDecimal(bytes.count, into: &buffer)
        buffer.writeBytes(bytes)
        buffer.writeStaticString("\r\n")
    }

    private static func aggregate(_ type: Unicode.Scalar, _ values: [RESPValue], into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: type))
        writeDecimal(values.count, into: &buffer)
        for value in values { write(value, into: &buffer) }
    }

    /// Writes a decimal number followed by CRLF.
    private static func writeDecimal(_ value: Int, into buffer: inout ByteBuffer) {
        buffer.writeString(String(value))
        buffer.writeStaticString("\r\n")
    }
}
