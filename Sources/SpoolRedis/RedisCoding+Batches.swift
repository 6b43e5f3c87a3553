// RedisCoding: reading batches back.

import Foundation
import Spool

extension RedisCoding {
    /// `a + b` for counts, saturating at `Int.max`.
    static func saturatingAdd(_ a: Int, _ b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }

    /// A batch from the batch script's reply for it: `{fields of its hash, {state, count, …}}`,
    /// or an empty list when it is unknown (nil).
    ///
    /// Treats the reply as hostile: counts saturate (``StoredValue/count(_:)``), a callback id
    /// that is no id is left out.
    /// - Throws: ``SpoolError`` `storageUnavailable` naming the batch and the field for a reply of
    ///   the wrong shape, a missing creation time, a field that should be a number and is not, or
    ///   a job state this build does not know.
    static func batch(_ id: BatchID, _ reply: RESPValue) throws -> BatchRecord? {
        guard let parts = reply.elements else { throw corrupt("batch \(id): a reply of the wrong shape") }
        if parts.isEmpty { return nil }
        guard parts.count == 2, let fields = try hash(parts[0]), let countCells = parts[1].elements else {
            throw corrupt("batch \(id): a reply of the wrong shape")
        }
        func number(_ name: String) throws -> Int64? {
            guard let bytes = fields[name], !bytes.isEmpty else { return nil }
            guard let value = RedisCoding.number(bytes) else {
                throw corrupt("batch \(id): field '\(name)' is not a number: '\(String(decoding: bytes.prefix(40), as: UTF8.self))'")
            }
            return value
        }
        func count(_ name: String) throws -> Int { StoredValue.count(try number(name) ?? 0) }
        guard let created = try number("created") else { throw corrupt("batch \(id): field 'created' is missing") }
        let total = try count("total")
        let succeeded = try count("succeeded")
        let finished = [try count("dead"), try count("cancelled")].reduce(succeeded, saturatingAdd)
        let cancelledAt = try number("cancelledat").map { date(millis: $0) }
        let state: BatchState =
            cancelledAt != nil ? .cancelled : finished < total ? .running : succeeded >= total ? .succeeded : .completed
        var record = BatchRecord(
            id: id, state: state, total: total, counts: [:], createdAt: date(millis: created),
            finishedAt: try number("finished").map { date(millis: $0) }, cancelledAt: cancelledAt, callbackJobs: [:],
            callbackEvents: [])
        for event in BatchEvent.allCases {
            guard let text = fields["ev:\(event.rawValue)"].map({ String(decoding: $0, as: UTF8.self) }) else { continue }
            record.callbackEvents.insert(event)
            if fields["fired:\(event.rawValue)"] != nil, let job = JobID(text) { record.callbackJobs[event] = job }
        }
        for pair in stride(from: 0, to: countCells.count - 1, by: 2) {
            let name = text(countCells[pair]) ?? ""
            guard let state = JobState(rawValue: name) else {
                throw corrupt("batch \(id): a job of the batch holds an unknown job state '\(name.prefix(40))' in field 'state'")
            }
            record.counts[state] = StoredValue.count(RedisCoding.number(countCells[pair + 1]) ?? 0)
        }
        return record
    }
}
