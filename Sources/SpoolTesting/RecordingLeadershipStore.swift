import Spool

/// A ``LeadershipStore`` that passes every call on to `store` and records how each campaign
/// ended, so a test waits for a candidate's campaigns (events) instead of sleeping through them.
///
/// ```swift
/// let recorded = RecordingLeadershipStore(storage)
/// let candidate = LeaderElection(store: recorded, duty: "maintenance", holder: "b", ttl: ttl)
/// // … run it, then:
/// let outcomes = try await recorded.campaigns.waitForCount(2)  // two campaigns, won or lost
/// ```
public final class RecordingLeadershipStore: LeadershipStore {
    /// The store every call goes to.
    public let store: any LeadershipStore
    /// Whether each campaign that reached the store won (took or renewed the duty), in order;
    /// recorded when the store answered, before the candidate updates its own state. Campaigns
    /// that failed (the store unreachable) are not recorded.
    public let campaigns = EventRecorder<Bool>()

    public init(_ store: any LeadershipStore) {
        self.store = store
    }

    public func acquireLeadership(duty: String, holder: String, ttl: Duration) async throws -> Bool {
        let won = try await store.acquireLeadership(duty: duty, holder: holder, ttl: ttl)
        campaigns.record(won)
        return won
    }

    public func releaseLeadership(duty: String, holder: String) async throws {
        try await store.releaseLeadership(duty: duty, holder: holder)
    }
}
