import Spool
import SpoolWebhooks

/// The job kinds every `spool work` process runs, so a store can be exercised and checked
/// with nothing but the CLI. Kinds under the `spool.` prefix are reserved for these.
///
/// - `spool.noop`: does nothing (any payload).
/// - `spool.sleep` `{"ms": 20}`: waits that many milliseconds without blocking a thread
///   (20 when `ms` is left out; 0 to 3,600,000).
/// - `spool.echo`: succeeds with its payload as its result.
/// - `spool.fail` `{"message": "...", "permanent": false}`: fails with the message; a
///   permanent failure goes to `dead` at once, otherwise the job is retried like any other.
/// - `http` `{"url", "method"?, "headers"?, "body"?, "timeout_s"?}`: delivers a webhook
///   (``HTTPJob``); 2xx succeeds, 408/429/5xx and timeouts retry with backoff, other answers
///   are `dead` at once.
enum BuiltinJobs {
    /// The kinds and what each does, for help texts and error messages.
    static let kinds: [(kind: String, summary: String)] = [
        (Noop.kind, "does nothing"),
        (Sleep.kind, "waits {\"ms\": N} milliseconds"),
        (Echo.kind, "returns its payload as its result"),
        (Fail.kind, "fails with {\"message\": \"...\", \"permanent\": false}"),
        (HTTPJob.kind, "sends {\"url\", \"method\", \"headers\", \"body\", \"timeout_s\"} as an HTTP request (webhook)"),
    ]

    /// The variable and flag that set the `http` kind's allow-list of hosts.
    static let allowHostsVariable = "SPOOL_HTTP_ALLOW_HOSTS"

    /// The `http` kind's policy from `--http-allow-hosts` (or `SPOOL_HTTP_ALLOW_HOSTS`, or a
    /// config file's list): nil or unset: any host; a comma-separated list: those hosts; an
    /// empty list: none (the kind is off).
    /// - Throws: ``CLIError`` naming an entry that is not a host.
    static func httpPolicy(flag: String?, file: [String]? = nil, environment: [String: String]) throws -> HTTPJobPolicy {
        let hosts: [String]? = flag.map(ArgumentValues.list) ?? environment[allowHostsVariable].map(ArgumentValues.list) ?? file
        guard let hosts else { return .any }
        do {
            return try HTTPJobPolicy(allowedHosts: hosts)
        } catch let error as PermanentFailure {
            throw CLIError("--http-allow-hosts: \(error.reason)")
        }
    }

    /// The reserved prefix of built-in kinds.
    static let prefix = "spool."

    /// `spool.noop`.
    enum Noop {
        static let kind = "spool.noop"
    }

    /// `spool.sleep`.
    struct Sleep: JobParameters {
        static let kind = "spool.sleep"
        static let defaultMilliseconds = 20
        static let maximumMilliseconds = 3_600_000
        /// How long to wait, in milliseconds.
        var ms: Int?

        var duration: Duration { .milliseconds(ms ?? Self.defaultMilliseconds) }

        func validate() throws {
            let ms = self.ms ?? Self.defaultMilliseconds
            guard (0...Self.maximumMilliseconds).contains(ms) else {
                throw PermanentFailure("spool.sleep needs 0 ≤ ms ≤ \(Self.maximumMilliseconds) (got \(ms))")
            }
        }
    }

    /// `spool.echo`.
    enum Echo {
        static let kind = "spool.echo"
    }

    /// `spool.fail`.
    struct Fail: JobParameters {
        static let kind = "spool.fail"
        /// The error message (default: `failed on purpose`).
        var message: String?
        /// True to go to `dead` at once instead of being retried.
        var permanent: Bool?
    }

    /// The error `spool.fail` throws when not permanent.
    struct RequestedFailure: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// A registry with the built-in kinds; `http` jobs may reach the hosts `policy` allows.
    static func registry(policy: HTTPJobPolicy = .any) -> JobRegistry {
        let registry = JobRegistry()
        register(in: registry, policy: policy)
        return registry
    }

    /// Registers the built-in kinds in `registry`.
    static func register(in registry: JobRegistry, policy: HTTPJobPolicy = .any) {
        registry.register(kind: Noop.kind) { _, _ in nil }
        registry.register(Sleep.self) { job, _ in
            try job.validate()
            try await Task.sleep(for: job.duration)
        }
        registry.register(kind: Echo.kind) { payload, _ in try payload.encoded() }
        registry.register(Fail.self) { job, _ in
            let message = job.message ?? "failed on purpose"
            if job.permanent == true { throw PermanentFailure(message) }
            throw RequestedFailure(message: message)
        }
        HTTPJob.register(in: registry, policy: policy)
    }

    /// Checks, before it is stored, a payload for a `spool.` kind or `http`: the kind must be a
    /// built-in one and the payload must decode as its parameters. Other kinds pass (their handlers
    /// live in other programs).
    /// - Throws: ``CLIError`` saying what is wrong.
    static func validate(kind: String, payload: [UInt8], policy: HTTPJobPolicy = .any) throws {
        guard kind.hasPrefix(prefix) || kind == HTTPJob.kind else { return }
        let known = kinds.map(\.kind).joined(separator: ", ")
        do {
            switch kind {
            case Noop.kind, Echo.kind:
                return
            case Sleep.kind:
                try JobPayload(bytes: payload).decode(as: Sleep.self).validate()
            case Fail.kind:
                _ = try JobPayload(bytes: payload).decode(as: Fail.self)
            case HTTPJob.kind:
                try JobPayload(bytes: payload).decode(as: HTTPJob.self).validate(policy: policy)
            default:
                throw CLIError("'\(kind)' is not a built-in kind (the '\(prefix)' prefix is reserved for \(known))")
            }
        } catch let error as SpoolError {
            throw CLIError("the payload does not fit \(kind): \(error.message)")
        } catch let error as PermanentFailure {
            throw CLIError("the payload does not fit \(kind): \(error.reason)")
        }
    }
}
