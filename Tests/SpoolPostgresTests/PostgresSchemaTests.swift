import Spool
@testable import SpoolPostgres
import Testing

/// No server needed: the state lists written into the schema's predicates.
@Suite("PostgreSQL schema state lists")
struct PostgresSchemaTests {
    @Test("the state lists in the schema agree with the state machine")
    func stateListsMatchTheModel() {
        func list(_ states: [JobState]) -> String { states.map { "'\($0.rawValue)'" }.joined(separator: ", ") }
        // The states this driver stores: not `pending`, until it keeps dependencies (#21; it
        // refuses them at enqueue).
        let stored = JobState.allCases.filter { $0 != .pending }
        #expect(PostgresSchema.liveStates == list(stored.filter(\.isLive)))
        #expect(PostgresSchema.finishedStates == list(stored.filter(\.isFinished)))
        #expect(PostgresSchema.stateIndexStates == list(stored.filter(PostgresSchema.stateIndexHolds)))
        #expect(
            !PostgresSchema.stateIndexHolds(.available) && !PostgresSchema.stateIndexHolds(.running)
                && !PostgresSchema.stateIndexHolds(.succeeded))
        let stateIndex = PostgresSchema.migrations.last { $0.statements.contains { $0.contains("CREATE INDEX jobs_state") } }
        #expect(stateIndex?.statements.last?.contains("WHERE state IN (\(PostgresSchema.stateIndexStates))") == true)
    }
}
