import HTTPTypes
import Hummingbird
import Spool

/// The W3C trace context (`traceparent`, `tracestate`) and the metadata of an enqueue, as the
/// API takes them: from the request's headers, or from a job's `metadata` object, checked so a
/// worker in any language receives a well-formed context or none.
///
/// A job's own `metadata.traceparent` wins over the request's header; a job without one gets the
/// header's `traceparent` and `tracestate`. ``TracingMiddleware`` (when the server traces) then
/// keeps that context, so the job's runs are children of the caller's span.
enum TraceContext {
    /// The most members of a job's metadata.
    static let maximumMetadataKeys = 64
    /// The longest metadata key, in Unicode code points: as long as a name.
    static let maximumKeyLength = JobInput.maximumNameLength
    /// The longest metadata value, in Unicode code points.
    static let maximumValueLength = 4096
    /// The longest `tracestate` accepted, in characters (W3C asks vendors to pass on 512).
    static let maximumTraceStateLength = 512

    /// `traceparent` as W3C Trace Context level 1 writes it: version (two lowercase hex digits,
    /// not `ff`), trace id (32, not all zero), parent id (16, not all zero), flags (2); version
    /// `00` has nothing after the flags, a later version may add `-` and more printable ASCII.
    static let traceParentPattern =
        "^(00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}|(?!00|ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(-[ -~]*)?)$"
    /// `tracestate`: printable ASCII (its list syntax is the tracers' business: they drop what
    /// they cannot read).
    static let traceStatePattern = "^[ -~]*$"

    /// Whether `text` is a `traceparent` (see ``traceParentPattern``).
    static func isTraceParent(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count >= 55 else { return false }
        func isHex(_ range: Range<Int>) -> Bool {
            bytes[range].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        }
        func isZero(_ range: Range<Int>) -> Bool { bytes[range].allSatisfy { $0 == 0x30 } }
        let dash = UInt8(ascii: "-")
        guard isHex(0..<2), bytes[2] == dash, isHex(3..<35), bytes[35] == dash, isHex(36..<52), bytes[52] == dash, isHex(53..<55)
        else { return false }
        guard !isZero(3..<35), !isZero(36..<52) else { return false }
        let version = bytes[0..<2]
        if version.elementsEqual("ff".utf8) { return false }
        if version.elementsEqual("00".utf8) { return bytes.count == 55 }
        return bytes.count == 55 || (bytes[55] == dash && bytes[56...].allSatisfy { (0x20...0x7E).contains($0) })
    }

    /// Checks `text` as the `tracestate` of `field`.
    /// - Throws: ``Problem`` 400 naming `field`.
    static func checkTraceState(_ text: String, field: String) throws {
        let length = text.unicodeScalars.count
        guard length <= maximumTraceStateLength else {
            throw Problem.invalidField(field, "must be at most \(maximumTraceStateLength) characters long (got \(length))")
        }
        guard text.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw Problem.invalidField(field, "must be printable ASCII (W3C Trace Context tracestate)")
        }
    }

    /// Checks `text` as the `traceparent` of `field`.
    /// - Throws: ``Problem`` 400 naming `field`.
    static func checkTraceParent(_ text: String, field: String) throws {
        guard isTraceParent(text) else {
            throw Problem.invalidField(
                field,
                "must be a W3C traceparent: VERSION-TRACEID-PARENTID-FLAGS in lowercase hex, such as 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01, with ids not all zero (got '\(text.prefix(80))')"
            )
        }
    }

    /// The `metadata` member of one job: an object of at most ``maximumMetadataKeys`` string
    /// values; keys of 1 to ``maximumKeyLength`` code points without control characters, values
    /// of at most ``maximumValueLength``; a `traceparent` and `tracestate` checked as W3C's.
    /// - Throws: ``Problem`` 400 naming the field (`metadata`, `jobs[2].metadata.traceparent`).
    static func metadata(_ value: JSONValue, field: String) throws -> [String: String] {
        guard case .object(let members) = value else {
            throw Problem.invalidField(field, "must be an object of string values (got \(value.typeName))")
        }
        guard members.count <= maximumMetadataKeys else {
            throw Problem.invalidField(field, "holds \(members.count) keys; at most \(maximumMetadataKeys)")
        }
        var metadata: [String: String] = [:]
        for (key, member) in members {
            let length = key.unicodeScalars.count
            guard (1...maximumKeyLength).contains(length) else {
                throw Problem.invalidField(
                    field, "keys must be 1 to \(maximumKeyLength) characters (Unicode code points) long (got one of \(length))")
            }
            guard !key.unicodeScalars.contains(where: JobInput.isControl) else {
                throw Problem.invalidField(field, "keys must not hold control characters")
            }
            guard case .string(let text) = member else {
                throw Problem.invalidField("\(field).\(key)", "must be a string (got \(member.typeName))")
            }
            let valueLength = text.unicodeScalars.count
            guard valueLength <= maximumValueLength else {
                throw Problem.invalidField(
                    "\(field).\(key)", "must be at most \(maximumValueLength) characters (Unicode code points) long (got \(valueLength))")
            }
            guard metadata.updateValue(text, forKey: key) == nil else { throw Problem.invalidField("\(field).\(key)", "appears twice") }
        }
        if let parent = metadata["traceparent"] {
            try checkTraceParent(parent, field: "\(field).traceparent")
        }
        if let state = metadata["tracestate"] {
            try checkTraceState(state, field: "\(field).tracestate")
        }
        return metadata
    }

    /// The `traceparent` and `tracestate` headers of `request` as metadata (empty without a
    /// `traceparent`: a `tracestate` alone is checked, then ignored, as W3C asks).
    /// - Throws: ``Problem`` 400 naming `traceparent` or `tracestate` when either is malformed,
    ///   or `traceparent` when it is repeated.
    static func headers(_ request: Request) throws -> [String: String] {
        let parents = request.headers[values: HTTPField.Name("traceparent")!]
        let states = request.headers[values: HTTPField.Name("tracestate")!]
        guard parents.count <= 1 else { throw Problem.invalidField("traceparent", "must be sent once (got \(parents.count) headers)") }
        // Several tracestate headers are one list (RFC 9110 field combination).
        let state = states.isEmpty ? nil : states.joined(separator: ",")
        if let state { try checkTraceState(state, field: "tracestate") }
        guard let parent = parents.first else { return [:] }
        try checkTraceParent(parent, field: "traceparent")
        var context = ["traceparent": parent]
        context["tracestate"] = state
        return context
    }

    /// `job` with the header's context, unless its own metadata has a `traceparent` or a
    /// `tracestate` (the job's own context wins whole; the two are never mixed).
    static func apply(_ context: [String: String], to job: inout NewJob) {
        guard !context.isEmpty, job.metadata["traceparent"] == nil, job.metadata["tracestate"] == nil else { return }
        job.metadata.merge(context) { $1 }
    }
}
