import Logging
import ServiceContextModule
import Spool
import Vapor

extension Request {
    /// Spool for this request: enqueue jobs with the request's logger and trace context.
    ///
    /// ```swift
    /// app.post("signup") { req async throws -> Response in
    ///     let signup = try req.content.decode(Signup.self)
    ///     let handle = try await req.spool.enqueue(SendWelcomeEmail(userID: signup.userID))
    ///     return try await ["job_id": "\(handle.id)"].encodeResponse(status: .accepted, for: req)
    /// }
    /// ```
    public var spool: Spool {
        Spool(request: self)
    }

    /// See ``Vapor/Request/spool``.
    public struct Spool: Sendable {
        /// The request this enqueues for.
        public let request: Request

        /// The application's client (`app.spool.client`).
        /// - Throws: `SpoolError` `storageUnavailable` when `app.spool.use(_:)` was not called.
        public var client: SpoolClient {
            get throws { try request.application.spool.client }
        }

        /// Enqueues one job; returns once it is stored (committed, for durable drivers).
        ///
        /// The enqueue continues the request's trace (its `serviceContext`, when the task has no
        /// context of its own) and is logged at debug level on the request's logger with the
        /// job's id and kind. Cost: one storage call.
        /// - Throws: as `SpoolClient.enqueue(_:options:)`: `SpoolError` `queueFull` when a
        ///   bounded queue is full and `options.whenFull` is `.fail` (answer 503 then),
        ///   `invalidArgument` naming a bad option, storage errors; and `storageUnavailable`
        ///   when `app.spool.use(_:)` was not called.
        @discardableResult
        public func enqueue<P: JobParameters>(_ parameters: P, options: EnqueueOptions = EnqueueOptions()) async throws -> JobHandle {
            let client = try client
            let handle = try await inRequestContext { try await client.enqueue(parameters, options: options) }
            logEnqueued([handle], kind: P.kind)
            return handle
        }

        /// Enqueues many jobs of one kind in one storage call (one transaction, for durable
        /// drivers): all are stored or none. Handles come back in order.
        @discardableResult
        public func enqueue<P: JobParameters>(_ parameters: [P], options: EnqueueOptions = EnqueueOptions()) async throws -> [JobHandle] {
            let client = try client
            let handles = try await inRequestContext { try await client.enqueue(parameters, options: options) }
            logEnqueued(handles, kind: P.kind)
            return handles
        }

        /// Enqueues a job of `kind` with a raw payload (JSON bytes), for kinds without a Swift type.
        @discardableResult
        public func enqueue(kind: String, payload: [UInt8], options: EnqueueOptions = EnqueueOptions()) async throws -> JobHandle {
            let client = try client
            let handle = try await inRequestContext { try await client.enqueue(kind: kind, payload: payload, options: options) }
            logEnqueued([handle], kind: kind)
            return handle
        }

        /// A handle to a job enqueued earlier (to await it with `value`, or read its record).
        public func handle(_ id: JobID) throws -> JobHandle {
            try client.handle(id)
        }

        /// Runs `body` in the request's trace context unless the task already has one (Vapor's
        /// `TracingMiddleware` sets both).
        private func inRequestContext<T: Sendable>(_ body: () async throws -> T) async throws -> T {
            if ServiceContext.current != nil { return try await body() }
            return try await ServiceContext.withValue(request.serviceContext) { try await body() }
        }

        private func logEnqueued(_ handles: [JobHandle], kind: String) {
            guard request.logger.logLevel <= .debug else { return }
            for handle in handles {
                request.logger.debug(
                    handle.existing ? "job already enqueued under its unique key" : "enqueued job",
                    metadata: ["spool.job.id": "\(handle.id)", "spool.job.kind": "\(kind)"])
            }
        }
    }
}
