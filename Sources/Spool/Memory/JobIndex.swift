/// Every job of a memory store by id, in chunks of 64 consecutive ids.
///
/// A process makes ids from one counter (``JobID/low``), so the jobs a store holds have mostly
/// consecutive low halves, and they are enqueued, claimed and forgotten roughly in that order.
/// Keying a hash table by chunk (`low >> 6`) and indexing the chunk by the rest keeps those
/// accesses next to each other in memory: draining a million jobs walks the index instead of
/// missing the cache on every job, as one hash table entry per job did (a third of the memory
/// driver's finish time). It also costs about 8 bytes per job instead of 20–40.
///
/// Ids from elsewhere (given by a caller) still work; they only fill their chunks sparsely, at
/// worst one 64-slot chunk (about 560 bytes) per job.
struct JobIndex {
    static let slotBits = 6
    static let slotsPerChunk = 1 << slotBits

    /// One chunk's slots; slot `i` holds the job whose `low & 63 == i`. Raw memory: only the
    /// store's lock reaches it, and an array's exclusivity and uniqueness checks cost more than
    /// the store itself.
    final class Chunk {
        let slots = UnsafeMutablePointer<MemoryJob?>.allocate(capacity: JobIndex.slotsPerChunk)
        var count = 0

        init() {
            slots.initialize(repeating: nil, count: JobIndex.slotsPerChunk)
        }

        deinit {
            slots.deinitialize(count: JobIndex.slotsPerChunk)
            slots.deallocate()
        }
    }

    private var chunks: [UInt64: Chunk] = [:]
    /// The chunk used last, and its key: jobs are stored and forgotten in runs of consecutive
    /// ids, so most calls need no hash lookup at all.
    private var recentKey = UInt64.max
    private var recent: Chunk?

    private static func place(_ id: JobID) -> (chunk: UInt64, slot: Int) {
        (id.low >> UInt64(slotBits), Int(truncatingIfNeeded: id.low) & (slotsPerChunk - 1))
    }

    /// The job with this id, if indexed (the full id is compared: only the low half places it).
    func job(_ id: JobID) -> MemoryJob? {
        let (key, slot) = Self.place(id)
        guard let job = chunks[key]?.slots[slot], job.id == id else { return nil }
        return job
    }

    /// ``job(_:)`` through the one-entry chunk cache: for runs of lookups of nearby ids (a
    /// worker's batch of outcomes).
    mutating func nearbyJob(_ id: JobID) -> MemoryJob? {
        let (key, slot) = Self.place(id)
        guard let job = chunk(key)?.slots[slot], job.id == id else { return nil }
        return job
    }

    /// The chunk of `key`, through the one-entry cache.
    private mutating func chunk(_ key: UInt64) -> Chunk? {
        if key == recentKey, let recent { return recent }
        guard let chunk = chunks[key] else { return nil }
        (recentKey, recent) = (key, chunk)
        return chunk
    }

    /// Indexes `job`, unless its place is taken: then returns the job holding it (a job with
    /// the same id, or, one chance in 2^64, another id with the same low half) and changes
    /// nothing.
    mutating func insert(_ job: MemoryJob) -> MemoryJob? {
        let (key, slot) = Self.place(job.id)
        let chunk: Chunk
        if let existing = self.chunk(key) {
            chunk = existing
        } else {
            chunk = Chunk()
            chunks[key] = chunk
            (recentKey, recent) = (key, chunk)
        }
        if let holder = chunk.slots[slot] { return holder }
        chunk.slots[slot] = job
        chunk.count += 1
        return nil
    }

    /// Removes `job` (this very object: another one in its place stays). Returns whether it was
    /// indexed.
    @discardableResult
    mutating func remove(_ job: MemoryJob) -> Bool {
        let (key, slot) = Self.place(job.id)
        guard let chunk = self.chunk(key), chunk.slots[slot] === job else { return false }
        chunk.slots[slot] = nil
        chunk.count -= 1
        if chunk.count == 0 {
            chunks[key] = nil
            if recentKey == key { (recentKey, recent) = (.max, nil) }
        }
        return true
    }

    /// Every indexed job, in no particular order.
    var jobs: some Sequence<MemoryJob> {
        chunks.values.lazy.flatMap { chunk in
            UnsafeMutableBufferPointer(start: chunk.slots, count: JobIndex.slotsPerChunk).lazy.compactMap { $0 }
        }
    }
}
