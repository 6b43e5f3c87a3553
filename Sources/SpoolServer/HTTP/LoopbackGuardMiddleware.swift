import Foundation
import HTTPTypes
import Hummingbird

/// With no token configured, keeps the server to the machine's own users, out of reach of the
/// web pages open in their browser.
///
/// The server then binds loopback only, but a browser on the same machine can still reach it:
/// a page of any site can post to `http://127.0.0.1:8080/v1/...`, and a site whose name the
/// attacker points at 127.0.0.1 (DNS rebinding) can even read the answers. So:
///
/// - A request whose `Host` (every `Host`, when several are sent) is not a loopback name or
///   address — `localhost`, `127.x.x.x` or `[::1]`, each with an optional port — gets **421
///   Misdirected Request**: a rebound name (`evil.example`) never gets an answer, not even the
///   dashboard's pages with their form token. A request with no `Host` at all (HTTP/1.0 tools)
///   passes: browsers always send one.
/// - A write (any method but `GET`, `HEAD` and `OPTIONS`) gets **403** when its `Origin` is
///   present and is not a loopback origin (`http://` or `https://` with a loopback host), or is
///   `null` (sandboxed frames, `file:` pages), or when its `Sec-Fetch-Site` is `cross-site` or
///   `same-site` (another port of `localhost` is the same site). The dashboard's own forms come
///   from the server's own origin and pass.
///
/// With a token configured the middleware is not installed: tokens are the guard then (the API
/// takes them from the `Authorization` header only, which no other site can make a browser send).
struct LoopbackGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    /// True for the paths a browser uses (the dashboard): refusals there are HTML pages.
    var isBrowserPath: @Sendable (String) -> Bool = { _ in false }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            try Self.check(request)
        } catch let problem as Problem where isBrowserPath(request.uri.path) {
            return DashboardPage.problem(problem)
        }
        return try await next(request, context)
    }

    /// `Sec-Fetch-Site`, which browsers send with every request.
    static var fetchSite: HTTPField.Name { HTTPField.Name("Sec-Fetch-Site")! }
    /// A second `Host` header (the first one is the request's authority).
    static var host: HTTPField.Name { HTTPField.Name("Host")! }

    /// Checks the rules above.
    /// - Throws: ``Problem`` 421 for a foreign `Host`, 403 for a cross-site write.
    static func check(_ request: Request) throws {
        let hosts = (request.head.authority.map { [$0] } ?? []) + request.headers[values: host]
        if let foreign = hosts.first(where: { !isLoopbackAuthority($0) }) {
            throw Problem.misdirected(host: foreign)
        }
        switch request.method {
        case .get, .head, .options:
            return
        default:
            break
        }
        if let origin = request.headers[values: .origin].first(where: { !isLoopbackOrigin($0) }) {
            throw Problem.crossSite(
                "a \(request.method.rawValue) from a web page of origin '\(origin)' is refused: with no token configured this server takes writes only from its own pages and from programs on this machine"
            )
        }
        if let site = request.headers[values: fetchSite].first(where: { ["cross-site", "same-site"].contains($0.lowercased()) }) {
            throw Problem.crossSite(
                "a \(request.method.rawValue) a browser marks 'Sec-Fetch-Site: \(site)' is refused: with no token configured this server takes writes only from its own pages and from programs on this machine"
            )
        }
    }

    /// True for `localhost`, `127.x.x.x` (a dotted quad) and `[::1]`, each with an optional port
    /// (`:1` to `:65535`); letters in any case.
    static func isLoopbackAuthority(_ authority: String) -> Bool {
        let text = authority.lowercased()
        let host: Substring
        let port: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return false }
            host = text[...close]
            let rest = text[text.index(after: close)...]
            if rest.isEmpty {
                port = nil
            } else {
                guard rest.first == ":" else { return false }
                port = rest.dropFirst()
            }
        } else {
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            port = parts.count > 1 ? parts[1] : nil
        }
        if let port {
            guard (1...5).contains(port.count), port.allSatisfy(\.isASCIIDigit), let number = Int(port), number <= 65_535 else {
                return false
            }
        }
        return host == "localhost" || host == "[::1]" || isLoopbackIPv4(host)
    }

    /// True for `127.a.b.c` with each part a decimal from 0 to 255.
    static func isLoopbackIPv4(_ host: Substring) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "127" else { return false }
        return parts.allSatisfy { part in
            (1...3).contains(part.count) && part.allSatisfy(\.isASCIIDigit) && Int(part).map { $0 <= 255 } == true
        }
    }

    /// True for an `Origin` of `http` or `https` on a loopback authority (never `null`).
    static func isLoopbackOrigin(_ origin: String) -> Bool {
        let text = origin.lowercased()
        for scheme in ["http://", "https://"] where text.hasPrefix(scheme) {
            let authority = text.dropFirst(scheme.count)
            return !authority.contains("/") && isLoopbackAuthority(String(authority))
        }
        return false
    }
}

extension Character {
    /// True for `0` to `9` (not other scripts' digits).
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
