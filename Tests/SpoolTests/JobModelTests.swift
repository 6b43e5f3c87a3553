import Foundation
import Spool
import Testing

@Suite("Job id")
struct JobIDTests {
    @Test func printsAndParsesRoundTrip() throws {
        for _ in 0..<1000 {
            let id = JobID()
            let text = id.description
            #expect(text.count == 26)
            #expect(JobID(text) == id)
            #expect(JobID(text.lowercased()) == id)
        }
    }

    @Test func sortsByCreationWithinAProcess() {
        let ids = (0..<10_000).map { _ in JobID() }
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == ids.count)
        #expect(ids.map(\.description) == ids.map(\.description).sorted())
    }

    @Test func carriesItsTime() {
        let date = Date(timeIntervalSince1970: 1_893_456_000.123)
        let id = JobID(date: date)
        #expect(abs(id.date.timeIntervalSince(date)) < 0.001)
        #expect(JobID(date: date.addingTimeInterval(1)) > id)
    }

    @Test(arguments: ["", "short", "01ARZ3NDEKTSV4RRFFQ69G5FA!", "81ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAVX"])
    func refusesMalformedText(_ text: String) {
        #expect(JobID(text) == nil)
    }

    @Test func codesAsAString() throws {
        let id = JobID()
        let data = try JSONEncoder().encode([id])
        #expect(String(decoding: data, as: UTF8.self) == "[\"\(id)\"]")
        #expect(try JSONDecoder().decode([JobID].self, from: data) == [id])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([JobID].self, from: Data("[\"nope\"]".utf8)) }
    }
}

@Suite("Job state machine")
struct JobStateMachineTests {
    static let legal: [JobState: [JobEvent: JobState]] = [
        .scheduled: [.becomeDue: .available, .cancel: .cancelled],
        .available: [.claim: .running, .cancel: .cancelled],
        .running: [
            .succeed: .succeeded, .retry: .scheduled, .snooze: .scheduled, .die: .dead, .cancel: .cancelled,
            .rescue: .available, .handBack: .available,
        ],
        .succeeded: [:],
        .dead: [.manualRetry: .available],
        .cancelled: [.manualRetry: .available],
        .pending: [.release: .available, .cancel: .cancelled],
    ]

    @Test(arguments: JobState.allCases)
    func everyMoveIsLegalOrRefused(_ state: JobState) throws {
        for event in JobEvent.allCases {
            let expected = Self.legal[state]?[event]
            #expect(JobStateMachine.next(from: state, on: event) == expected, "\(state) on \(event)")
            if let expected {
                #expect(try JobStateMachine.transition(state, on: event) == expected)
            } else {
                let error = #expect(throws: SpoolError.self) { try JobStateMachine.transition(state, on: event) }
                #expect(error?.code == .illegalTransition)
            }
        }
    }

    @Test func finishedStatesAreFinal() {
        #expect(JobState.allCases.filter(\.isFinished) == [.succeeded, .dead, .cancelled])
    }
}

@Suite("Retry strategies")
struct RetryStrategyTests {
    @Test func exponentialDoublesUpToTheCap() {
        let strategy = RetryStrategy.exponential(base: .seconds(1), factor: 2, maximum: .seconds(10), jitter: 0)
        let delays = (1...6).map { strategy.delay(afterAttempt: $0, random: 0.5) }
        #expect(delays == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(10), .seconds(10)])
    }

    @Test func jitterSpreadsWithinItsFraction() throws {
        let strategy = RetryStrategy.exponential(base: .seconds(100), factor: 2, jitter: 0.1)
        let low = try #require(strategy.delay(afterAttempt: 1, random: 0))
        let high = try #require(strategy.delay(afterAttempt: 1, random: 0.999_999))
        #expect(low == .seconds(90))
        #expect(abs(high.seconds - 110) < 0.001)
    }

    @Test func fixedNoneAndCustom() {
        #expect(RetryStrategy.fixed(.seconds(7)).delay(afterAttempt: 9) == .seconds(7))
        #expect(RetryStrategy.none.delay(afterAttempt: 1) == nil)
        let custom = RetryStrategy.custom { $0 < 3 ? .seconds($0) : nil }
        #expect(custom.delay(afterAttempt: 2) == .seconds(2))
        #expect(custom.delay(afterAttempt: 3) == nil)
    }
}

@Suite("Payloads")
struct JobPayloadTests {
    struct Email: Codable, Sendable, Equatable {
        var to: String
        var count: Int
    }

    @Test func typedValuesSkipTheRoundTrip() throws {
        let payload = JobPayload(value: Email(to: "a@b.c", count: 1))
        #expect(try payload.decode(as: Email.self) == Email(to: "a@b.c", count: 1))
        #expect(payload.text == #"{"count":1,"to":"a@b.c"}"#)
    }

    @Test func bytesDecodeOrSayWhy() throws {
        #expect(try JobPayload(bytes: Array(#"{"to":"x","count":2}"#.utf8)).decode(as: Email.self) == Email(to: "x", count: 2))
        let missing = #expect(throws: SpoolError.self) { try JobPayload(bytes: Array(#"{"to":"x"}"#.utf8)).decode(as: Email.self) }
        #expect(missing?.code == .undecodablePayload)
        #expect(missing?.message.contains("count") == true)
        let garbage = #expect(throws: SpoolError.self) { try JobPayload(bytes: Array("not json".utf8)).decode(as: Email.self) }
        #expect(garbage?.code == .undecodablePayload)
    }
}
