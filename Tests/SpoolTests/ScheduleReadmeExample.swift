// The schedules example of docs/schedules.md, compiled and checked by SchedulerTests. Keep the
// text between the markers identical to that page's block (a test compares them).
// README:begin
import Foundation
import Spool

struct BuildReport: JobParameters {
    static let kind = "build-report"
    var scope: String
}

func reportScheduler(storage: any JobStorage, leadership: any LeadershipGate = AlwaysLeader()) throws -> PeriodicScheduler {
    let berlin = TimeZone(identifier: "Europe/Berlin")!
    let schedules = [
        // 02:30 Berlin time daily; on the spring-forward day, which has no 02:30, at 03:00.
        PeriodicSchedule(
            "nightly-report", .cron(try CronExpression("30 2 * * *"), in: berlin),
            job: ScheduledJob(BuildReport(scope: "daily"), queue: "reports")
        ),
        // Weekdays at 09:00; after a suspended process missed ticks, one job catches up.
        PeriodicSchedule(
            "standup-digest", .cron(try CronExpression("0 9 * * MON-FRI"), in: berlin),
            job: ScheduledJob(BuildReport(scope: "standup")), missedTicks: .catchUpOnce
        ),
        // Every 5 minutes, at :00, :05, ... UTC in every process.
        PeriodicSchedule("refresh-cache", .every(.seconds(300)), job: ScheduledJob(kind: "refresh-cache")),
    ]
    // A Service: run it in your ServiceGroup next to the workers. With several processes, pass
    // the driver's leader election as `leadership`; ticks are keyed, so each is stored once.
    return try PeriodicScheduler(storage: storage, schedules: schedules, leadership: leadership)
}
// README:end
