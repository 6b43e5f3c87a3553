import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Spool
import SpoolHummingbird
import SpoolServer

/// The job: send a welcome email. Its parameters are what the handler needs, nothing more.
public struct SendWelcomeEmail: JobParameters, Equatable {
    public static let kind = "email.welcome"
    public var userID: Int
    public var address: String

    public init(userID: Int, address: String) {
        self.userID = userID
        self.address = address
    }
}

/// Where welcome emails go (a mail client in a real app).
public protocol Mailer: Sendable {
    func sendWelcome(to address: String, userID: Int) async throws
}

/// The app's request context: Hummingbird's core context, the Spool client that
/// ``SpoolMiddleware`` hands to every route, and the connection's peer.
public struct AppContext: SpoolRequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var spool: SpoolClient?
    /// Where the connection comes from: Spool's mount answers only this machine until a token
    /// is set.
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}

/// A Hummingbird app that embeds Spool through `SpoolHummingbird`: `POST /signup` enqueues a
/// typed job from its request context into a bounded in-process queue and answers
/// `202 Accepted` at once (`503` with `Retry-After` when the queue is full); a Spool worker
/// runs the jobs in the same process; Spool's dashboard and API answer under `/spool`. The
/// worker and the dashboard's sampler are services of the application, so SIGTERM stops the
/// HTTP server first and then lets the worker drain.
public struct SignupApp: Sendable {
    public let storage: MemoryStorage
    public let client: SpoolClient
    public let worker: Worker
    /// Spool's dashboard and API, mounted at `/spool`.
    public let dashboard: SpoolMount
    public let logger: Logger

    /// - Parameters:
    ///   - capacity: how many jobs may wait; past it, signups get 503 instead of queueing.
    ///   - concurrency: how many emails are sent at once.
    ///   - dashboardToken: the token of Spool's dashboard and API under `/spool`; nil: only
    ///     this machine's own users may see them (a loopback `Host`).
    /// - Throws: only if `/spool` were not a valid mount path.
    public init(
        mailer: any Mailer, capacity: Int = 1_000, concurrency: Int = 10, dashboardToken: String? = nil,
        logger: Logger = Logger(label: "signup")
    ) throws {
        let registry = JobRegistry()
        registry.register(SendWelcomeEmail.self, options: JobOptions(maxAttempts: 5, timeout: .seconds(30))) { job, _ in
            try await mailer.sendWelcome(to: job.address, userID: job.userID)
        }
        storage = MemoryStorage(capacity: capacity)
        client = SpoolClient(storage: storage, registry: registry)
        worker = Worker(storage: storage, registry: registry, configuration: WorkerConfiguration(concurrency: concurrency))
        let server = SpoolServer(
            storage: storage, registry: registry, configuration: SpoolServer.Configuration(adminToken: dashboardToken, logger: logger)
        )
        dashboard = try server.mount(at: "/spool")
        self.logger = logger
    }

    struct Signup: Decodable {
        var userID: Int
        var address: String
        enum CodingKeys: String, CodingKey {
            case userID = "user_id"
            case address
        }
    }

    /// The HTTP application with the worker and the dashboard's sampler as its services (port 0
    /// picks a free one; `onServerRunning` gets the bound port).
    public func application(
        port: Int = 8080, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: AppContext.self)
        router.add(middleware: SpoolMiddleware(client: client))
        router.post("/signup") { request, context -> Response in
            let signup = try await request.decode(as: Signup.self, context: context)
            do {
                // `.fail`: a full queue is the caller's problem now (503), not a request that hangs.
                let handle = try await context.enqueue(
                    SendWelcomeEmail(userID: signup.userID, address: signup.address), options: EnqueueOptions(whenFull: .fail)
                )
                return Self.json(.accepted, #"{"job_id":"\#(handle.id)"}"#)
            } catch let error as SpoolError where error.code == .queueFull {
                var response = Self.json(.serviceUnavailable, #"{"error":"too many signups queued; try again shortly"}"#)
                response.headers[.retryAfter] = "1"
                return response
            }
        }
        router.get("/jobs/{id}") { _, context -> Response in
            guard let id = JobID(try context.parameters.require("id")),
                let record = try await context.spoolClient().handle(id).record()
            else { return Self.json(.notFound, #"{"error":"no such job"}"#) }
            return Self.json(.ok, #"{"state":"\#(record.state.rawValue)","attempt":\#(record.attempt)}"#)
        }
        router.addSpool(dashboard)
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
            services: [worker, dashboard],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) }, logger: logger
        )
    }

    /// Runs the HTTP server, the worker and the dashboard's sampler until SIGTERM/SIGINT (then
    /// the server stops and the worker drains).
    public func run(port: Int = 8080) async throws {
        try await application(port: port).runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    private static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
