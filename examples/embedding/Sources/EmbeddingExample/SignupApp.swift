import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Spool

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

/// A Hummingbird app that embeds Spool: `POST /signup` enqueues a typed job into a bounded
/// in-process queue and answers `202 Accepted` at once (`503` with `Retry-After` when the queue
/// is full), and a Spool worker runs the jobs in the same process. Both are services of one
/// `ServiceGroup`, so SIGTERM stops the HTTP server and lets the worker drain.
public struct SignupApp: Sendable {
    public let storage: MemoryStorage
    public let client: SpoolClient
    public let worker: Worker
    public let logger: Logger

    /// - Parameters:
    ///   - capacity: how many jobs may wait; past it, signups get 503 instead of queueing.
    ///   - concurrency: how many emails are sent at once.
    public init(mailer: any Mailer, capacity: Int = 1_000, concurrency: Int = 10, logger: Logger = Logger(label: "signup")) {
        let registry = JobRegistry()
        registry.register(SendWelcomeEmail.self, options: JobOptions(maxAttempts: 5, timeout: .seconds(30))) { job, _ in
            try await mailer.sendWelcome(to: job.address, userID: job.userID)
        }
        storage = MemoryStorage(capacity: capacity)
        client = SpoolClient(storage: storage, registry: registry)
        worker = Worker(storage: storage, registry: registry, configuration: WorkerConfiguration(concurrency: concurrency))
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

    /// The HTTP application (port 0 picks a free one; `onServerRunning` gets the bound port).
    public func application(
        port: Int = 8080, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        let client = self.client
        router.post("/signup") { request, context -> Response in
            let signup = try await request.decode(as: Signup.self, context: context)
            do {
                // `.fail`: a full queue is the caller's problem now (503), not a request that hangs.
                let handle = try await client.enqueue(
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
                let record = try await client.storage.job(id)
            else { return Self.json(.notFound, #"{"error":"no such job"}"#) }
            return Self.json(.ok, #"{"state":"\#(record.state.rawValue)","attempt":\#(record.attempt)}"#)
        }
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) }, logger: logger
        )
    }

    /// Runs the HTTP server and the worker until SIGTERM/SIGINT (then the worker drains).
    public func run(port: Int = 8080) async throws {
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: application(port: port)), .init(service: worker)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
            ))
        try await group.run()
    }

    private static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
