import Hummingbird
import Logging

/// The request context of ``SpoolServer``'s router: Hummingbird's core context and nothing
/// else, so the server's routes can answer a request that did not arrive on a channel of their
/// own (a ``SpoolMount`` in another application's router) as well as one that did.
public struct SpoolServerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage

    /// A context for a request the server's own application accepted.
    public init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
    }

    /// A context for a request handed over by another application, logging to `logger`.
    public init(logger: Logger) {
        coreContext = CoreRequestContextStorage(source: LoggerSource(logger: logger))
    }

    private struct LoggerSource: RequestContextSource {
        var logger: Logger
    }
}
