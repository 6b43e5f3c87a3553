import Spool
@testable import SpoolPostgres
import Testing

/// No server needed: the state lists written into the schema's predicates.
@Suite("PostgreSQL schema state lists")
struct PostgresSchemaTests {
    @Test("the state lists in the schema agree with the state machine")
    func stateListsMatchTheModel() {
        func list(_ states: [JobState]) -> String { states.map { "'\($0.rawValue)'" }.joined(separator: ", ") }
        let stored = JobState.allCases
        #expect(PostgresSchema.liveStates == list(stored.filter(\.isLive)))
        #expect(PostgresSchema.finishedStates == list(stored.filter(\.isFinished)))
        #expect(PostgresSchema.stateIndexStates == list(stored.filter(PostgresSchema.stateIndexHolds)))
        #expect(
            !PostgresSchema.stateIndexHolds(.available) && !PostgresSchema.stateIndexHolds(.running)
                && !PostgresSchema.stateIndexHolds(.succeeded))
        // The newest definitions of the indexes with state predicates repeat the lists.
        func newest(_ index: String) -> String? {
            PostgresSchema.migrations.lazy.reversed().compactMap { $0.statements.last { $0.contains("INDEX \(index) ON") } }.first
        }
        #expect(newest("jobs_state")?.contains("WHERE state IN (\(PostgresSchema.stateIndexStates))") == true)
        #expect(newest("jobs_unique_key")?.contains("state IN (\(PostgresSchema.liveStates))") == true)
    }
}
