import Foundation
import NIOCore
import Spool

/// A keyless enqueue batch as the data of `COPY jobs (…) FROM STDIN` in PostgreSQL's text
/// format: one line per job, columns separated by tabs, `\N` for NULL.
///
/// Why COPY: the server stores a thousand jobs from COPY in about 11 ms against about 15 ms
/// (bind plus execute) for `INSERT … SELECT FROM unnest(…)` over the same columns (2 cores,
/// server log with `log_min_duration_statement = 0`). COPY skips the fifteen array
/// parameters' decoding and the function scan's tuple store, and writes the heap a page at a
/// time (one WAL record per page, not per row). COPY knows no `ON CONFLICT`, so only batches
/// without unique keys take it.
///
/// The lines are made while the COPY runs, chunk by chunk, each job's payload and metadata
/// encoded as its line is written: the server stores one chunk while the next is made, on
/// the other core. Made up front, the lines left the server idle while they were made: W2
/// (batches of 1,000) went from 89k-104k to 110k-120k jobs/s when they were streamed (2 cores,
/// alternating runs). Memory: one chunk at a time, whatever the batch's size.
struct CopyRows {
    /// The columns of each line, in order.
    static let columns = [
        "id", "queue", "kind", "payload", "priority", "state", "max_attempts", "run_at", "created_at", "timeout_us", "metadata",
    ]
    /// The fewest jobs a batch needs to take COPY. A COPY costs two round trips more than an
    /// INSERT (the server's answer to the command before the data, and the notification in a
    /// statement of its own; 0.1-0.2 ms each on loopback) and saves the server about 3 µs a
    /// job (11-13 ms against 15 ms per 1,000): it pays from about 64 jobs. A single enqueue by
    /// COPY took five round trips instead of three (W1 1.17k → 1.43k jobs/s with the INSERT).
    static let minimumBatch = 64
    /// About how many bytes a chunk holds before the next line starts a new one: about a
    /// hundred no-op jobs per write, so the server starts on the first chunk early.
    static let chunkSize = 16 * 1024

    /// Makes the lines of `batch` and hands them to `send` in chunks of about ``chunkSize``
    /// bytes, in order.
    /// - Throws: what encoding a job's payload or metadata throws (``InsertBatch/body(_:)``),
    ///   or what `send` throws; nothing more is sent then.
    static func send(
        _ batch: InsertBatch, allocator: ByteBufferAllocator = ByteBufferAllocator(), to send: (ByteBuffer) async throws -> Void
    ) async throws {
        var rows = CopyRows(buffer: allocator.buffer(capacity: chunkSize + 1024))
        for index in 0..<batch.count {
            try rows.writeLine(batch, index)
            if rows.buffer.readableBytes >= chunkSize {
                try await send(rows.buffer)
                rows.buffer = allocator.buffer(capacity: chunkSize + 1024)
            }
        }
        if rows.buffer.readableBytes > 0 { try await send(rows.buffer) }
    }

    private var buffer: ByteBuffer

    private mutating func writeLine(_ batch: InsertBatch, _ index: Int) throws {
        let (payload, metadata) = try batch.body(index)
        writeUUID(batch.uuids[index])
        tab(); writeText(batch.queues[index])
        tab(); writeText(batch.kinds[index])
        tab(); writeBytes(payload)
        tab(); writeInteger(batch.priorities[index])
        tab(); buffer.writeString(batch.states[index].rawValue)
        tab(); writeInteger(batch.maxAttempts[index])
        tab(); writeInteger(batch.runAts[index])
        tab(); writeInteger(batch.createdAts[index])
        tab(); if let timeout = batch.timeouts[index] { writeInteger(timeout) } else { writeNull() }
        tab(); if let metadata { writeText(metadata) } else { writeNull() }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    private mutating func tab() { buffer.writeInteger(UInt8(ascii: "\t")) }

    private mutating func writeNull() { buffer.writeStaticString("\\N") }

    /// Text with COPY's escapes for the characters it gives meaning: backslash, tab, newline
    /// and carriage return.
    private mutating func writeText(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for (offset, byte) in bytes.enumerated() {
                let escaped: UInt8
                switch byte {
                case UInt8(ascii: "\\"): escaped = UInt8(ascii: "\\")
                case UInt8(ascii: "\t"): escaped = UInt8(ascii: "t")
                case UInt8(ascii: "\n"): escaped = UInt8(ascii: "n")
                case UInt8(ascii: "\r"): escaped = UInt8(ascii: "r")
                default: continue
                }
                buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<offset])))
                buffer.writeInteger(UInt8(ascii: "\\"))
                buffer.writeInteger(escaped)
                start = offset + 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start...])))
        }
    }

    /// `bytea` in hex (`\x…`, its backslash escaped for COPY).
    private mutating func writeBytes(_ bytes: [UInt8]) {
        buffer.writeStaticString("\\\\x")
        bytes.withUnsafeBytes { writeHex($0) }
    }

    /// 32 hex digits, which `uuid` reads as well as the dashed form.
    private mutating func writeUUID(_ uuid: UUID) {
        withUnsafeBytes(of: uuid.uuid) { writeHex($0) }
    }

    /// Two lower-case hex digits per byte.
    private mutating func writeHex(_ bytes: UnsafeRawBufferPointer) {
        _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes.count * 2) { out in
            for (index, byte) in bytes.enumerated() {
                out[2 * index] = Self.hex[Int(byte >> 4)]
                out[2 * index + 1] = Self.hex[Int(byte & 0x0F)]
            }
            return bytes.count * 2
        }
    }

    private mutating func writeInteger(_ value: Int64) {
        if value == 0 {
            buffer.writeInteger(UInt8(ascii: "0"))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 20 digits and a sign
        withUnsafeMutableBytes(of: &digits) { scratch in
            var magnitude = value.magnitude
            var position = scratch.count
            while magnitude > 0 {
                position -= 1
                scratch[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            }
            if value < 0 {
                position -= 1
                scratch[position] = UInt8(ascii: "-")
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: scratch[position...]))
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
}
