import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Spool
import Synchronization

/// ``SpoolServer`` answering inside another application, below a path such as `/spool`: the
/// dashboard at `/spool`, the API at `/spool/v1/…`, `/spool/metrics`, `/spool/openapi.json`.
///
/// A framework's adapter hands each request under ``path`` to ``respond(to:peer:logger:)`` (a
/// Hummingbird `Request`) or ``respond(to:body:peer:logger:)`` (any framework, through
/// swift-http-types), with the address its connection comes from; `SpoolHummingbird` and the
/// Vapor integration do this for you. The
/// dashboard's links, forms, redirects and sign-in cookie stay below ``path``.
///
/// Everything ``SpoolServer`` promises about requests holds here too: tokens, JSON-only writes,
/// the form token, and, with no token configured, answers only to this machine: a peer that is
/// not local gets 403, a `Host` that is not a loopback name 421 (so an app that listens on
/// every address shows Spool only to its own machine until a token is set).
/// The connection limits (``SpoolServer/Configuration/idleTimeout``,
/// ``SpoolServer/Configuration/headerTimeout``) are the host application's to set.
///
/// The mount is also a `Service`: run it (in the application's `ServiceGroup`) for the
/// dashboard's charts of the last hour, which it samples every
/// ``SpoolServer/Configuration/dashboardSampleInterval``; without it the charts stay empty and
/// everything else works.
public struct SpoolMount: Service {
    /// The path the server answers under: starts with `/`, no trailing `/`.
    public let path: String
    /// The largest request body ``respond(to:body:peer:logger:)`` should be handed, in bytes (the
    /// server's ``SpoolServer/Configuration/bodyLimit``): adapters collect bodies up to it.
    public let bodyLimit: Int
    private let server: SpoolServer
    private let responder: RouterResponder<SpoolServerRequestContext>

    init(server: SpoolServer, path: String) throws {
        self.path = try Self.normalized(path)
        self.server = server
        self.bodyLimit = server.configuration.bodyLimit
        self.responder = server.makeRouter().buildResponder()
    }

    /// `path` as a mount path: `/` or segments of letters, digits, `-`, `.`, `_` and `~`
    /// (neither `.` nor `..`), at most 200 characters; a trailing `/` is dropped.
    /// - Throws: `SpoolError.invalidArgument` naming `path`.
    static func normalized(_ path: String) throws -> String {
        let trimmed = path.hasSuffix("/") && path != "/" ? String(path.dropLast()) : path
        let segments = trimmed.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        let valid =
            trimmed.hasPrefix("/") && !path.contains("//") && trimmed.count <= 200
            && (trimmed == "/" || segments.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." && $0.allSatisfy(allowed.contains) })
        guard valid else {
            throw SpoolError(
                code: .invalidArgument,
                message:
                    "path must be / or /segment[/segment…] of letters, digits, '-', '.', '_' and '~', at most 200 characters (got '\(path)')"
            )
        }
        return trimmed == "/" ? "" : trimmed
    }

    /// The request's path and query below ``path`` (`/spool/jobs?x=1` → `/jobs?x=1`), or nil
    /// when it is not below it.
    func innerPath(_ full: String) -> String? {
        guard full.hasPrefix(path) else { return nil }
        let rest = full.dropFirst(path.count)
        if rest.isEmpty { return "/" }
        if rest.hasPrefix("/") { return String(rest) }
        if rest.hasPrefix("?") { return "/" + rest }
        return nil
    }

    /// Answers a Hummingbird request under ``path``; the body streams through, nothing is
    /// collected first. A path not under ``path`` gets 404.
    ///
    /// - Parameter peer: the address the request's connection comes from, or nil for a request
    ///   that came over no connection (an in-process test). With no token configured, a peer
    ///   that is not this machine (loopback or a Unix socket) gets 403 before anything else: a
    ///   `Host` header is any client's to write, so the server's own loopback-`Host` rule stops
    ///   browsers, not other machines, when the host application listens on every address.
    public func respond(to request: Request, peer: SocketAddress?, logger: Logger) async -> Response {
        if !server.configuration.requiresToken, let peer, !Self.isLocal(peer) {
            return Problem.remoteWithoutToken.response
        }
        return await answer(request, logger: logger)
    }

    /// True for a loopback address (`127.0.0.0/8`, `::1`, `::ffff:127.x.x.x`) or a Unix socket.
    public static func isLocal(_ address: SocketAddress) -> Bool {
        switch address {
        case .unixDomainSocket:
            return true
        case .v4, .v6:
            guard let ip = address.ipAddress?.lowercased() else { return false }
            return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
        }
    }

    /// Answers a request under ``path`` once the peer rule has passed.
    private func answer(_ request: Request, logger: Logger) async -> Response {
        var head = request.head
        guard let inner = innerPath(head.path ?? "") else {
            return Problem.routeNotFound(method: head.method, path: head.path ?? "").response
        }
        head.path = inner
        let context = SpoolServerRequestContext(logger: logger)
        let mountPath = path
        return await DashboardURL.$mountPath.withValue(mountPath) {
            do {
                return try await responder.respond(to: Request(head: head, body: request.body), context: context)
            } catch {
                // The problem middleware answers every error it knows; this is the last resort.
                logger.error("the mounted Spool server failed a request", metadata: ["error": "\(error)"])
                return Problem.internalError.response
            }
        }
    }

    /// Answers a request of any framework under ``path``: its head and its whole body (at most
    /// ``bodyLimit`` bytes; a longer one gets 413), and returns the response's head and whole
    /// body. A path not under ``path`` gets 404.
    /// `peer`: as for ``respond(to:peer:logger:)``.
    public func respond(to head: HTTPRequest, body: ByteBuffer, peer: SocketAddress?, logger: Logger) async -> (HTTPResponse, ByteBuffer) {
        await collect(await respond(to: Request(head: head, body: RequestBody(buffer: body)), peer: peer, logger: logger), logger: logger)
    }

    private func collect(_ response: Response, logger: Logger) async -> (HTTPResponse, ByteBuffer) {
        let collector = Collector()
        do {
            try await response.body.write(collector)
        } catch {
            logger.error("the mounted Spool server failed to write a response", metadata: ["error": "\(error)"])
        }
        var fields = response.headers
        fields[.contentLength] = nil
        return (HTTPResponse(status: response.status, headerFields: fields), collector.buffer.withLock { $0 })
    }

    /// Samples the job counts for the dashboard's charts until graceful shutdown or
    /// cancellation.
    public func run() async throws {
        let configuration = server.configuration
        await cancelWhenGracefulShutdown {
            await server.throughput.sample(
                storage: server.storage, every: configuration.dashboardSampleInterval, clock: server.clock,
                logger: configuration.logger
            )
        }
    }

    /// Gathers a response body written in pieces.
    private final class Collector: ResponseBodyWriter, Sendable {
        let buffer = Mutex(ByteBuffer())

        func write(_ piece: ByteBuffer) async throws {
            buffer.withLock { _ = $0.writeImmutableBuffer(piece) }
        }

        func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}

extension SpoolServer {
    /// This server answering below `path` inside another application (see ``SpoolMount``).
    /// - Parameter path: `/spool`, say: `/` or segments of letters, digits, `-`, `.`, `_`, `~`.
    /// - Throws: `SpoolError.invalidArgument` naming `path` when it is not such a path.
    public func mount(at path: String) throws -> SpoolMount {
        try SpoolMount(server: self, path: path)
    }
}
