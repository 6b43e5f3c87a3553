/// Tells an observer what a worker's claimer does, as it does it: for `spool bench --stages`,
/// which times each job's wait from its enqueue to its start in stages (until the claimer woke,
/// the claim's round trip, the hand-off to a runner). Package-only: not an API.
///
/// `record` runs on the claimer's task, in its path: it must return at once.
package struct ClaimProbe: Sendable {
    package enum Event: Sendable {
        /// The claimer came back from waiting for work (a wake-up, or its idle wait passed).
        case woke
        /// A claim is about to go to the storage.
        case claiming
        /// The claim returned these jobs; they are handed to the runners next.
        case claimed([JobID])
    }

    package let record: @Sendable (Event) -> Void

    package init(_ record: @escaping @Sendable (Event) -> Void) {
        self.record = record
    }
}
