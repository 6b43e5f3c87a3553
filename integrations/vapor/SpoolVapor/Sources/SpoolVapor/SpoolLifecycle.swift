import Spool
import Vapor

/// Starts Spool's services when the application boots and drains them when it shuts down.
///
/// Registered by `app.spool` the first time it is used. Starting is synchronous (it makes the
/// service group and the task that runs it), so both boots start them: `asyncBoot()` (Vapor's
/// `execute()` and `startup()`) and the blocking `boot()` (VaporTesting's and XCTVapor's
/// `app.testing()`). `asyncShutdown()` drains and awaits them; the blocking `shutdown()` waits
/// for the same drain on an event loop future, as Vapor's blocking calls do.
struct SpoolLifecycle: LifecycleHandler {
    let state: SpoolState

    func didBootAsync(_ application: Application) async throws {
        try didBoot(application)
    }

    func didBoot(_ application: Application) throws {
        try state.start(application, inProcess: !Self.runsSpoolCommand(application))
    }

    func shutdownAsync(_ application: Application) async {
        await state.stop()
    }

    func shutdown(_ application: Application) {
        let state = self.state
        do {
            try application.eventLoopGroup.any().makeFutureWithTask { await state.stop() }.wait()
        } catch {
            application.logger.error("Spool's services did not stop cleanly", metadata: ["spool.error": "\(error)"])
        }
    }

    /// True when the command about to run is a ``SpoolCommand`` (`spool work` runs workers and
    /// the scheduler of its own, so the in-process ones stay off).
    static func runsSpoolCommand(_ application: Application) -> Bool {
        guard let name = application.environment.commandInput.arguments.first else { return false }
        return application.asyncCommands.commands[name] is SpoolCommand
    }
}
