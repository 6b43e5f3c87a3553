import Foundation
import Hummingbird

/// Checks `Authorization: Bearer TOKEN` when tokens are configured.
///
/// - Reads (`GET`, `HEAD`) need the read-only token or the admin token.
/// - Everything else needs the admin token: the read-only token gets 403.
/// - No token, or an unknown one, gets 401 (with `WWW-Authenticate: Bearer`).
/// - Paths in `openPaths` (liveness, the OpenAPI document) need no token.
///
/// With no token configured at all, every request passes (the server then binds loopback only).
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let adminToken: String?
    let readToken: String?
    let openPaths: Set<String>

    /// True when any token is configured, that is, when requests are checked at all.
    var isEnabled: Bool { adminToken != nil || readToken != nil }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard isEnabled, !openPaths.contains(request.uri.path) else {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization] else {
            throw Problem.unauthorized("this server requires 'Authorization: Bearer TOKEN' (SPOOL_ADMIN_TOKEN or SPOOL_READ_TOKEN)")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw Problem.unauthorized("the Authorization header must be 'Bearer TOKEN'")
        }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        let isAdmin = adminToken.map { Self.constantTimeEquals($0, token) } ?? false
        let isReader = readToken.map { Self.constantTimeEquals($0, token) } ?? false
        guard isAdmin || isReader else {
            throw Problem.unauthorized("the bearer token is not valid for this server")
        }
        let isRead = request.method == .get || request.method == .head
        if !isRead && !isAdmin {
            throw Problem.forbidden("the read-only token cannot \(request.method.rawValue) \(request.uri.path): use the admin token")
        }
        return try await next(request, context)
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
