import Spool
import Vapor

/// Sends an email (here: logs it). Its parameters are what the handler needs, nothing more.
struct SendEmail: JobParameters, Content {
    static let kind = "example.send-email"
    var to: String
    var subject: String
}

/// Takes `milliseconds` to run: a stand-in for slow work (resizing an image, a report).
struct Nap: JobParameters {
    static let kind = "example.nap"
    var milliseconds: Int
}

/// The nightly cleanup a schedule enqueues.
struct Cleanup: JobParameters {
    static let kind = "example.cleanup"
}

/// What the optional heartbeat schedule enqueues (`SPOOL_EXAMPLE_HEARTBEAT_SECONDS`).
struct Heartbeat: JobParameters {
    static let kind = "example.heartbeat"
}
