import Spool
@testable import SpoolPostgres
import Testing

/// No server needed: the state lists written into the schema's predicates.
@Suite("PostgreSQL schema state lists")
struct PostgresSchemaTests {
    @Test("the state lists in the schema agree with the state machine")
    func stateListsMatchTheModel() {
        func list(_ states: [JobState]) -> String { states.map { "'\($0.rawValue)'" }.joined(separator: ", ") }
        #expect(PostgresSchema.liveStates == list(JobState.allCases.filter(\.isLive)))
        #expect(PostgresSchema.finishedStates == list(JobState.allCases.filter(\.isFinished)))
        #expect(PostgresSchema.stateIndexStates == list(JobState.allCases.filter(PostgresSchema.stateIndexHolds)))
        #expect(
            !PostgresSchema.stateIndexHolds(.available) && !PostgresSchema.stateIndexHolds(.running)
                && !PostgresSchema.stateIndexHolds(.succeeded))
        #expect(PostgresSchema.migrations.last?.statements.last?.contains("WHERE state IN (\(PostgresSchema.stateIndexStates))") == true)
    }
}
