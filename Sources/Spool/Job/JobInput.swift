import Foundation

/// The rules every entry point (library, CLI, HTTP, worker protocol) applies to what a job is
/// made of, so a value out of range is refused where it comes in, with an error naming it,
/// and never traps deeper in.
///
/// - **Names** (kind, queue, unique key, worker): 1 to ``maximumNameLength`` Unicode code points
///   (what JSON Schema's `maxLength` counts) once normalised to Unicode NFC, without control characters (U+0000–U+001F, U+007F–U+009F).
///   Two spellings of one name (NFC `café` and NFD `café`) are one name: every entry stores the
///   NFC form, so counts, filters, unique keys and pauses agree.
/// - **Run-at times**: from ``earliestRunAt`` (1970-01-01T00:00:00Z) to ``latestRunAt``
///   (9999-12-31T23:59:59.999Z), the range of RFC 3339 years that every driver stores exactly.
/// - **Durations** (timeouts, delays): positive and at most ``maximumDuration`` (100 years).
/// - **Priorities**: ``priorityRange`` (−32,768 to 32,767); **max attempts**: 1 to
///   ``maximumAttempts`` (65,535).
public enum JobInput {
    /// The priorities accepted: −32,768 to 32,767 (higher runs first).
    public static let priorityRange = -32_768...32_767
    /// The most attempts a job may be given.
    public static let maximumAttempts = 65_535
    /// The most jobs one job may depend on (``NewJob/dependencies``); a fan-in wider than this
    /// goes through a batch's callback instead.
    public static let maximumDependencies = 1_000
    /// The longest name accepted, in Unicode code points (after NFC normalisation).
    public static let maximumNameLength = 255
    /// The earliest run-at time accepted: 1970-01-01T00:00:00Z.
    public static let earliestRunAt = Date(timeIntervalSince1970: 0)
    /// The latest run-at time accepted: 9999-12-31T23:59:59.999Z.
    public static let latestRunAt = Date(timeIntervalSince1970: 253_402_300_799.999)
    /// The longest timeout or delay accepted: 100 years.
    public static let maximumDuration = Duration.seconds(100 * 366 * 86_400)

    /// `text` in NFC, checked as a name.
    /// - Parameters:
    ///   - text: the name as given.
    ///   - field: the name of the field, for the error (`queue`, `jobs[2].kind`).
    /// - Throws: ``SpoolError`` `invalidArgument` naming `field` when the name is empty, too long
    ///   or holds a control character.
    public static func name(_ text: String, field: String) throws -> String {
        try normalizedName(text, field: field) ?? text
    }

    /// Checks `text` as ``name(_:field:)`` does; nil when it is a valid name as it is (no copy),
    /// else its NFC form. Every job's kind and queue come through here, twice (client and
    /// driver): a short ASCII name costs one pass over its bytes.
    static func normalizedName(_ text: String, field: String) throws -> String? {
        switch asciiName(text) {
        case .valid: return nil
        case .invalid, .notASCII: break
        }
        let normalized = text.precomposedStringWithCanonicalMapping
        guard !normalized.isEmpty else { throw SpoolError.invalid("\(field) must not be empty") }
        let length = normalized.unicodeScalars.count
        guard length <= maximumNameLength else {
            throw SpoolError.invalid("\(field) must be at most \(maximumNameLength) characters (Unicode code points) long (got \(length))")
        }
        if let bad = normalized.unicodeScalars.first(where: isControl) {
            throw SpoolError.invalid(
                "\(field) must not hold control characters (found U+\(String(bad.value, radix: 16, uppercase: true).leftPadded(to: 4)))"
            )
        }
        // Bytes, not `==`: Swift's string equality holds between NFC and NFD spellings.
        return normalized.utf8.elementsEqual(text.utf8) ? nil : normalized
    }

    /// True when `name` already follows the rules of ``name(_:field:)`` as it is.
    public static func isValidName(_ name: String) -> Bool {
        (try? normalizedName(name, field: "name")) == .some(nil)
    }

    /// `date`, checked against ``earliestRunAt`` ... ``latestRunAt``.
    /// - Throws: ``SpoolError`` `invalidArgument` naming `field`.
    public static func runAt(_ date: Date, field: String) throws -> Date {
        guard date.timeIntervalSince1970.isFinite, date >= earliestRunAt, date <= latestRunAt else {
            throw SpoolError.invalid(
                "\(field) must be from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z (got \(date.timeIntervalSince1970) s since 1970)"
            )
        }
        return date
    }

    /// `duration`, checked to be more than zero (or zero, when `allowZero`) and at most
    /// ``maximumDuration``.
    /// - Throws: ``SpoolError`` `invalidArgument` naming `field`.
    public static func duration(_ duration: Duration, field: String, allowZero: Bool = false) throws -> Duration {
        guard allowZero ? duration >= .zero : duration > .zero else {
            throw SpoolError.invalid("\(field) must be \(allowZero ? "zero or more" : "more than zero") (got \(duration))")
        }
        guard duration <= maximumDuration else {
            throw SpoolError.invalid("\(field) must be at most 100 years (got \(duration))")
        }
        return duration
    }

    private enum ASCIIName {
        case valid, invalid, notASCII
    }

    /// Whether `text` is a valid name of ASCII only (1 to 255 bytes, no control character);
    /// `.notASCII` too when its bytes are not contiguous (a bridged string), for the slow path.
    private static func asciiName(_ text: String) -> ASCIIName {
        let verdict = text.utf8.withContiguousStorageIfAvailable { bytes -> ASCIIName in
            var control = false
            for byte in bytes {
                if byte >= 0x80 { return .notASCII }
                control = control || byte < 0x20 || byte == 0x7F
            }
            return control || bytes.isEmpty || bytes.count > maximumNameLength ? .invalid : .valid
        }
        return verdict ?? .notASCII
    }

    /// Whether `scalar` is a control character a name may not hold (C0, DEL, C1).
    package static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
