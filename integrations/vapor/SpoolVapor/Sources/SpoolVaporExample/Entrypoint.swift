import Logging
import Vapor

/// A Vapor application that embeds Spool: `swift run SpoolVaporExample` serves HTTP with
/// in-process workers; `swift run SpoolVaporExample spool work` runs only workers.
@main
enum Entrypoint {
    static func main() async throws {
        var environment = try Environment.detect()
        try LoggingSystem.bootstrap(from: &environment)
        let app = try await Application.make(environment)
        do {
            try await configure(app)
            try await app.execute()
        } catch {
            app.logger.report(error: error)
            try? await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }
}
