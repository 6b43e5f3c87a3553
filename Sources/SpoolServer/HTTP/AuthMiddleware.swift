import Foundation
import Hummingbird

/// What a request's token allows.
enum Access: Sendable, Equatable {
    /// Everything (the admin token, or no token configured at all).
    case admin
    /// Reads only (the read-only token).
    case read
}

/// Checks `Authorization: Bearer TOKEN` when tokens are configured.
///
/// - Reads (`GET`, `HEAD`) need the read-only token or the admin token.
/// - Everything else needs the admin token: the read-only token gets 403.
/// - No token, or an unknown one, gets 401 (with `WWW-Authenticate: Bearer`).
/// - Paths in `openPaths` (liveness, the OpenAPI document) need no token.
/// - On browser paths (the dashboard, ``isBrowserPath``) the token may also come as the
///   `spool_token` cookie, or once in the query of a `GET` as `?token=TOKEN`: that request is
///   answered with a 303 to the same page without the token, setting the cookie (`HttpOnly`,
///   `SameSite=Strict`, for the browser session). A missing or wrong token there gets an HTML
///   sign-in page (still 401), and a refused action an HTML page (403). The API under `/v1`
///   never takes cookies, so a browser's cookie cannot act on it from another site.
///
/// With no token configured at all, every request passes (the server then binds loopback only).
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let adminToken: String?
    let readToken: String?
    let openPaths: Set<String>
    /// True for the paths a browser uses (the dashboard's pages and forms).
    var isBrowserPath: @Sendable (String) -> Bool = { _ in false }

    /// The cookie that carries the token on browser paths.
    static var cookieName: String { "spool_token" }

    /// True when any token is configured, that is, when requests are checked at all.
    var isEnabled: Bool { adminToken != nil || readToken != nil }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        guard isEnabled, !openPaths.contains(path) else {
            return try await next(request, context)
        }
        guard isBrowserPath(path) else {
            try authorize(request, browser: false)
            return try await next(request, context)
        }
        do {
            let isRead = request.method == .get || request.method == .head
            if isRead, let token = FormFields(request.uri.query ?? "")["token"] {
                guard access(token) != nil else { throw Problem.unauthorized("the token in the link is not valid for this server") }
                return Self.signIn(token: token, request: request)
            }
            try authorize(request, browser: true)
        } catch let problem as Problem {
            return DashboardPage.problem(problem, signIn: problem.status == .unauthorized)
        }
        return try await next(request, context)
    }

    /// What `token` allows, or nil when it is no token of this server. Both tokens are always
    /// compared, in constant time.
    func access(_ token: String) -> Access? {
        let isAdmin = adminToken.map { Self.constantTimeEquals($0, token) } ?? false
        let isReader = readToken.map { Self.constantTimeEquals($0, token) } ?? false
        return isAdmin ? .admin : isReader ? .read : nil
    }

    /// What `request` may do: from its bearer token, or on a browser path its cookie; always
    /// ``Access/admin`` when no token is configured.
    /// - Throws: ``Problem`` 401 without a valid token.
    func access(of request: Request, browser: Bool) throws -> Access {
        guard isEnabled else { return .admin }
        let token: String
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw Problem.unauthorized("the Authorization header must be 'Bearer TOKEN'")
            }
            token = parts[1].trimmingCharacters(in: .whitespaces)
        } else if browser, let cookie = request.cookies[Self.cookieName]?.value {
            token = cookie.removingPercentEncoding ?? cookie
        } else {
            throw Problem.unauthorized(
                browser
                    ? "this server requires a token (SPOOL_ADMIN_TOKEN or SPOOL_READ_TOKEN)"
                    : "this server requires 'Authorization: Bearer TOKEN' (SPOOL_ADMIN_TOKEN or SPOOL_READ_TOKEN)"
            )
        }
        guard let access = access(token) else {
            throw Problem.unauthorized(browser ? "the token is not valid for this server" : "the bearer token is not valid for this server")
        }
        return access
    }

    /// Checks that `request` may do what it asks.
    /// - Throws: ``Problem`` 401 without a valid token, 403 for a write with the read-only token.
    private func authorize(_ request: Request, browser: Bool) throws {
        let access = try access(of: request, browser: browser)
        let isRead = request.method == .get || request.method == .head
        if !isRead && access != .admin {
            throw Problem.forbidden("the read-only token cannot \(request.method.rawValue) \(request.uri.path): use the admin token")
        }
    }

    /// The answer to a browser's `?token=`: back to the same page without it, with the cookie set.
    private static func signIn(token: String, request: Request) -> Response {
        let rest = FormFields(request.uri.query ?? "").pairs.filter { $0.0 != "token" }
        var response = Response.redirect(to: DashboardURL.make(request.uri.path, rest.map { ($0.0, $0.1) }), type: .normal)
        response.headers[.setCookie] =
            "\(cookieName)=\(DashboardURL.encode(token)); Path=\(DashboardURL.make("/")); HttpOnly; SameSite=Strict"
        return response
    }

    /// Compares two tokens in time that depends on their lengths only, not on where they differ.
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8)
        let right = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: left.count ^ right.count)
        if left.count != right.count { difference |= 1 }
        for index in 0..<max(left.count, right.count) {
            let x = index < left.count ? left[index] : 0
            let y = index < right.count ? right[index] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}
