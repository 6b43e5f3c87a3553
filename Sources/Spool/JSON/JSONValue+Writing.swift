// JSONValue: writing a document as text, minified or indented, with the one string escaping of
// the package (the payload encoder writes strings with it too).

extension JSONValue {
    /// The document as minified JSON text.
    package var rendered: String { String(decoding: bytes, as: UTF8.self) }

    /// The document as minified UTF-8 JSON.
    package var bytes: [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    /// The document indented by two spaces per level, members in their order and numbers as
    /// written (for people: the dashboard). `raw` members are parsed and indented too.
    package var pretty: String {
        var out: [UInt8] = []
        writePretty(to: &out, indent: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the document, minified. Recursion is as deep as the document (at most
    /// ``JSONParser/maximumDepth`` for a parsed one), a small frame per level.
    package func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let value): out.append(contentsOf: value ? "true".utf8 : "false".utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let value): JSONWriter.writeString(value, to: &out)
        case .raw(let text): out.append(contentsOf: text.utf8)
        case .array(let items):
            out.append(ASCII.openBracket)
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(ASCII.comma) }
                item.write(to: &out)
            }
            out.append(ASCII.closeBracket)
        case .object(let members):
            out.append(ASCII.openBrace)
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out.append(ASCII.comma) }
                JSONWriter.writeString(key, to: &out)
                out.append(ASCII.colon)
                value.write(to: &out)
            }
            out.append(ASCII.closeBrace)
        }
    }

    private func writePretty(to out: inout [UInt8], indent: Int) {
        func newline(_ level: Int) {
            out.append(UInt8(ascii: "\n"))
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * level))
        }
        switch self {
        case .raw(let text):
            if let parsed = try? JSONParser.parse(Array(text.utf8), allowsRepeatedMembers: true) {
                parsed.writePretty(to: &out, indent: indent)
            } else {
                out.append(contentsOf: text.utf8)
            }
        case .array(let items) where !items.isEmpty:
            out.append(ASCII.openBracket)
            for (index, item) in items.enumerated() {
                newline(indent + 1)
                item.writePretty(to: &out, indent: indent + 1)
                if index < items.count - 1 { out.append(ASCII.comma) }
            }
            newline(indent)
            out.append(ASCII.closeBracket)
        case .object(let members) where !members.isEmpty:
            out.append(ASCII.openBrace)
            for (index, (key, value)) in members.enumerated() {
                newline(indent + 1)
                JSONWriter.writeString(key, to: &out)
                out.append(contentsOf: ": ".utf8)
                value.writePretty(to: &out, indent: indent + 1)
                if index < members.count - 1 { out.append(ASCII.comma) }
            }
            newline(indent)
            out.append(ASCII.closeBrace)
        default:
            write(to: &out)
        }
    }
}

/// The one JSON string writer of the package.
enum JSONWriter {
    /// Appends `string` in quotes: `"` and `\` escaped, control characters as `\n`, `\r`, `\t`,
    /// `\b`, `\f` or `\u00XX` (lowercase hex), everything else (`/` and non-ASCII included) as
    /// its UTF-8 bytes. Cost: one pass over the UTF-8, no allocation beyond `out`'s growth.
    static func writeString(_ string: String, to out: inout [UInt8]) {
        out.append(ASCII.quote)
        for byte in string.utf8 {
            switch byte {
            case ASCII.quote: out.append(contentsOf: [ASCII.backslash, ASCII.quote])
            case ASCII.backslash: out.append(contentsOf: [ASCII.backslash, ASCII.backslash])
            case 0x0A: out.append(contentsOf: [ASCII.backslash, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [ASCII.backslash, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [ASCII.backslash, UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [ASCII.backslash, UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [ASCII.backslash, UInt8(ascii: "f")])
            case 0x00..<0x20:
                out.append(contentsOf: [
                    ASCII.backslash, UInt8(ascii: "u"), ASCII.zero, ASCII.zero, hexDigit(byte >> 4), hexDigit(byte & 0xF),
                ])
            default:
                out.append(byte)
            }
        }
        out.append(ASCII.quote)
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? ASCII.zero + value : UInt8(ascii: "a") + value - 10
    }
}
