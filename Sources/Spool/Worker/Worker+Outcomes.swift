// Worker: storing outcomes, heartbeats and lost leases, and the rescue of expired leases.
import Foundation
import Logging

extension Worker {
    /// Stores outcomes in batches until the runners are done (``WorkerCore/closeOutcomes()``).
    ///
    /// It outlives cancellation of the worker: runners still conclude their jobs after a forced
    /// stop, so it waits for them without spinning (a cancelled wait would return at once), and
    /// gives up on a batch after a few failed attempts (a cancelled store usually fails at once;
    /// those jobs run again when their leases expire).
    func flushOutcomes() async {
        var failures = 0
        while true {
            // Let the runners that are ready run first: their outcomes join this batch. Woken
            // at the first outcome, the flusher would otherwise store a handful at a time
            // while the other thread runs jobs (a store call and its lock per few jobs).
            await Task.yield()
            let ticket = core.outcomesSignal.ticket()
            let (batch, closed) = core.takeOutcomes()
            if batch.isEmpty {
                if closed { return }
                await core.outcomesSignal.waitIgnoringCancellation(ticket)
                continue
            }
            do {
                let lost = try await storage.finish(batch, worker: configuration.workerID).lost
                failures = 0
                for id in lost {
                    logger.warning(
                        "outcome not stored: the worker no longer holds the job's lease (expired, cancelled or deleted)",
                        metadata: [
                            "spool.job.id": "\(id)"
                        ])
                }
            } catch {
                failures += 1
                let stopping = closed || Task.isCancelled
                if stopping && failures > 5 {
                    for completion in batch {
                        logger.error(
                            "outcome could not be stored before shutdown; the job runs again once its lease expires",
                            metadata: [
                                "spool.job.id": "\(completion.id)", "spool.outcome": "\(completion.outcome.label)",
                                "spool.error": "\(error)",
                            ])
                    }
                    if closed { return }
                    failures = 0
                    continue
                }
                logger.error("storing outcomes failed; retrying", metadata: ["spool.error": "\(error)", "spool.count": "\(batch.count)"])
                core.requeue(batch)
                if Task.isCancelled {
                    await Task.yield()  // the backoff sleep would return at once
                } else {
                    // Real time, as for a failed claim.
                    try? await Task.sleep(for: .milliseconds(min(5000, 50 << min(failures, 7))))
                }
            }
        }
    }

    func heartbeatLoop() async {
        let interval = configuration.effectiveHeartbeatInterval
        while !Task.isCancelled {
            do {
                try await clock.sleep(for: interval)
            } catch {
                return
            }
            let beats = core.heartbeats()
            guard !beats.isEmpty else { continue }
            do {
                let lost = try await storage.heartbeat(beats, worker: configuration.workerID, lease: configuration.lease, now: clock.now)
                    .lost
                if !lost.isEmpty { await loseLeases(lost) }
            } catch {
                logger.error("heartbeat failed; leases may expire", metadata: ["spool.error": "\(error)"])
            }
        }
    }

    /// Stops the jobs whose lease the storage no longer grants: cancels the handlers of running
    /// ones, drops those waiting for a runner. Reads each job first to tell a cancel from a
    /// rescue or delete (one read per lost lease, which is rare).
    private func loseLeases(_ ids: [JobID]) async {
        var losses: [JobID: WorkerCore.LeaseLoss] = [:]
        var states: [JobID: String] = [:]
        for id in ids {
            do {
                let state = try await storage.job(id)?.state
                losses[id] = state == .cancelled ? .cancelled : .lost
                states[id] = state.map { "\($0)" } ?? "deleted"
            } catch {
                losses[id] = .lost
                states[id] = "unknown (\(error))"
            }
        }
        for (id, running) in core.loseLeases(losses) {
            let metadata: Logger.Metadata = ["spool.job.id": "\(id)", "spool.job.state": "\(states[id] ?? "")"]
            switch (losses[id], running) {
            case (.cancelled, true):
                logger.info("job cancelled while running: cancelling its handler; its outcome will not be stored", metadata: metadata)
            case (.cancelled, false):
                logger.info("job cancelled before it started: it will not run", metadata: metadata)
            case (_, true):
                logger.warning(
                    "lease lost (the job was rescued or deleted): cancelling its handler; its outcome will not be stored",
                    metadata: metadata)
            case (_, false):
                logger.warning("lease lost (the job was rescued or deleted) before it started: it will not run", metadata: metadata)
            }
        }
    }

    func rescueLoop(every interval: Duration) async {
        while !Task.isCancelled {
            do {
                try await clock.sleep(for: interval)
            } catch {
                return
            }
            do {
                let report = try await storage.rescueExpired(now: clock.now, poisonAfter: configuration.poisonAfter)
                if !report.rescued.isEmpty || !report.poisoned.isEmpty {
                    logger.warning(
                        "rescued jobs whose lease expired",
                        metadata: [
                            "spool.rescued": "\(report.rescued.count)", "spool.poisoned": "\(report.poisoned.count)",
                        ])
                }
            } catch {
                logger.error("rescue of expired leases failed", metadata: ["spool.error": "\(error)"])
            }
        }
    }
}
