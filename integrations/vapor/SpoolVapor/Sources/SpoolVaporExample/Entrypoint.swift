import Logging
import Vapor

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Vapor application that embeds Spool: `swift run SpoolVaporExample` serves HTTP with
/// in-process workers; `swift run SpoolVaporExample spool work` runs only workers.
///
/// Vapor's template, except that a failure exits with status 1 after one log line instead of
/// crashing with a backtrace (an error thrown out of `main`).
@main
enum Entrypoint {
    static func main() async throws {
        var environment = try Environment.detect()
        try LoggingSystem.bootstrap(from: &environment)
        let app = try await Application.make(environment)
        do {
            try await configure(app)
        } catch {
            app.logger.report(error: error)
            try? await app.asyncShutdown()
            exit(1)
        }
        do {
            try await app.execute()  // reports its own errors
        } catch {
            try? await app.asyncShutdown()
            exit(1)
        }
        try await app.asyncShutdown()
    }
}
