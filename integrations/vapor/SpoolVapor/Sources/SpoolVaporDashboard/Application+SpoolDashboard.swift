import HTTPTypes
import NIOCore
import Spool
import SpoolServer
import SpoolVapor
import Vapor

extension Application.Spool {
    /// Serves Spool's dashboard and HTTP API below `path` in this application: the dashboard at
    /// `/spool`, the API at `/spool/v1/…`, `/spool/metrics`, `/spool/openapi.json`.
    ///
    /// ```swift
    /// try app.spool.mountDashboard(at: "spool", configuration: .init(adminToken: Environment.get("SPOOL_ADMIN_TOKEN")))
    /// ```
    /// Every method under the path goes to the mounted `SpoolServer` (its ``SpoolMount``), with
    /// the body collected up to the server's `bodyLimit` (Vapor answers 413 past it). What
    /// `SpoolServer` promises holds here: tokens, JSON-only writes, the dashboard's form token,
    /// and, with no token configured, answers only to this machine: a request whose `Host` is
    /// not a loopback name gets 421 (against DNS rebinding), and one whose connection comes from
    /// another machine gets 403 (a `Host` header is any client's to write), so an application
    /// listening on every address shows Spool only to its own machine until a token is set. Vapor's middleware (logging, errors, your own
    /// authentication) runs before it.
    ///
    /// The mount's sampler for the dashboard's charts runs from boot to shutdown beside the
    /// workers. Call it in `configure(_:)`, after ``use(_:)``.
    /// - Parameters:
    ///   - path: `spool`, `/spool` or `admin/jobs`: segments of letters, digits, `-`, `.`, `_`, `~`.
    ///   - configuration: the server's tokens, body limit, sample interval and logger; its host
    ///     and port are unused (the application's server listens).
    /// - Returns: the mount, to read its path and body limit.
    /// - Throws: `SpoolError` `invalidArgument` naming `path`, `storageUnavailable` before
    ///   ``use(_:)``, `invalidArgument` once the application has booted.
    @discardableResult
    public func mountDashboard(at path: String = "spool", configuration: SpoolServer.Configuration = .init()) throws -> SpoolMount {
        guard let storage else {
            throw SpoolError(code: .storageUnavailable, message: "no job storage configured: call app.spool.use(_:) before mountDashboard")
        }
        let server = SpoolServer(storage: storage, registry: registry, configuration: configuration)
        let mount = try server.mount(at: path.hasPrefix("/") ? path : "/" + path)
        try run(mount, name: "spool.dashboard")
        let components = mount.path.split(separator: "/").map { PathComponent.constant(String($0)) }
        let body = HTTPBodyStreamStrategy.collect(maxSize: ByteCount(value: mount.bodyLimit))
        let handler: @Sendable (Request) async throws -> Response = { request in
            await DashboardBridge.respond(to: request, with: mount)
        }
        for method in DashboardBridge.methods {
            application.on(method, components, body: body, use: handler)
            application.on(method, components + [.catchall], body: body, use: handler)
        }
        return mount
    }
}

/// Vapor's `Request` and `Response` to and from swift-http-types, for ``SpoolMount``.
enum DashboardBridge {
    /// The methods routed to the mount (it answers 405 itself for those it does not serve).
    /// `HEAD` reaches it through Vapor's `GET` routes.
    static let methods: [HTTPMethod] = [.GET, .POST, .PUT, .PATCH, .DELETE, .OPTIONS]

    /// The mount's answer to `request`. The connection's peer (its TCP address, never
    /// `X-Forwarded-For`, which a client can write) goes along: with no token configured, the
    /// mount refuses other machines with 403.
    static func respond(to request: Request, with mount: SpoolMount) async -> Response {
        let body = request.body.data ?? ByteBuffer()
        let (head, responseBody) = await mount.respond(
            to: httpRequest(request), body: body, peer: request.remoteAddress, logger: request.logger)
        return response(head, body: responseBody)
    }

    /// The request's head as swift-http-types sees an HTTP/1.1 request: the first `Host` is
    /// the authority, any further `Host` stays a header (so the mount can refuse it).
    static func httpRequest(_ request: Request) -> HTTPRequest {
        var fields = HTTPFields()
        var authority: String?
        for (name, value) in request.headers {
            if authority == nil, name.lowercased() == "host" {
                authority = value
                continue
            }
            guard let fieldName = HTTPField.Name(name) else { continue }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        let path = request.url.string.isEmpty ? "/" : request.url.string
        return HTTPRequest(
            method: HTTPRequest.Method(request.method.rawValue) ?? .get, scheme: nil, authority: authority, path: path,
            headerFields: fields)
    }

    static func response(_ head: HTTPResponse, body: ByteBuffer) -> Response {
        var headers = HTTPHeaders()
        for field in head.headerFields {
            headers.add(name: field.name.rawName, value: field.value)
        }
        let status = HTTPResponseStatus(statusCode: head.status.code, reasonPhrase: head.status.reasonPhrase)
        return Response(status: status, headers: headers, body: .init(buffer: body))
    }
}
