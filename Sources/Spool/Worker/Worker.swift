import Foundation
import Logging
import ServiceLifecycle

/// Runs jobs: a swift-service-lifecycle `Service` that claims jobs from storage, runs their
/// handlers with bounded concurrency, and stores their outcomes.
///
/// - Claims come in batches of up to the free slots, per queue within each queue's concurrency.
/// - Each job runs under its kind's timeout (through cancellation); a handler that ignores
///   cancellation is reported as timed out at its deadline and keeps its slot until it returns.
/// - Failures retry with the kind's ``RetryStrategy`` until max attempts, then go to `dead`;
///   ``PermanentFailure`` goes to `dead` at once; ``Snooze`` runs again later without spending
///   an attempt; an unknown kind or an undecodable payload is `dead` with the reason.
/// - Outcomes are stored in batches; leases are renewed by heartbeats.
/// - A running job that is cancelled (or deleted, or rescued by another worker) loses its lease;
///   the next heartbeat finds out, within ``WorkerConfiguration/heartbeatInterval``, and cancels
///   its handler, which sees `CancellationError` (from `Task.sleep`, `Task.checkCancellation()`)
///   or `Task.isCancelled`. No outcome is stored for it: the storage already has its final state.
///   A handler that ignores cancellation keeps running and keeps its slot until it returns, but
///   its result is discarded.
/// - Graceful shutdown stops claiming, lets running jobs finish for ``WorkerConfiguration/drainTimeout``,
///   then cancels the rest and hands their leases back (no attempt spent). Cancelling the task
///   that runs the worker does the same without the wait.
///
/// Every failure is logged (by ``LoggingMiddleware``) and recorded in the job's history;
/// failures to store outcomes are retried and logged, never dropped silently.
public final class Worker: Service, Sendable {
    public let configuration: WorkerConfiguration
    let storage: any JobStorage
    let registry: JobRegistry
    let clock: any JobClock
    let middleware: [any JobMiddleware]
    /// The middleware that wrap runs, outermost first (only these cost anything per run).
    let runMiddleware: [any JobRunMiddleware]
    let logger: Logger
    let core: WorkerCore

    /// A worker for the kinds in `registry`.
    /// - Parameters:
    ///   - middleware: run around each job, outermost first. Default: metrics and logging.
    ///   - clock: the clock for run-at times, backoff, leases and timeouts.
    public init(
        storage: any JobStorage, registry: JobRegistry, configuration: WorkerConfiguration = WorkerConfiguration(),
        middleware: [any JobMiddleware]? = nil, clock: any JobClock = SystemClock(),
        logger: Logger = Logger(label: "spool.worker")
    ) {
        self.storage = storage
        self.registry = registry
        var configuration = configuration
        // The fields are public vars: hold them to the ranges `init` promises.
        configuration.concurrency = min(max(1, configuration.concurrency), WorkerConfiguration.maximumConcurrency)
        self.configuration = configuration
        self.core = WorkerCore(concurrency: configuration.concurrency, queues: configuration.queues)
        self.clock = clock
        var logger = logger
        logger[metadataKey: "spool.worker"] = "\(configuration.workerID)"
        self.logger = logger
        let middleware = middleware ?? [MetricsMiddleware(), LoggingMiddleware(logger: logger)]
        self.middleware = middleware
        self.runMiddleware = middleware.compactMap { $0 as? any JobRunMiddleware }
    }

    /// What this worker has done since it started.
    public var stats: WorkerStats { core.stats }

    /// Starts a graceful shutdown, as a shutdown signal to the service group would.
    public func beginShutdown() {
        core.beginDrain()
    }

