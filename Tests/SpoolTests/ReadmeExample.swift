// The README's library example, compiled and run by ReadmeExampleTests. Keep the text between
// the markers identical to the README's block (a test compares them).
// README:begin
import Logging
import ServiceLifecycle
import Spool

struct SendWelcomeEmail: JobParameters {
    static let kind = "send-welcome-email"
    var userID: Int
    var address: String
}

func welcomeNewUser() async throws -> JobState {
    // 1. Register handlers: a kind, its queue, attempts, timeout and retry strategy.
    let registry = JobRegistry()
    registry.register(
        SendWelcomeEmail.self,
        options: JobOptions(queue: "mail", maxAttempts: 5, retry: .exponential(), timeout: .seconds(30))
    ) { email, context in
        context.logger.info("sending welcome email", metadata: ["to": "\(email.address)"])
        // try await mailer.send(to: email.address) — throw to retry, PermanentFailure to give up.
    }

    // 2. Storage: in memory, bounded to 10,000 waiting jobs per queue (backpressure).
    let storage = MemoryStorage(capacity: 10_000)
    let client = SpoolClient(storage: storage, registry: registry)

    // 3. A worker is a swift-service-lifecycle Service: run it in your ServiceGroup.
    let worker = Worker(
        storage: storage, registry: registry,
        configuration: WorkerConfiguration(queues: ["mail"], concurrency: 20)
    )
    let services = ServiceGroup(services: [worker], gracefulShutdownSignals: [.sigterm], logger: Logger(label: "app"))

    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await services.run() }

        // 4. Enqueue (returns once stored) and, if you want, await the outcome.
        let handle = try await client.enqueue(SendWelcomeEmail(userID: 42, address: "ada@example.com"))
        let outcome = try await handle.value

        await services.triggerGracefulShutdown()  // drains running jobs, then stops
        try await group.waitForAll()
        return outcome.state  // .succeeded
    }
}
// README:end
