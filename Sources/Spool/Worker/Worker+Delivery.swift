// Worker: waiting for work, and taking the jobs a store hands over with the wake-up.
import Foundation

extension Worker {
    /// After a claim that left slots free: waits for work in `queues` (or, given a ticket of the
    /// slots signal, until a slot frees) until the worker stops running at the latest.
    ///
    /// With a store that hands jobs over (``ClaimDelivering``), the jobs an enqueue claimed for
    /// this worker meanwhile go to the runners. A delivery that left slots free took every due
    /// job it could, so the worker waits again rather than claim for nothing; the next wait
    /// still looks for due work before it sleeps.
    func waitForWork(in queues: [String], orSlotAfter slotTicket: UInt64?, delivering: (any ClaimDelivering)?) async {
        var slotTicket = slotTicket
        while true {
            guard let delivering, let request = deliveryRequest(in: queues) else {
                let slotTicket = slotTicket
                await untilStopping { await self.waitForWork(in: queues, orSlotAfter: slotTicket) }
                configuration.claimProbe?.record(.woke)
                return
            }
            let delivered = await waitForWork(in: queues, orSlotAfter: slotTicket, offering: request, to: delivering)
            configuration.claimProbe?.record(.woke)
            guard !delivered.isEmpty else { return }
            configuration.claimProbe?.record(.claiming)
            configuration.claimProbe?.record(.claimed(delivered.map(\.id)))
            core.push(delivered, at: clock.now)
            guard delivered.count < request.limit else { return }
            if slotTicket != nil { slotTicket = core.slotsSignal.ticket() }
        }
    }

    /// What a store may claim for this worker while it waits in `queues`: every free slot, within
    /// each queue's own cap. Nil when no slot is free (then nothing is offered).
    private func deliveryRequest(in queues: [String]) -> ClaimRequest? {
        guard case .claim(let limit, let demands, _) = core.claimDecision(queues: configuration.queues, weighted: false) else {
            return nil
        }
        let offered = demands.filter { queues.contains($0.queue) }
        guard !offered.isEmpty else { return nil }
        return ClaimRequest(demands: offered, worker: configuration.workerID, lease: configuration.lease, limit: limit)
    }

    /// Waits like ``waitForWork(in:orSlotAfter:)`` until the worker stops running at the latest,
    /// offering `request` to the store meanwhile; returns the jobs claimed for it, which are
    /// this worker's even when it is stopping.
    private func waitForWork(
        in queues: [String], orSlotAfter slotTicket: UInt64?, offering request: ClaimRequest, to delivering: any ClaimDelivering
    ) async -> [ClaimedJob] {
        let deadline = clock.now.adding(configuration.idleWait)
        return await withTaskGroup(of: [ClaimedJob].self) { group in
            group.addTask { await delivering.waitForWork(claiming: request, deadline: deadline, clock: self.clock) }
            group.addTask {
                await self.core.waitUntilNotRunning()
                return []
            }
            if let slotTicket {
                group.addTask {
                    await self.core.slotsSignal.wait(slotTicket)
                    return []
                }
            }
            // The first to end ends the others; the delivery's jobs count whichever ended first.
            var delivered = await group.next() ?? []
            group.cancelAll()
            while let more = await group.next() { delivered += more }
            return delivered
        }
    }
}
