import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Spool

/// The built-in job kind `http`: deliver a webhook. The job sends one HTTP request (a JSON body
/// to a URL, with headers and a time limit) through async-http-client and succeeds on a 2xx
/// answer.
///
/// Payload (JSON):
/// ```json
/// {"url": "https://example.com/hook", "method": "POST", "headers": {"X-Signature": "..."},
///  "body": {"order": 42}, "timeout_s": 10}
/// ```
/// Only `url` is required (`http` or `https`). `method` defaults to `POST`; `body` is any JSON
/// value, sent as `application/json` unless `headers` sets a `Content-Type` (a JSON string body
/// is then sent as the string's text); left out, no body is sent. `timeout_s` (default 10, at
/// most 300) bounds the whole request, connection included. Redirects are followed (at most 5)
/// unless an ``HTTPJobPolicy`` limits the hosts jobs may reach.
///
/// Outcomes, by answer (see ``classify(status:)``):
/// - 2xx: the job succeeds; its result is `{"status", "body", "duration_ms"}` with the first
///   ``HTTPJob/resultBodyLimit`` bytes of the answer as text.
/// - 408, 429 and 5xx, a timeout, or a connection failure: the attempt fails and the job is
///   retried with the kind's backoff until its attempts run out.
/// - Any other status (other 4xx, an unfollowed 3xx): the job is `dead` at once
///   (``PermanentFailure``): sending the same request again would get the same answer.
/// - A payload that is not valid (no URL, a bad method, a timeout out of range): `dead` at once.
///
/// Delivery is at least once, like every job: a receiver must accept a request more than once
/// (send an idempotency key in a header, say the job id from ``JobContext/id``).
public struct HTTPJob: JobParameters, Equatable {
    public static let kind = "http"
    /// The most bytes of an answer kept in the result (and read at all): 4 KiB.
    public static let resultBodyLimit = 4_096
    /// The default request time limit: 10 s.
    public static let defaultTimeout = 10.0
    /// The longest request time limit accepted: 300 s.
    public static let maximumTimeout = 300.0

