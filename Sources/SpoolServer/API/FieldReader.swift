import Foundation
import Spool

/// Reads the members of one JSON object of a request body, refusing unknown members and
/// answering every bad value with a ``Problem`` 400 that names the field (prefixed with
/// `path`, e.g. `jobs[3].`) and what is wrong with it.
///
/// `null` is refused for every member except those named `nullable` (leave a member out to
/// get its default), so a client's `"timeout_s": null` is never silently read as "no timeout".
/// Whole numbers may be written as JSON Schema counts them: `256`, `256.0` and `2.56e2` are
/// one integer; `256.5` is not.
struct FieldReader {
    let json: JSONValue
    let path: String
    let nullable: Set<String>

    /// The longest name (kind, queue, unique key, worker) accepted, in Unicode code points.
    static let maximumNameLength = JobInput.maximumNameLength
    /// The longest number of seconds accepted for delays, timeouts and retries: a year (366 days).
    static let maximumSeconds = 366.0 * 86_400
    /// The shortest timeout or lease accepted: a millisecond (durations are kept to the millisecond).
    static let minimumPositiveSeconds = 0.001

    /// - Throws: ``Problem`` when `json` is not an object or has a member not in `known`.
    init(_ json: JSONValue, path: String = "", known: [String], nullable: Set<String> = [], what: String = "the request body") throws {
        guard case .object(let members) = json else {
            if path.isEmpty { throw Problem.badRequest("\(what) must be a JSON object (got \(json.typeName))") }
            throw Problem.invalidField(String(path.dropLast()), "must be an object (got \(json.typeName))")
        }
        var seen = Set<String>()
        for (key, _) in members {
            guard known.contains(key) else {
                throw Problem.invalidField(path + key, "is not a known field (known: \(known.joined(separator: ", ")))")
            }
            // The parser refuses repeated members; a value built in code could still hold them.
            guard seen.insert(key).inserted else { throw Problem.invalidField(path + key, "appears twice") }
        }
        self.json = json
        self.path = path
        self.nullable = nullable
    }

    /// The member `key`, nil when absent (or null, when `key` is nullable).
    /// - Throws: ``Problem`` for a null member that is not nullable.
    func field(_ key: String) throws -> JSONValue? {
        guard let value = json[key] else { return nil }
        if case .null = value {
            guard nullable.contains(key) else {
                throw Problem.invalidField(path + key, "must not be null (leave the field out for its default)")
            }
            return nil
        }
        return value
    }

    /// A name (kind, queue, unique key, worker): checked by ``JobInput/name(_:field:)`` and
    /// returned in Unicode NFC.
    func name(_ key: String) throws -> String? {
        guard let value = try field(key) else { return nil }
        return try Self.name(value, field: path + key)
    }

    /// `value` as a name, for `field`: a string of 1 to ``maximumNameLength`` code points as sent
    /// (what JSON Schema's `maxLength` counts) and as stored (NFC), without control characters.
    static func name(_ value: JSONValue, field: String) throws -> String {
        guard case .string(let text) = value else { throw Problem.invalidField(field, "must be a string (got \(value.typeName))") }
        let length = text.unicodeScalars.count
        guard length <= maximumNameLength else {
            throw Problem.invalidField(field, "must be at most \(maximumNameLength) characters (Unicode code points) long (got \(length))")
        }
        do {
            return try JobInput.name(text, field: field)
        } catch let error as SpoolError {
            throw problem(error, field: field)
        }
    }

    /// The 400 for a core rule's error about `field` (its message starts with the field's name).
    static func problem(_ error: SpoolError, field: String) -> Problem {
        let message = error.message
        let reason = message.hasPrefix(field + " ") ? String(message.dropFirst(field.count + 1)) : message
        return Problem.invalidField(field, reason)
    }

    /// Any string.
    func string(_ key: String) throws -> String? {
        guard let value = try field(key) else { return nil }
        guard case .string(let text) = value else { throw Problem.invalidField(path + key, "must be a string (got \(value.typeName))") }
        return text
    }

