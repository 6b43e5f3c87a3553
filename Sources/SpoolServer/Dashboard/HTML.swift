import Foundation

/// A fragment of HTML that is safe to insert as it is.
///
/// Built with string interpolation that escapes by default: literal text is markup, an
/// interpolated `String` (or number, or any `CustomStringConvertible`) is escaped for text and
/// for quoted attribute values (`&`, `<`, `>`, `"`, `'`), and only an interpolated `HTML` goes
/// in verbatim. So a value from storage (a payload, a queue name, an error message) can never
/// become markup:
///
/// ```swift
/// let row: HTML = "<td class=\"kind\">\(record.kind)</td>"
/// ```
///
/// Attribute values must be quoted in the literal; URLs built with ``DashboardURL`` are
/// percent-encoded first, then escaped here like any other text.
struct HTML: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The markup.
    private(set) var text: String

    /// Markup taken as it is: only for text this file's callers wrote themselves.
    init(trusted text: String) {
        self.text = text
    }

    init(stringLiteral value: String) {
        text = value
    }

    typealias StringInterpolation = Interpolation

    init(stringInterpolation: Interpolation) {
        text = stringInterpolation.text
    }

    var description: String { text }

    /// Nothing.
    static let empty = HTML(trusted: "")

    /// `fragments` one after the other.
    static func join(_ fragments: [HTML], separator: HTML = .empty) -> HTML {
        HTML(trusted: fragments.map(\.text).joined(separator: separator.text))
    }

    /// `fragment` when `condition` holds, else nothing.
    static func when(_ condition: Bool, _ fragment: @autoclosure () -> HTML) -> HTML {
        condition ? fragment() : .empty
    }

    /// The interpolation that escapes everything but `HTML`.
    struct Interpolation: StringInterpolationProtocol {
        var text = ""

        init(literalCapacity: Int, interpolationCount: Int) {
            text.reserveCapacity(literalCapacity + interpolationCount * 16)
        }

        mutating func appendLiteral(_ literal: String) {
            text += literal
        }

        mutating func appendInterpolation(_ html: HTML) {
            text += html.text
        }

        mutating func appendInterpolation(_ fragments: [HTML]) {
            for fragment in fragments { text += fragment.text }
        }

        mutating func appendInterpolation(_ value: String) {
            text += HTML.escape(value)
        }

        mutating func appendInterpolation(_ value: some CustomStringConvertible) {
            text += HTML.escape(value.description)
        }
    }

    /// `value` with the five characters that matter in text and quoted attributes escaped.
    static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            if let entity = entities[scalar] {
                out += entity
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// The characters ``escape(_:)`` replaces, and their entities.
    private static let entities: [Unicode.Scalar: String] = ["&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"]
}

/// Dashboard links: a path and query parameters, percent-encoded, below the path the server is
/// mounted at.
enum DashboardURL {
    /// The path the server answers under when it is mounted in another application
    /// (``SpoolMount``), such as `/spool`; empty when it serves from its own root. Set by the
    /// mount for the request it answers, so every link, form and redirect it writes stays below it.
    @TaskLocal static var mountPath = ""

    /// The characters left as they are in a query key or value (RFC 3986 unreserved).
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// `text` percent-encoded for a path segment or a query key or value.
    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }

    /// `path` (one of the server's own, such as `/jobs`) below ``mountPath``, with the parameters
    /// that have a non-empty value, in order.
    static func make(_ path: String, _ parameters: [(String, String?)] = []) -> String {
        let mounted = mountPath.isEmpty ? path : (path == "/" ? mountPath : mountPath + path)
        return adding(parameters, to: mounted)
    }

    /// `target` (a path already below ``mountPath``) with the parameters that have a non-empty
    /// value, in order.
    static func adding(_ parameters: [(String, String?)], to target: String) -> String {
        let query = parameters.compactMap { name, value in
            value.flatMap { $0.isEmpty ? nil : encode(name) + "=" + encode($0) }
        }
        return query.isEmpty ? target : target + "?" + query.joined(separator: "&")
    }

    /// True for a path on this server (`/…` but not `//…`, no scheme), so a redirect to it
    /// cannot leave the site.
    static func isLocal(_ target: String) -> Bool {
        target.hasPrefix("/") && !target.hasPrefix("//") && !target.hasPrefix("/\\")
            && !target.unicodeScalars.contains { $0.value < 0x20 || $0 == "\\" }
    }
}

/// The fields of an `application/x-www-form-urlencoded` text: a form body or a query string.
struct FormFields: Sendable {
    /// The fields in order; a name may repeat.
    let pairs: [(String, String)]

    /// Parses `text` (`a=1&b=two+words&c=%2F`): `+` is a space, `%XX` a byte; a malformed escape
    /// is kept as written.
    init(_ text: String) {
        pairs = text.split(separator: "&", omittingEmptySubsequences: true).map { part in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ piece: Substring) -> String {
                let spaced = piece.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(pieces[0]), pieces.count > 1 ? decode(pieces[1]) : "")
        }
    }

    /// The first value of `name`, trimmed; nil when absent or empty.
    subscript(name: String) -> String? {
        guard let value = pairs.first(where: { $0.0 == name })?.1.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
            return nil
        }
        return value
    }
}
