import Foundation

/// Reads the members of one JSON object of a request body, refusing unknown and repeated
/// members and answering every bad value with a ``Problem`` 400 that names the field (prefixed
/// with `path`, e.g. `jobs[3].`) and what is wrong with it.
struct FieldReader {
    let json: JSONValue
    let path: String

    /// The longest name (kind, queue, unique key, worker) accepted.
    static let maximumNameLength = 255
    /// The longest number of seconds accepted: a year.
    static let maximumSeconds = 366.0 * 86_400

    /// - Throws: ``Problem`` when `json` is not an object, or has a member not in `known` or
    ///   a member twice.
    init(_ json: JSONValue, path: String = "", known: [String], what: String = "the request body") throws {
        guard case .object(let members) = json else {
            if path.isEmpty { throw Problem.badRequest("\(what) must be a JSON object (got \(json.typeName))") }
            throw Problem.invalidField(String(path.dropLast()), "must be an object (got \(json.typeName))")
        }
        var seen = Set<String>()
        for (key, _) in members {
            guard known.contains(key) else {
                throw Problem.invalidField(path + key, "is not a known field (known: \(known.joined(separator: ", ")))")
            }
            guard seen.insert(key).inserted else { throw Problem.invalidField(path + key, "appears twice") }
        }
        self.json = json
        self.path = path
    }

    /// The member `key`, nil when absent or null.
    func field(_ key: String) -> JSONValue? {
        guard let value = json[key] else { return nil }
        if case .null = value { return nil }
        return value
    }

    /// A non-empty string of at most ``maximumNameLength`` bytes.
    func name(_ key: String) throws -> String? {
        guard let value = field(key) else { return nil }
        guard case .string(let text) = value else { throw Problem.invalidField(path + key, "must be a string (got \(value.typeName))") }
        guard !text.isEmpty else { throw Problem.invalidField(path + key, "must not be empty") }
        guard text.utf8.count <= Self.maximumNameLength else {
            throw Problem.invalidField(path + key, "must be at most \(Self.maximumNameLength) bytes long (got \(text.utf8.count))")
        }
        return text
    }

    /// Any string.
    func string(_ key: String) throws -> String? {
        guard let value = field(key) else { return nil }
        guard case .string(let text) = value else { throw Problem.invalidField(path + key, "must be a string (got \(value.typeName))") }
        return text
    }

    /// A whole number that fits in 64 bits, within `range` when given.
    func integer(_ key: String, in range: ClosedRange<Int>? = nil) throws -> Int? {
        guard let value = field(key) else { return nil }
        guard case .number(let text) = value else { throw Problem.invalidField(path + key, "must be an integer (got \(value.typeName))") }
        guard let number = Int(text) else {
            let isWhole = !text.contains { $0 == "." || $0 == "e" || $0 == "E" }
            throw Problem.invalidField(path + key, isWhole ? "must fit in 64 bits (got \(text))" : "must be an integer (got \(text))")
        }
        if let range, !range.contains(number) {
            throw Problem.invalidField(path + key, "must be from \(range.lowerBound) to \(range.upperBound) (got \(number))")
        }
        return number
    }

    /// A finite number of seconds, at most `maximum` (default a year), as a duration.
    func seconds(_ key: String, allowZero: Bool, maximum: Double = FieldReader.maximumSeconds) throws -> Duration? {
        guard let value = field(key) else { return nil }
        guard case .number(let text) = value, let number = Double(text), number.isFinite else {
            throw Problem.invalidField(path + key, "must be a number of seconds (got \(value.typeName))")
        }
        guard allowZero ? number >= 0 : number > 0 else {
            throw Problem.invalidField(path + key, "must be \(allowZero ? "zero or more" : "more than zero") seconds (got \(text))")
        }
        guard number <= maximum else {
            let limit = maximum == Self.maximumSeconds ? "a year, \(Int(maximum)) seconds" : "\(maximum.formatted()) seconds"
            throw Problem.invalidField(path + key, "must be at most \(limit) (got \(text))")
        }
        return .milliseconds(Int64((number * 1000).rounded()))
    }

    /// A boolean.
    func bool(_ key: String) throws -> Bool? {
        guard let value = field(key) else { return nil }
        guard case .bool(let flag) = value else { throw Problem.invalidField(path + key, "must be true or false (got \(value.typeName))") }
        return flag
    }

    /// An array (of at most `maximumCount` items when given).
    func array(_ key: String, maximumCount: Int? = nil) throws -> [JSONValue]? {
        guard let value = field(key) else { return nil }
        guard case .array(let items) = value else { throw Problem.invalidField(path + key, "must be an array (got \(value.typeName))") }
        if let maximumCount, items.count > maximumCount {
            throw Problem.invalidField(path + key, "holds \(items.count) items; at most \(maximumCount)")
        }
        return items
    }

    /// A field that must be present.
    func required<T>(_ key: String, _ value: T?, _ what: String) throws -> T {
        guard let value else { throw Problem.invalidField(path + key, "is required: \(what)") }
        return value
    }
}