    public func run() async throws {
        let handlers = registry.all
        logger.info("worker started", metadata: [
            "spool.queues": "\(configuration.queues.map(\.name).joined(separator: ","))",
            "spool.concurrency": "\(configuration.concurrency)",
        ])
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.flushOutcomes() }
                    await withTaskGroup(of: Void.self) { maintenance in
                        maintenance.addTask { await self.heartbeatLoop() }
                        if let interval = self.configuration.rescueInterval {
                            maintenance.addTask { await self.rescueLoop(every: interval) }
                        }
                        await self.runJobs(handlers)
                        maintenance.cancelAll()
                    }
                    self.core.closeOutcomes()
                }
            } onGracefulShutdown: {
                self.core.beginDrain()
            }
        } onCancel: {
            self.core.forceStop(at: self.clock.now)
        }
        logger.info("worker stopped", metadata: ["spool.stats": "\(stats)"])
    }

    // MARK: Claiming and running

    private enum Child: Sendable {
        case runner
        case claimer
        case drainTimer(fired: Bool)
    }

    private func runJobs(_ handlers: [String: RegisteredJob]) async {
        await withTaskGroup(of: Child.self) { group in
            group.addTask {
                await self.claimLoop()
                return .claimer
            }
            for slot in 0..<configuration.concurrency {
                group.addTask {
                    await self.runnerSlot(slot, handlers)
                    return .runner
                }
            }
            group.addTask {
                await self.core.waitUntilNotRunning()
                guard !Task.isCancelled else { return .drainTimer(fired: false) }
                do {
                    try await self.clock.sleep(for: self.configuration.drainTimeout)
                    return .drainTimer(fired: true)
                } catch {
                    return .drainTimer(fired: false)
                }
            }
            var runners = configuration.concurrency
            while let child = await group.next() {
                switch child {
                case .runner:
                    runners -= 1
                    if runners == 0 { group.cancelAll() }
                case .drainTimer(let fired):
                    if fired {
                        logger.warning("drain timeout reached: cancelling running jobs and handing their leases back")
                        core.forceStop(at: clock.now)
                        group.cancelAll()
                    }
                case .claimer:
                    break
                }
            }
        }
    }

    private func claimLoop() async {
        let names = configuration.queues.map(\.name)
        var failureDelay = 0.05
        while true {
            let ticket = core.slotsSignal.ticket()
            switch core.claimDecision(queues: configuration.queues) {
            case .stop:
                return
            case .wait:
                await core.slotsSignal.wait(ticket)
            case .claim(let limit, let demands, let weighted):
                let request = ClaimRequest(demands: demands, worker: configuration.workerID, lease: configuration.lease, limit: limit)
                do {
                    var jobs = try await storage.claim(request, now: clock.now)
                    failureDelay = 0.05
                    core.push(jobs, at: clock.now)
                    // Weighted shares left slots unused (a queue had fewer due jobs than its
                    // share): offer them to every queue, in order (work stealing).
                    if weighted, jobs.count < limit,
                       case .claim(let rest, let greedy, _) = core.claimDecision(queues: configuration.queues, weighted: false) {
                        let stolen = try await storage.claim(
                            ClaimRequest(demands: greedy, worker: configuration.workerID, lease: configuration.lease, limit: rest), now: clock.now
                        )
                        core.push(stolen, at: clock.now)
                        jobs += stolen
                    }
                    if jobs.isEmpty {
                        await untilStopping {
                            await self.storage.waitForWork(
                                queues: names, deadline: self.clock.now.adding(self.configuration.idleWait), clock: self.clock
                            )
                        }
                    }
                } catch {
                    logger.error("claim failed; retrying", metadata: [
                        "spool.error": "\(error)", "spool.retry_in_s": "\(failureDelay)",
                    ])
                    let delay = failureDelay
                    // Real time, not the injected clock: retrying a store that failed is about
                    // the store, and a test's manual clock must not stall the retry.
                    await untilStopping { try? await Task.sleep(for: .seconds(delay)) }
                    failureDelay = min(5, failureDelay * 2)
                }
            }
        }
    }

    /// Runs `body` until it returns or the worker stops running, whichever is first.
    private func untilStopping(_ body: @escaping @Sendable () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await body() }
            group.addTask { await self.core.waitUntilNotRunning() }
            await group.next()
            group.cancelAll()
        }
    }

    /// Runs the runners of one slot of the worker's concurrency, one after another.
    ///
    /// A runner runs its jobs inline, in its own task: a child task per job would make the job
    /// cancellable on its own, but costs a task creation, a hop and a join per job, a good part
    /// of the memory driver's throughput. So cancelling a job whose lease was lost cancels its
    /// runner's task, and since a task stays cancelled, that runner ends after the job and the
    /// slot starts a fresh one: the cost falls on lost leases only, not on every job.
    private func runnerSlot(_ slot: Int, _ handlers: [String: RegisteredJob]) async {
        enum Event: Sendable {
            case runnerEnded(replace: Bool)
            case watcherEnded
        }
        var replace = true
        while replace && !Task.isCancelled {
            replace = await withTaskGroup(of: Event.self) { group in
                group.addTask { .runnerEnded(replace: await self.runnerLoop(slot, handlers)) }
                group.addTask {
                    await self.core.waitUntilLeaseLost(slot: slot)
                    return .watcherEnded
                }
                var replace = false
                while let event = await group.next() {
                    // Whichever ends first: a lost lease cancels the runner (and the handler it
                    // runs); an ended runner stops the watcher.
                    group.cancelAll()
                    if case .runnerEnded(let again) = event { replace = again }
                }
                return replace
            }
        }
    }

    /// Runs jobs until the worker stops (returns false) or the lease of the job it ran was lost
    /// and its task cancelled (returns true: the slot needs a fresh runner).
    private func runnerLoop(_ slot: Int, _ handlers: [String: RegisteredJob]) async -> Bool {
        // Queues bound to a lane (usually none: then no lookup per job).
        var queueLanes: [String: BlockingPool] = [:]
        for queue in configuration.queues { if let lane = queue.lane { queueLanes[queue.name] = lane } }
        var finished: ClaimedJob?
        var outcome: JobCompletion?
        // Most runs are of the kind just run: skip the dictionary lookup then.
        var lastHandler: RegisteredJob?
        var runsSinceYield = 0
        var afterWait = false
        while true {
            let ticket = core.jobsSignal.ticket()
            let step = core.nextStep(slot: slot, releasing: finished, outcome: outcome, afterWait: afterWait)
            afterWait = false
            switch step {
            case .run(let job):
                if lastHandler?.kind != job.kind { lastHandler = handlers[job.kind] }
                if let lane = lastHandler?.options.lane ?? (queueLanes.isEmpty ? nil : queueLanes[job.queue]) {
                    // The whole run (middleware, handler) on the lane's threads; this runner's
                    // cooperative thread is free meanwhile.
                    let handler = lastHandler
                    outcome = await withTaskExecutorPreference(lane) { await self.execute(job, handler: handler, slot: slot) }
                } else {
                    outcome = await execute(job, handler: lastHandler, slot: slot)
                }
                finished = job
                // Handlers that never suspend would keep this thread to themselves: let the
                // claimer and the flusher in now and then, so the pipeline stays full.
                runsSinceYield += 1
                if runsSinceYield == 16 {
                    runsSinceYield = 0
                    await Task.yield()
                }
            case .wait:
                finished = nil
                outcome = nil
                await core.jobsSignal.wait(ticket)
                afterWait = true
            case .exit:
                return false
            case .replace:
                return true
            }
        }
    }

    private enum RunResult: Sendable {
        case returned([UInt8]?)
        case threw(any Error)
    }

    /// Runs one job. Returns its outcome for the runner to store, or nil when it was stored
    /// already (a timeout reports at its deadline) or is not to be stored (its lease was lost).
    private func execute(_ job: ClaimedJob, handler: RegisteredJob?, slot: Int) async -> JobCompletion? {
        guard let handler else {
            let error = JobAttemptError(
                attempt: job.attempt, at: clock.now,
                message: "no handler is registered for kind '\(job.kind)' on worker \(configuration.workerID)",
                reason: "unknown_kind"
            )
            return conclude(job, outcome: .dead(error: error), startedAt: error.at, ran: false, timedOut: false, now: error.at)
        }
        let started = clock.now
        let context = JobContext(job: job, logger: logger, progressSink: core, slot: slot, startedAt: started)
        if let timeout = job.timeout ?? handler.options.timeout {
            await runWithTimeout(job, handler: handler, context: context, timeout: timeout, started: started, slot: slot)
            return nil
        }
        let result: RunResult
        do {
            // Without wrapping middleware, call the handler directly (one async frame less).
            if runMiddleware.isEmpty {
                result = .returned(try await handler.run(job.payload, context))
            } else {
                result = .returned(try await runThrough(0, job, context, handler))
            }
        } catch {
            result = .threw(error)
        }
        let now = clock.now
        // Only a cancelled runner can have lost its job's lease: one atomic load per job.
        if Task.isCancelled, let loss = core.leaseLoss(slot: slot) {
            concludeLost(job, loss: loss, startedAt: started, now: now)
            return nil
        }
        let outcome = decide(job, handler: handler, result: result, timeout: nil, now: now)
        return conclude(job, outcome: outcome, startedAt: started, ran: true, timedOut: false, now: now)
    }

    private func runWithTimeout(
        _ job: ClaimedJob, handler: RegisteredJob, context: JobContext, timeout: Duration, started: Date, slot: Int
    ) async {
        enum Race: Sendable {
            case finished(RunResult)
            case deadline
            case timerCancelled
        }
        await withTaskGroup(of: Race.self) { group in
            group.addTask {
                do {
                    return .finished(.returned(try await self.runThrough(0, job, context, handler)))
                } catch {
                    return .finished(.threw(error))
                }
            }
            group.addTask {
                do {
                    try await self.clock.sleep(for: timeout)
                    return .deadline
                } catch {
                    return .timerCancelled
                }
            }
            var timedOut = false
            while let race = await group.next() {
                switch race {
                case .finished(let result):
                    group.cancelAll()
                    let now = clock.now
                    if !timedOut, Task.isCancelled, let loss = core.leaseLoss(slot: slot) {
                        concludeLost(job, loss: loss, startedAt: started, now: now)
                    } else if !timedOut {
                        let outcome = decide(job, handler: handler, result: result, timeout: nil, now: now)
                        core.record(conclude(job, outcome: outcome, startedAt: started, ran: true, timedOut: false, now: now), slot: slot, timedOut: false)
                    } else {
                        logger.warning("a timed-out job's handler returned late; its slot is free again", metadata: [
                            "spool.job.id": "\(job.id)", "spool.job.kind": "\(job.kind)",
                            "spool.ran_for_s": "\(now.timeIntervalSince(started))",
                        ])
                    }
                case .deadline:
                    // Report the timeout now; the slot stays taken until the handler returns.
                    timedOut = true
                    let now = clock.now
                    let outcome = decide(job, handler: handler, result: .threw(CancellationError()), timeout: timeout, now: now)
                    core.record(conclude(job, outcome: outcome, startedAt: started, ran: true, timedOut: true, now: now), slot: slot, timedOut: true)
                    group.cancelAll()
                case .timerCancelled:
                    break
                }
            }
        }
    }

    private func runThrough(_ index: Int, _ job: ClaimedJob, _ context: JobContext, _ handler: RegisteredJob) async throws -> [UInt8]? {
        if index == runMiddleware.count {
            return try await handler.run(job.payload, context)
        }
        return try await runMiddleware[index].run(job, context: context) { job, context in
            try await self.runThrough(index + 1, job, context, handler)
        }
    }

    /// Turns how a handler ended into an outcome.
    private func decide(_ job: ClaimedJob, handler: RegisteredJob, result: RunResult, timeout: Duration?, now: Date) -> JobCompletion.Outcome {
        let error: any Error
        switch result {
        case .returned(let value):
            return .succeeded(result: value)
        case .threw(let thrown):
            error = thrown
        }
        if timeout == nil && Task.isCancelled && core.phase != .running {
            // Cancelled by shutdown, not by its own failure: give the job back.
            return .handBack
        }
        if let snooze = error as? Snooze {
            return .snooze(until: now.adding(snooze.delay))
        }
        if let permanent = error as? PermanentFailure {
            return .dead(error: JobAttemptError(attempt: job.attempt, at: now, message: permanent.reason, reason: "permanent"))
        }
        if let spoolError = error as? SpoolError, spoolError.code == .undecodablePayload || spoolError.code == .unknownKind {
            let reason = spoolError.code == .undecodablePayload ? "undecodable_payload" : "unknown_kind"
            return .dead(error: JobAttemptError(attempt: job.attempt, at: now, message: spoolError.message, reason: reason))
        }
        let failure: JobAttemptError
        if let timeout {
            failure = JobAttemptError(attempt: job.attempt, at: now, message: "timed out after \(timeout)", reason: "timeout")
        } else {
            failure = JobAttemptError(attempt: job.attempt, at: now, message: String(describing: error), reason: "error")
        }
        if job.attempt < job.maxAttempts, let delay = handler.options.retry.delay(afterAttempt: job.attempt) {
            return .retry(at: now.adding(delay), error: failure)
        }
        return .dead(error: failure)
    }

    /// Tells middleware (with the run time when the handler `ran`); returns the completion to
    /// store (the core counts it when it gets it).
    private func conclude(
        _ job: ClaimedJob, outcome: JobCompletion.Outcome, startedAt: Date, ran: Bool, timedOut: Bool, now: Date
    ) -> JobCompletion {
        if !middleware.isEmpty {
            // Whole nanoseconds: `Duration.seconds(Double)` goes through 128-bit arithmetic,
            // a measurable part of a no-op job's cost.
            let duration: Duration? = ran ? .nanoseconds(Int64(saturating: (now.timeIntervalSince(startedAt) * 1e9).rounded())) : nil
            let report = JobRunReport(job: job, outcome: outcome, startedAt: startedAt, duration: duration, timedOut: timedOut)
            for layer in middleware { layer.didRun(report) }
        }
        return JobCompletion(id: job.id, outcome: outcome, at: now)
    }

    /// A handler whose lease was lost has returned: nothing is stored. A cancelled job is
    /// counted and reported to middleware as `cancelled`.
    private func concludeLost(_ job: ClaimedJob, loss: WorkerCore.LeaseLoss, startedAt: Date, now: Date) {
        if loss == .cancelled {
            let reason = "cancelled while running"
            core.countCancelled()
            _ = conclude(job, outcome: .cancelled(reason: reason), startedAt: startedAt, ran: true, timedOut: false, now: now)
        }
        logger.debug("the handler of a job whose lease was lost has returned; its slot is free again", metadata: [
            "spool.job.id": "\(job.id)", "spool.job.kind": "\(job.kind)", "spool.ran_for_s": "\(now.timeIntervalSince(startedAt))",
        ])
    }

    // MARK: Outcomes, heartbeats, rescue

    /// Stores outcomes in batches until the runners are done (``WorkerCore/closeOutcomes()``).
    ///
    /// It outlives cancellation of the worker: runners still conclude their jobs after a forced
    /// stop, so it waits for them without spinning (a cancelled wait would return at once), and
    /// gives up on a batch after a few failed attempts (a cancelled store usually fails at once;
    /// those jobs run again when their leases expire).
    private func flushOutcomes() async {
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
                let lost = try await storage.finish(batch, worker: configuration.workerID)
                failures = 0
                for id in lost {
                    logger.warning("outcome not stored: the worker no longer holds the job's lease (expired, cancelled or deleted)", metadata: [
                        "spool.job.id": "\(id)",
                    ])
                }
            } catch {
                failures += 1
                let stopping = closed || Task.isCancelled
                if stopping && failures > 5 {
                    for completion in batch {
                        logger.error("outcome could not be stored before shutdown; the job runs again once its lease expires", metadata: [
                            "spool.job.id": "\(completion.id)", "spool.outcome": "\(completion.outcome.label)", "spool.error": "\(error)",
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

    private func heartbeatLoop() async {
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
                logger.warning("lease lost (the job was rescued or deleted): cancelling its handler; its outcome will not be stored", metadata: metadata)
            case (_, false):
                logger.warning("lease lost (the job was rescued or deleted) before it started: it will not run", metadata: metadata)
            }
        }
    }

    private func rescueLoop(every interval: Duration) async {
        while !Task.isCancelled {
            do {
                try await clock.sleep(for: interval)
            } catch {
                return
            }
            do {
                let report = try await storage.rescueExpired(now: clock.now, poisonAfter: configuration.poisonAfter)
                if !report.rescued.isEmpty || !report.poisoned.isEmpty {
                    logger.warning("rescued jobs whose lease expired", metadata: [
                        "spool.rescued": "\(report.rescued.count)", "spool.poisoned": "\(report.poisoned.count)",
                    ])
                }
            } catch {
                logger.error("rescue of expired leases failed", metadata: ["spool.error": "\(error)"])
            }
        }
    }
}
