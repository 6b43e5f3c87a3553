// Worker: claiming jobs and running them (runner slots, timeouts, middleware, outcome decisions).
import Foundation
import Logging
import Tracing

extension Worker {
    private enum Child: Sendable {
        case runner
        case claimer
        case drainTimer(fired: Bool)
    }

    func runJobs(_ handlers: [String: RegisteredJob]) async {
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
        // A store that hands a waiting worker its jobs with the wake-up (SQLite, in-process).
        let delivering = storage as? any ClaimDelivering
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
                    var jobs = try await claim(request)
                    failureDelay = 0.05
                    core.push(jobs, at: clock.now)
                    var claimed = demands
                    // Weighted shares left slots unused (a queue had fewer due jobs than its
                    // share): offer them to every queue, in order (work stealing).
                    if weighted, jobs.count < limit,
                        case .claim(let rest, let greedy, _) = core.claimDecision(queues: configuration.queues, weighted: false)
                    {
                        let stolen = try await claim(
                            ClaimRequest(demands: greedy, worker: configuration.workerID, lease: configuration.lease, limit: rest)
                        )
                        core.push(stolen, at: clock.now)
                        jobs += stolen
                        claimed = greedy
                    }
                    // Fewer due jobs than free slots: claiming again at once would find none (a
                    // round trip for nothing on a server store), so wait for work, which looks
                    // once more before it sleeps.
                    if jobs.count < limit {
                        let queues = claimed.map(\.queue)
                        // A queue left out of an empty claim (at its own concurrency cap) may hold
                        // due jobs: waiting for work there would return at once, again and again.
                        // Wait for work in the claimed queues, or for a slot to free, whichever
                        // first.
                        let slotTicket = jobs.isEmpty && queues.count < names.count ? ticket : nil
                        await waitForWork(in: queues, orSlotAfter: slotTicket, delivering: delivering)
                    }
                } catch {
                    logger.error(
                        "claim failed; retrying",
                        metadata: [
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

    /// Claims, telling the probe (if any) when the claim left and what it brought.
    private func claim(_ request: ClaimRequest) async throws -> [ClaimedJob] {
        guard let probe = configuration.claimProbe else { return try await storage.claim(request, now: clock.now) }
        probe.record(.claiming)
        let jobs = try await storage.claim(request, now: clock.now)
        probe.record(.claimed(jobs.map(\.id)))
        return jobs
    }

    /// Waits until `queues` may have due work (or the idle wait passes) and, given a ticket of
    /// the slots signal, until a slot frees after it, whichever comes first.
    func waitForWork(in queues: [String], orSlotAfter slotTicket: UInt64?) async {
        let deadline = clock.now.adding(configuration.idleWait)
        guard let slotTicket else {
            await storage.waitForWork(queues: queues, deadline: deadline, clock: clock)
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.storage.waitForWork(queues: queues, deadline: deadline, clock: self.clock) }
            group.addTask { await self.core.slotsSignal.wait(slotTicket) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Runs `body` until it returns or the worker stops running, whichever is first.
    func untilStopping(_ body: @escaping @Sendable () async -> Void) async {
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
        // The context the handler ran in (its span's, with tracing), for the outcome's reports.
        var runContext: ServiceContext?
        do {
            // Without wrapping middleware, call the handler directly (one async frame less).
            if runMiddleware.isEmpty {
                result = .returned(try await handler.run(job.payload, context))
            } else {
                result = .returned(try await runThrough(0, job, context, handler, &runContext))
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
        return conclude(job, outcome: outcome, startedAt: started, ran: true, timedOut: false, now: now, in: runContext)
    }

    private func runWithTimeout(
        _ job: ClaimedJob, handler: RegisteredJob, context: JobContext, timeout: Duration, started: Date, slot: Int
    ) async {
        enum Race: Sendable {
            case finished(RunResult, ServiceContext?)
            case deadline
            case timerCancelled
        }
        await withTaskGroup(of: Race.self) { group in
            group.addTask {
                var runContext: ServiceContext?
                do {
                    return .finished(.returned(try await self.runThrough(0, job, context, handler, &runContext)), runContext)
                } catch {
                    return .finished(.threw(error), runContext)
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
                case .finished(let result, let runContext):
                    group.cancelAll()
                    let now = clock.now
                    if !timedOut, Task.isCancelled, let loss = core.leaseLoss(slot: slot) {
                        concludeLost(job, loss: loss, startedAt: started, now: now)
                    } else if !timedOut {
                        let outcome = decide(job, handler: handler, result: result, timeout: nil, now: now)
                        core.record(
                            conclude(job, outcome: outcome, startedAt: started, ran: true, timedOut: false, now: now, in: runContext),
                            slot: slot, timedOut: false)
                    } else {
                        logger.warning(
                            "a timed-out job's handler returned late; its slot is free again",
                            metadata: [
                                "spool.job.id": "\(job.id)", "spool.job.kind": "\(job.kind)",
                                "spool.ran_for_s": "\(now.timeIntervalSince(started))",
                            ])
                    }
                case .deadline:
                    // Report the timeout now; the slot stays taken until the handler returns.
                    timedOut = true
                    let now = clock.now
                    let outcome = decide(job, handler: handler, result: .threw(CancellationError()), timeout: timeout, now: now)
                    core.record(
                        conclude(job, outcome: outcome, startedAt: started, ran: true, timedOut: true, now: now), slot: slot, timedOut: true
                    )
                    group.cancelAll()
                case .timerCancelled:
                    break
                }
            }
        }
    }

    /// Runs the handler inside the run middleware from `index` on; `runContext` gets the service
    /// context the handler itself runs in (the run span's, with tracing).
    private func runThrough(
        _ index: Int, _ job: ClaimedJob, _ context: JobContext, _ handler: RegisteredJob, _ runContext: inout ServiceContext?
    ) async throws -> [UInt8]? {
        if index == runMiddleware.count {
            runContext = ServiceContext.current
            return try await handler.run(job.payload, context)
        }
        return try await runMiddleware[index].run(job, context: context) { job, context in
            try await self.runThrough(index + 1, job, context, handler, &runContext)
        }
    }

    /// Turns how a handler ended into an outcome.
    private func decide(
        _ job: ClaimedJob, handler: RegisteredJob, result: RunResult, timeout: Duration?, now: Date
    ) -> JobCompletion.Outcome {
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

    /// Tells middleware (with the run time when the handler `ran`), inside `runContext` when
    /// the handler ran in one (so the outcome's log line carries the run span's trace and span
    /// ids); returns the completion to store (the core counts it when it gets it).
    private func conclude(
        _ job: ClaimedJob, outcome: JobCompletion.Outcome, startedAt: Date, ran: Bool, timedOut: Bool, now: Date,
        in runContext: ServiceContext? = nil
    ) -> JobCompletion {
        if !middleware.isEmpty {
            // Whole nanoseconds: `Duration.seconds(Double)` goes through 128-bit arithmetic,
            // a measurable part of a no-op job's cost.
            let duration: Duration? = ran ? .nanoseconds(Int64(saturating: (now.timeIntervalSince(startedAt) * 1e9).rounded())) : nil
            let report = JobRunReport(job: job, outcome: outcome, startedAt: startedAt, duration: duration, timedOut: timedOut)
            if let runContext {
                ServiceContext.withValue(runContext) {
                    for layer in middleware { layer.didRun(report) }
                }
            } else {
                for layer in middleware { layer.didRun(report) }
            }
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
        logger.debug(
            "the handler of a job whose lease was lost has returned; its slot is free again",
            metadata: [
                "spool.job.id": "\(job.id)", "spool.job.kind": "\(job.kind)", "spool.ran_for_s": "\(now.timeIntervalSince(startedAt))",
            ])
    }
}
