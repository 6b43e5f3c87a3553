import Spool
import Vapor

/// Starts Spool's services when the application boots and drains them when it shuts down.
///
/// Registered by `app.spool` the first time it is used. Only the async lifecycle runs them
/// (`Application.make`, `execute()`, `asyncShutdown()`: Vapor's template since 4.9x); the
/// blocking `boot()` refuses to boot when there is something to run, rather than run nothing
/// silently.
struct SpoolLifecycle: LifecycleHandler {
    let state: SpoolState

    func didBootAsync(_ application: Application) async throws {
        try state.start(application, inProcess: !Self.runsSpoolCommand(application))
    }

    func shutdownAsync(_ application: Application) async {
        await state.stop()
    }

    func didBoot(_ application: Application) throws {
        let idle = state.settings.withLock { $0.storage == nil && $0.services.isEmpty }
        guard idle else {
            throw SpoolError(
                code: .invalidArgument,
                message:
                    "Spool runs its workers and services in Vapor's async lifecycle: create the application with Application.make and run it with execute() (then asyncShutdown())"
            )
        }
    }

    func shutdown(_ application: Application) {
        state.settings.withLock { $0.phase = .stopped }
    }

    /// True when the command about to run is a ``SpoolCommand`` (`spool work` runs workers and
    /// the scheduler of its own, so the in-process ones stay off).
    static func runsSpoolCommand(_ application: Application) -> Bool {
        guard let name = application.environment.commandInput.arguments.first else { return false }
        return application.asyncCommands.commands[name] is SpoolCommand
    }
}
