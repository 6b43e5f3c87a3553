import Hummingbird
import Spool

/// A Hummingbird request context that carries a ``Spool/SpoolClient``, so a route enqueues with
/// `try await context.enqueue(SendEmail(...))`.
///
/// Add the property to your context and ``SpoolMiddleware`` to the router (before the routes
/// that enqueue); the middleware sets it on every request:
///
/// ```swift
/// struct AppContext: SpoolRequestContext {
///     var coreContext: CoreRequestContextStorage
///     var spool: SpoolClient?
///     init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }
/// }
/// let router = Router(context: AppContext.self)
/// router.add(middleware: SpoolMiddleware(client: client))
/// router.post("/signup") { request, context in
///     let handle = try await context.enqueue(SendWelcomeEmail(userID: 7, address: "a@example.com"))
///     return Response(status: .accepted)
/// }
/// ```
public protocol SpoolRequestContext: RequestContext {
    /// The client ``SpoolMiddleware`` put here; nil on a route the middleware does not cover.
    var spool: SpoolClient? { get set }
}

extension SpoolRequestContext {
    /// The client ``SpoolMiddleware`` put in this context.
    /// - Throws: `HTTPError` 500 when no ``SpoolMiddleware`` covers this route (a setup
    ///   mistake, logged with that cause), rather than a trap.
    public func spoolClient() throws -> SpoolClient {
        guard let spool else {
            logger.error("no SpoolMiddleware covers this route: add router.add(middleware: SpoolMiddleware(client:)) before it")
            throw HTTPError(.internalServerError)
        }
        return spool
    }

    /// Enqueues a typed job with this context's client (see ``Spool/SpoolClient/enqueue(_:options:)-(P,_)``):
    /// it returns once the job is stored, with its handle; a full bounded queue throws
    /// `SpoolError` `.queueFull` unless `options.whenFull` is `.wait`.
    public func enqueue<P: JobParameters>(_ parameters: P, options: EnqueueOptions = EnqueueOptions()) async throws -> JobHandle {
        try await spoolClient().enqueue(parameters, options: options)
    }

    /// Enqueues many typed jobs at once, in one storage round trip (see
    /// ``Spool/SpoolClient/enqueue(_:options:)-([P],_)``).
    public func enqueue<P: JobParameters>(_ parameters: [P], options: EnqueueOptions = EnqueueOptions()) async throws -> [JobHandle] {
        try await spoolClient().enqueue(parameters, options: options)
    }
}

/// Puts a ``Spool/SpoolClient`` into every request's ``SpoolRequestContext``. Costs one
/// assignment per request.
public struct SpoolMiddleware<Context: SpoolRequestContext>: RouterMiddleware {
    let client: SpoolClient

    /// A middleware that hands `client` to the routes after it.
    public init(client: SpoolClient) {
        self.client = client
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.spool = client
        return try await next(request, context)
    }
}
