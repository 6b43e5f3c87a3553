import Foundation
import HTTPTypes
import Hummingbird

/// Takes only JSON on the API (`/v1`) and `/metrics`: a request there that sends a
/// `Content-Type` other than `application/json` or `application/*+json` (parameters such as
/// `charset` may follow), or a body with no `Content-Type` at all, gets **415** naming what is
/// accepted, before any handler reads it. A request without a body (an empty `POST` such as
/// pause) needs no `Content-Type`.
///
/// This holds with or without tokens. It is what keeps a web page from writing through the
/// browser: a page of another site can send `text/plain`, a form or a typeless blob without
/// asking the server first, but never `application/json`.
struct JSONBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.appliesTo(request.uri.path) {
            try Self.check(request.headers)
        }
        return try await next(request, context)
    }

    /// True for `/v1`, the paths under it, and `/metrics`.
    static func appliesTo(_ path: String) -> Bool {
        path == "/v1" || path.hasPrefix("/v1/") || path == "/metrics"
    }

    /// Checks the rule above on a request's headers.
    /// - Throws: ``Problem`` 415.
    static func check(_ headers: HTTPFields) throws {
        let types = headers[values: .contentType]
        if types.isEmpty {
            if hasBody(headers) { throw Problem.unsupportedMediaType(nil) }
        } else if types.count > 1 || !isJSON(types[0]) {
            throw Problem.unsupportedMediaType(types.joined(separator: ", "))
        }
    }

    /// True when the headers announce a body: a `Content-Length` other than 0, or any
    /// `Transfer-Encoding`.
    static func hasBody(_ headers: HTTPFields) -> Bool {
        if headers[.transferEncoding] != nil { return true }
        guard let length = headers[.contentLength] else { return false }
        return length.trimmingCharacters(in: .whitespaces) != "0"
    }

    /// True for `application/json` and `application/*+json`, any case, with any parameters.
    static func isJSON(_ contentType: String) -> Bool {
        let media = contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
            .trimmingCharacters(in: .whitespaces).lowercased()
        if media == "application/json" { return true }
        guard media.hasPrefix("application/"), media.hasSuffix("+json") else { return false }
        let subtype = media.dropFirst("application/".count).dropLast("+json".count)
        return !subtype.isEmpty && !subtype.contains("/") && !subtype.contains(" ")
    }
}
