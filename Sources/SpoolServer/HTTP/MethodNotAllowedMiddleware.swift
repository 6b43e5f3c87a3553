import HTTPTypes
import Hummingbird

/// Answers a known path asked with a method it does not have with **405** and an `Allow`
/// header listing the methods it has (`DELETE /v1/stats` → `Allow: GET`), instead of 404.
/// Unknown paths stay 404.
///
/// Added to the router after every route, so it wraps only the router's not-found responder:
/// it costs nothing on a request that has a route.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The declared routes: each path pattern with its methods.
    let routes: [(path: RouterPath, methods: [HTTPRequest.Method])]

    /// The table of `routes` (what `Router.routes` lists), grouped by path.
    init(routes: [Router<Context>.RouteDescription]) {
        var grouped: [(path: RouterPath, methods: [HTTPRequest.Method])] = []
        for route in routes {
            if let index = grouped.firstIndex(where: { $0.path == route.path }) {
                grouped[index].methods.append(route.method)
            } else {
                grouped.append((route.path, [route.method]))
            }
        }
        self.routes = grouped
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let allowed = allowedMethods(request.uri.path) else {
            return try await next(request, context)
        }
        throw Problem.methodNotAllowed(method: request.method, path: request.uri.path, allowed: allowed)
    }

    /// The methods of the route `path` resolves to, in a stable order, or nil when no route has
    /// this path. When several patterns match (`/v1/jobs/batch` and `/v1/jobs/{id}`), the one
    /// the router prefers wins: a literal segment beats a parameter, from the left.
    func allowedMethods(_ path: String) -> [HTTPRequest.Method]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var best: (rank: [Bool], methods: [HTTPRequest.Method])?
        for route in routes where route.path.components.count == segments.count {
            guard zip(route.path.components, segments).allSatisfy({ $0 ~= $1 }) else { continue }
            let rank = zip(route.path.components, segments).map { $0 == .path($1) }
            if best.map({ rank.lexicographicallyPrecedes($0.rank) { $0 && !$1 } }) ?? true {
                best = (rank, route.methods)
            }
        }
        return best.map { Self.ordered($0.methods) }
    }

    /// `methods` in the order HTTP documents list them, the rest after by name.
    static func ordered(_ methods: [HTTPRequest.Method]) -> [HTTPRequest.Method] {
        let order: [HTTPRequest.Method] = [.get, .head, .post, .put, .patch, .delete, .options]
        return methods.sorted { a, b in
            let x = order.firstIndex(of: a) ?? order.count
            let y = order.firstIndex(of: b) ?? order.count
            return x != y ? x < y : a.rawValue < b.rawValue
        }
    }
}