    /// Where to send the request: an absolute `http://` or `https://` URL.
    public var url: String
    /// The HTTP method (`POST` when nil).
    public var method: String?
    /// Request headers.
    public var headers: [String: String]?
    /// The body, as JSON (none when nil).
    public var body: JSONBody?
    /// The request's time limit in seconds (``defaultTimeout`` when nil).
    public var timeoutSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case url, method, headers, body
        case timeoutSeconds = "timeout_s"
    }

    public init(url: String, method: String? = nil, headers: [String: String]? = nil, body: JSONBody? = nil, timeoutSeconds: Double? = nil)
    {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.timeoutSeconds = timeoutSeconds
    }

    /// What a delivery's answer means for the job.
    package enum Verdict: Equatable, Sendable {
        /// 2xx: delivered.
        case delivered
        /// 408, 429, 5xx: try again later.
        case retry
        /// Anything else: the request itself is wrong; do not send it again.
        case permanent
    }

    /// The verdict for an answer's status code.
    package static func classify(status: Int) -> Verdict {
        switch status {
        case 200..<300: return .delivered
        case 408, 429, 500..<600: return .retry
        default: return .permanent
        }
    }

    /// Checks the payload without sending anything, the URL's host against `policy`.
    /// - Throws: ``PermanentFailure`` naming the bad field.
    public func validate(policy: HTTPJobPolicy = .any) throws {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = parsed.host, !host.isEmpty
        else {
            throw PermanentFailure("http: url must be an absolute http:// or https:// URL (got '\(url)')")
        }
        guard policy.allows(host: host) else {
            throw PermanentFailure(
                policy.allowedHosts?.isEmpty == true
                    ? "http: url: this server sends no webhooks (its allow-list of hosts is empty)"
                    : "http: url: host '\(host)' is not in this server's allow-list of hosts"
            )
        }
        if let method {
            let token = method.utf8.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 }
            guard !method.isEmpty, method.utf8.count <= 32, token else {
                throw PermanentFailure("http: method must be an HTTP method name such as POST or PUT (got '\(method)')")
            }
        }
        if let timeoutSeconds {
            guard timeoutSeconds.isFinite, timeoutSeconds > 0, timeoutSeconds <= Self.maximumTimeout else {
                throw PermanentFailure(
                    "http: timeout_s must be more than 0 and at most \(Int(Self.maximumTimeout)) (got \(timeoutSeconds))")
            }
        }
        for (name, value) in headers ?? [:] {
            let badName = name.isEmpty || name.utf8.contains { $0 <= 32 || $0 >= 127 || $0 == UInt8(ascii: ":") }
            guard !badName, !value.utf8.contains(where: { $0 == 13 || $0 == 10 }) else {
                throw PermanentFailure("http: header '\(name)' is not a valid header name and value")
            }
        }
    }

    /// What a delivered job stores as its result.
    public struct Result: Codable, Sendable, Equatable {
        /// The answer's status code.
        public var status: Int
        /// The first ``HTTPJob/resultBodyLimit`` bytes of the answer, as text.
        public var body: String
        /// How long the request took, in milliseconds.
        public var durationMs: Double

        enum CodingKeys: String, CodingKey {
            case status, body
            case durationMs = "duration_ms"
        }
    }

    /// A failed attempt that is worth repeating: a 408, 429 or 5xx answer, a timeout, or a
    /// connection failure.
    public struct DeliveryFailed: Error, Sendable, CustomStringConvertible {
        /// The answer's status, when there was one.
        public let status: Int?
        public let description: String
    }

    /// Registers the `http` kind in `registry`, sending through `client` (nil: the process-wide
    /// `HTTPClient.shared`, or with an allow-list a shared client that follows no redirect; no
    /// shutdown needed). `options` are the kind's defaults (queue, attempts, backoff); `policy`
    /// says which hosts jobs may send to (``HTTPJobPolicy``): a job naming another is `dead`.
    public static func register(
        in registry: JobRegistry, client: HTTPClient? = nil, options: JobOptions = JobOptions(), policy: HTTPJobPolicy = .any
    ) {
        let client = client ?? policy.client
        registry.register(HTTPJob.self, options: options) { job, context in
            try await job.deliver(with: client, policy: policy, logger: context.logger)
        }
    }

    /// Sends the request once and returns the result of a 2xx answer.
    /// - Throws: ``PermanentFailure`` for an invalid payload or a status that will not change
    ///   (see ``classify(status:)``), ``DeliveryFailed`` for one worth retrying,
    ///   `CancellationError` when the job is cancelled (its time limit, shutdown).
    public func deliver(with client: HTTPClient, policy: HTTPJobPolicy = .any, logger: Logger) async throws -> Result {
        try validate(policy: policy)
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: (method ?? "POST").uppercased())
        for (name, value) in headers ?? [:] { request.headers.add(name: name, value: value) }
        if let body {
            let bytes: [UInt8]
            if request.headers.contains(name: "Content-Type") {
                // The caller chose the type: a JSON string is its text, anything else its JSON.
                if case .string(let text) = body { bytes = Array(text.utf8) } else { bytes = try body.encoded() }
            } else {
                request.headers.add(name: "Content-Type", value: "application/json")
                bytes = try body.encoded()
            }
            request.body = .bytes(bytes)
        }
        let timeout = timeoutSeconds ?? Self.defaultTimeout
        let started = ContinuousClock.now
        let response: HTTPClientResponse
        let answer: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)), logger: logger)
            answer = try await Self.collect(response.body, limit: Self.resultBodyLimit)
        } catch let error as HTTPClientError {
            if error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
                throw DeliveryFailed(status: nil, description: "http: \(method ?? "POST") \(url) timed out after \(timeout) s")
            }
            if error == .invalidURL || error == .emptyHost {
                throw PermanentFailure("http: cannot send to '\(url)': \(error)")
            }
            throw DeliveryFailed(status: nil, description: "http: \(method ?? "POST") \(url) failed: \(error)")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw DeliveryFailed(status: nil, description: "http: \(method ?? "POST") \(url) failed: \(error)")
        }
        let status = Int(response.status.code)
        let text = String(decoding: answer.readableBytesView, as: UTF8.self)
        let summary = "http: \(method ?? "POST") \(url) answered \(status)\(text.isEmpty ? "" : ": \(text.prefix(200))")"
        switch Self.classify(status: status) {
        case .delivered:
            return Result(status: status, body: text, durationMs: (ContinuousClock.now - started).seconds * 1000)
        case .retry:
            throw DeliveryFailed(status: status, description: summary)
        case .permanent:
            throw PermanentFailure(summary)
        }
    }

    /// Reads at most `limit` bytes of `body` and drops the rest (so a huge answer costs no
    /// memory).
    private static func collect(_ body: HTTPClientResponse.Body, limit: Int) async throws -> ByteBuffer {
        var kept = ByteBuffer()
        for try await var chunk in body {
            let room = limit - kept.readableBytes
            if room > 0, let slice = chunk.readSlice(length: min(room, chunk.readableBytes)) {
                kept.writeImmutableBuffer(slice)
            }
        }
        return kept
    }
}
