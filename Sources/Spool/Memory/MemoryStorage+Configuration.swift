// The memory driver's settings (MemoryStorage.Configuration).

extension MemoryStorage {
    /// Settings of the memory driver.
    public struct Configuration: Sendable {
        /// The most waiting (available + scheduled) jobs one queue holds. Default 10,000.
        public var capacity: Int
        /// The most finished jobs kept for inspection; older ones are forgotten. Default 10,000.
        public var finishedLimit: Int

        public init(capacity: Int = 10_000, finishedLimit: Int = 10_000) {
            self.capacity = max(1, capacity)
            self.finishedLimit = max(0, finishedLimit)
        }
    }
}
