import Foundation
import Logging
import Spool
import Synchronization

/// Jobs that succeeded and jobs that went dead per minute over the last hour, as this server
/// saw them since it started: the dashboard's charts.
///
/// The storage protocol keeps no history, so the server samples ``JobInspecting/stats()`` every
/// ``SpoolServer/Configuration/dashboardSampleInterval`` (part of ``SpoolServer/run()``) and
/// books the growth of the stored `succeeded` and `dead` counts into one-minute buckets, 60 of
/// them in a ring.
///
/// What the figures are, honestly: net growth of stored counts between two samples, over every
/// queue and every worker of the store (not only this process's). A job that finished and was
/// pruned or deleted within one interval is not seen; a retry of dead jobs lowers the dead
/// count, which is booked as zero, not as a negative. Nothing before the server's first sample
/// is known. Failed attempts that will be retried are not counted (they are not a state).
///
/// Cost: one `stats()` call per interval; memory is fixed (60 buckets). Thread-safe.
final class ThroughputHistory: Sendable {
    /// One minute of the chart.
    struct Bucket: Sendable, Equatable {
        /// The minute, as minutes since the Unix epoch.
        var minute: Int64
        var succeeded: Int
        var dead: Int
    }

    /// The number of one-minute buckets kept.
    static let minutes = 60

    private struct State {
        var buckets: [Bucket?] = Array(repeating: nil, count: ThroughputHistory.minutes)
        var lastSucceeded: Int?
        var lastDead: Int?
        var firstSample: Date?
        var samples = 0
    }

    private let state = Mutex(State())

    init() {}

    /// When the first sample was taken (nil before it): the charts start there.
    var since: Date? { state.withLock { $0.firstSample } }

    /// How many samples were taken.
    var sampleCount: Int { state.withLock { $0.samples } }

    /// Books one sample of the counts taken at `now`. The first sample only sets the baseline.
    func record(_ stats: StorageStats, at now: Date) {
        let succeeded = stats.count(.succeeded)
        let dead = stats.count(.dead)
        let minute = Self.minute(of: now)
        state.withLock { state in
            defer {
                state.lastSucceeded = succeeded
                state.lastDead = dead
                state.samples += 1
            }
            guard let lastSucceeded = state.lastSucceeded, let lastDead = state.lastDead else {
                state.firstSample = now
                return
            }
            let slot = Self.slot(of: minute)
            var bucket = state.buckets[slot].flatMap { $0.minute == minute ? $0 : nil } ?? Bucket(minute: minute, succeeded: 0, dead: 0)
            bucket.succeeded += max(0, succeeded - lastSucceeded)
            bucket.dead += max(0, dead - lastDead)
            state.buckets[slot] = bucket
        }
    }

    /// The last hour ending with the minute of `now`, oldest first: always 60 buckets, zero
    /// where nothing was booked.
    func lastHour(now: Date) -> [Bucket] {
        let current = Self.minute(of: now)
        return state.withLock { state in
            (0..<Int64(Self.minutes)).map { offset in
                let minute = current - Int64(Self.minutes) + 1 + offset
                let slot = Self.slot(of: minute)
                if let bucket = state.buckets[slot], bucket.minute == minute { return bucket }
                return Bucket(minute: minute, succeeded: 0, dead: 0)
            }
        }
    }

    /// Samples `storage` every `interval` on `clock` until the task is cancelled. A failed
    /// `stats()` is logged (once per run of failures) and the next interval tries again.
    func sample(storage: any JobStorage, every interval: Duration, clock: any JobClock, logger: Logger) async {
        var failing = false
        while !Task.isCancelled {
            do {
                record(try await storage.stats(), at: clock.now)
                failing = false
            } catch is CancellationError {
                return
            } catch {
                if !failing {
                    logger.warning("the dashboard could not sample job counts", metadata: ["error": "\(error)"])
                }
                failing = true
            }
            do {
                try await clock.sleep(for: interval)
            } catch {
                return
            }
        }
    }

    /// The ring index of `minute`.
    private static func slot(of minute: Int64) -> Int {
        Int(((minute % Int64(minutes)) + Int64(minutes)) % Int64(minutes))
    }

    /// Minutes since the Unix epoch.
    static func minute(of date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 / 60).rounded(.down))
    }
}