    /// A whole number within `range`.
    func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = try field(key) else { return nil }
        guard case .number(let text) = value else { throw Problem.invalidField(path + key, "must be an integer (got \(value.typeName))") }
        switch Self.wholeNumber(text) {
        case .value(let number) where range.contains(number):
            return number
        case .value(let number) where number < range.lowerBound:
            throw Problem.invalidField(path + key, "must be at least \(range.lowerBound) (got \(text))")
        case .value, .outOfRange:
            let below = text.hasPrefix("-") && range.lowerBound > Int.min
            let bound = below ? "at least \(range.lowerBound)" : "at most \(range.upperBound)"
            throw Problem.invalidField(path + key, "must be \(bound) (got \(text))")
        case .fractional:
            throw Problem.invalidField(path + key, "must be an integer (got \(text))")
        }
    }

    /// What a JSON number is as an integer.
    enum WholeNumber: Equatable {
        case value(Int)
        /// Whole, but past the range of `Int`.
        case outOfRange
        case fractional
    }

    /// `text` (JSON number syntax) as a whole number: `256`, `256.0`, `2.56e2` and `25600e-2`
    /// are all 256, as in JSON Schema, where `integer` means a number without a fractional part.
    static func wholeNumber(_ text: String) -> WholeNumber {
        if let number = Int(text) { return .value(number) }
        let bytes = Array(text.utf8)
        var index = 0
        let negative = bytes.first == UInt8(ascii: "-")
        if negative { index += 1 }
        var digits: [UInt8] = []
        var point = 0
        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        while index < bytes.count, isDigit(bytes[index]) {
            digits.append(bytes[index])
            point += 1
            index += 1
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            while index < bytes.count, isDigit(bytes[index]) {
                digits.append(bytes[index])
                index += 1
            }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            let exponentNegative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") { index += 1 }
            var exponent = 0
            while index < bytes.count, isDigit(bytes[index]) {
                exponent = min(exponent * 10 + Int(bytes[index] - UInt8(ascii: "0")), 1_000_000_000)
                index += 1
            }
            point += exponentNegative ? -exponent : exponent
        }
        // Leading zeros move nothing; trailing zeros after the point are whole.
        while let first = digits.first, first == UInt8(ascii: "0") {
            digits.removeFirst()
            point -= 1
        }
        while let last = digits.last, last == UInt8(ascii: "0") { digits.removeLast() }
        if digits.isEmpty { return .value(0) }
        guard point >= digits.count else { return .fractional }
        guard point <= 19 else { return .outOfRange }
        let whole = String(decoding: digits, as: UTF8.self) + String(repeating: "0", count: point - digits.count)
        guard let number = Int(negative ? "-" + whole : whole) else { return .outOfRange }
        return .value(number)
    }

    /// A finite number of seconds from `minimum` to `maximum` (default a year), as a duration
    /// rounded to the millisecond.
    func seconds(_ key: String, minimum: Double, maximum: Double = FieldReader.maximumSeconds) throws -> Duration? {
        guard let value = try field(key) else { return nil }
        guard case .number(let text) = value else {
            throw Problem.invalidField(path + key, "must be a number of seconds (got \(value.typeName))")
        }
        let number = Double(text) ?? .nan
        if number < minimum {
            let bound = minimum == 0 ? "zero or more" : number <= 0 ? "more than zero" : "at least \(Self.text(minimum))"
            throw Problem.invalidField(path + key, "must be \(bound) seconds (got \(text))")
        }
        guard number.isFinite, number <= maximum else {
            let bound = maximum == Self.maximumSeconds ? "a year, \(Self.text(maximum))" : Self.text(maximum)
            throw Problem.invalidField(path + key, "must be at most \(bound) seconds (got \(text))")
        }
        return .milliseconds(Int64((number * 1000).rounded()))
    }

    /// `value` without a needless `.0` and without grouping (`86400`, `0.001`).
    static func text(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// A rate `COUNT/PERIOD` as the API takes it: COUNT a whole number from 1 to 999,999,999
    /// without leading zeros, PERIOD an optional whole number from 1 to 99,999 (no leading
    /// zeros) and a unit (`ms`, `s`, `m`, `h`, `d`), nothing else (no spaces or signs): the
    /// grammar of ``ratePattern``, which the OpenAPI document states.
    func rate(_ key: String) throws -> QueueLimits.Rate? {
        guard let text = try string(key) else { return nil }
        guard Self.isRate(text) else {
            throw Problem.invalidField(
                path + key,
                "must be COUNT/PERIOD such as 100/s or 10/5m: COUNT 1 to 999999999, PERIOD an optional 1 to 99999 and a unit ms, s, m, h or d (got '\(text)')"
            )
        }
        do {
            return try QueueLimits.Rate(parsing: text)
        } catch let error as SpoolError {
            throw Problem.invalidField(path + key, error.message)
        }
    }

    /// The pattern of a rate (see ``rate(_:)``).
    static let ratePattern = "^[1-9][0-9]{0,8}/([1-9][0-9]{0,4})?(ms|s|m|h|d)$"

    static func isRate(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        func isNumber(_ digits: Substring, upTo length: Int) -> Bool {
            (1...length).contains(digits.count) && digits.first != "0" && digits.allSatisfy { $0.isASCII && $0.isWholeNumber }
        }
        let period = parts[1]
        let amount = period.prefix { $0.isASCII && $0.isWholeNumber }
        let unit = period.dropFirst(amount.count)
        return isNumber(parts[0], upTo: 9) && (amount.isEmpty || isNumber(amount, upTo: 5)) && ["ms", "s", "m", "h", "d"].contains(unit)
    }

    /// A boolean.
    func bool(_ key: String) throws -> Bool? {
        guard let value = try field(key) else { return nil }
        guard case .bool(let flag) = value else { throw Problem.invalidField(path + key, "must be true or false (got \(value.typeName))") }
        return flag
    }

    /// An array (of at most `maximumCount` items when given).
    func array(_ key: String, maximumCount: Int? = nil) throws -> [JSONValue]? {
        guard let value = try field(key) else { return nil }
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
