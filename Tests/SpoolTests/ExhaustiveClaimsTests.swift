import Foundation
import SpoolTesting
import Testing

@testable import Spool

/// The record a server driver's wait reads after a claim that took every due job it saw.
@Suite("Exhaustive claims", .timeLimit(.minutes(1)))
struct ExhaustiveClaimsTests {
    @Test("a hand-over renews the last exhaustive claim of its one queue from a new ticket")
    func renewAfterHandOver() async throws {
        let claims = ExhaustiveClaims()
        let signal = WakeSignal()
        let far = Date().addingTimeInterval(3600)
        let request = ClaimRequest(demands: [QueueDemand(queue: "q", limit: 1)], worker: "w", lease: .seconds(30))
        // Nothing recorded: nothing to renew, and the wait must ask the server.
        claims.renew("q", for: request, since: signal.ticket() &- 1, on: signal)
        #expect(await claims.wait(after: ["q"], on: signal, until: far, clock: SystemClock()) == false)
        let beforeHandOver = signal.ticket()
        claims.record(["q"], ExhaustiveClaim(ticket: beforeHandOver, nextDue: nil))
        signal.signal()  // the hand-over's own wake-up: the claim's ticket is spent, the wait returns at once
        #expect(await claims.wait(after: ["q"], on: signal, until: far, clock: SystemClock()))
        claims.renew("q", for: request, since: beforeHandOver, on: signal)
        // Renewed, the wait parks until the next signal.
        let waiting = Task { await claims.wait(after: ["q"], on: signal, until: far, clock: SystemClock()) }
        while !signal.hasWaiters { await Task.yield() }
        signal.signal()
        #expect(await waiting.value)
        #expect(await claims.wait(after: ["q", "r"], on: signal, until: far, clock: SystemClock()) == false)
    }
}
