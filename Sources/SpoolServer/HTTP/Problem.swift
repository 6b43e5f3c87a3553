import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Spool

/// An error answered as RFC 9457 problem details (`application/problem+json`):
/// `{"type", "title", "status", "detail", ...extra members}`.
///
/// Every failure of the API ends up as one of these, so a client always gets the same shape.
struct Problem: Error, Sendable, CustomStringConvertible {
    /// The HTTP status.
    var status: HTTPResponse.Status
    /// The short, stable slug of the problem type (`invalid-field`); the `type` member is
    /// `urn:spool:problem:` followed by it.
    var slug: String
    /// A short summary that is the same for every occurrence of this type.
    var title: String
    /// What went wrong this time, with the values involved.
    var detail: String
    /// Further members (`field`, `id`, `retry_after_s`...).
    var extra: [(String, JSONValue)] = []
    /// Further response headers (`Retry-After`, `WWW-Authenticate`).
    var headers: HTTPFields = [:]

    var description: String { "\(status.code) \(slug): \(detail)" }

    /// The prefix of every problem `type` URI.
    static let typePrefix = "urn:spool:problem:"

    /// The problem document.
    var json: JSONValue {
        .object(
            [
                ("type", .string(Self.typePrefix + slug)),
                ("title", .string(title)),
                ("status", .int(status.code)),
                ("detail", .string(detail)),
            ] + extra)
    }

    /// The response carrying this problem.
    var response: Response {
        var fields = headers
        fields[.contentType] = "application/problem+json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: json.bytes)))
    }

    // MARK: The problems of the API

    /// 400: the body is not JSON.
    static func malformedJSON(_ error: JSONSyntaxError) -> Problem {
        Problem(
            status: .badRequest, slug: "malformed-json", title: "The request body is not valid JSON",
            detail: "the request body is not valid JSON: \(error)")
    }

    /// 400: one field of the request is missing or wrong; `field` names it (`jobs[2].priority`).
    static func invalidField(_ field: String, _ reason: String) -> Problem {
        Problem(
            status: .badRequest, slug: "invalid-field", title: "A field of the request is invalid",
            detail: "field '\(field)' \(reason)", extra: [("field", .string(field))]
        )
    }

    /// 400: a query parameter is wrong.
    static func invalidParameter(_ name: String, _ reason: String) -> Problem {
        Problem(
            status: .badRequest, slug: "invalid-parameter", title: "A query parameter is invalid",
            detail: "query parameter '\(name)' \(reason)", extra: [("parameter", .string(name))]
        )
    }

    /// 400: the request is wrong as a whole.
    /// A failure of the server's own (logged where it happened).
    static let internalError = Problem(
        status: .internalServerError, slug: "internal", title: "Internal error",
        detail: "the server failed to handle the request (see its log)"
    )

    /// A mounted server with no token, asked by another machine.
    static let remoteWithoutToken = Problem(
        status: .forbidden, slug: "remote-without-token", title: "Spool answers only to this machine until a token is set",
        detail:
            "no admin or read token is configured, so requests from other machines are refused; set SpoolServer.Configuration's adminToken (or readToken)"
    )

    static func badRequest(_ detail: String) -> Problem {
        Problem(status: .badRequest, slug: "bad-request", title: "The request is invalid", detail: detail)
    }

    /// 413: the body exceeds the configured limit.
    static func tooLarge(limit: Int) -> Problem {
        Problem(
            status: .contentTooLarge, slug: "body-too-large", title: "The request body is too large",
            detail: "the request body exceeds the limit of \(limit) bytes", extra: [("limit_bytes", .int(limit))]
        )
    }

    /// 401: no (valid) token.
    static func unauthorized(_ detail: String) -> Problem {
        var fields = HTTPFields()
        fields[.wwwAuthenticate] = "Bearer realm=\"spool\""
        return Problem(status: .unauthorized, slug: "unauthorized", title: "A valid token is required", detail: detail, headers: fields)
    }

    /// 403: the token may not do this.
    static func forbidden(_ detail: String) -> Problem {
        Problem(status: .forbidden, slug: "forbidden", title: "The token does not allow this", detail: detail)
    }

    /// 404: no job has this id.
    static func jobNotFound(_ id: String) -> Problem {
        Problem(
            status: .notFound, slug: "job-not-found", title: "No such job", detail: "no job has id \(id)",
            extra: [("id", .string(id))]
        )
    }

    static func batchNotFound(_ id: String) -> Problem {
        Problem(
            status: .notFound, slug: "batch-not-found", title: "No such batch", detail: "no batch has id \(id)",
            extra: [("id", .string(id))]
        )
    }

    /// 404: no route for this method and path.
    static func routeNotFound(method: HTTPRequest.Method, path: String) -> Problem {
        Problem(status: .notFound, slug: "not-found", title: "No such resource", detail: "no route for \(method.rawValue) \(path)")
    }

    /// 400: a path parameter (`{name}`, `{id}`) is wrong: its percent-encoding, or the value.
    static func invalidPathParameter(_ name: String, detail: String) -> Problem {
        Problem(
            status: .badRequest, slug: "invalid-path-parameter", title: "A path parameter is invalid", detail: detail,
            extra: [("parameter", .string(name))]
        )
    }

    /// 400: the bytes of the request are not valid HTTP/1 (a malformed chunk size, say).
    static func malformedHTTP(_ reason: String) -> Problem {
        Problem(
            status: .badRequest, slug: "malformed-request", title: "The request is not valid HTTP",
            detail: "the request could not be read: \(reason)"
        )
    }

    /// 405: the path exists but not with this method; `Allow` lists the ones it has.
    static func methodNotAllowed(method: HTTPRequest.Method, path: String, allowed: [HTTPRequest.Method]) -> Problem {
        let names = allowed.map(\.rawValue)
        var fields = HTTPFields()
        fields[.allow] = names.joined(separator: ", ")
        return Problem(
            status: .methodNotAllowed, slug: "method-not-allowed", title: "The resource does not allow this method",
            detail: "\(path) does not allow \(method.rawValue) (allowed: \(names.joined(separator: ", ")))",
            extra: [("allowed", .array(names.map { .string($0) }))], headers: fields
        )
    }

    /// 415: a body (or a `Content-Type`) that is not JSON, where only JSON is taken.
    static func unsupportedMediaType(_ contentType: String?) -> Problem {
        let got = contentType.map { "'\($0)'" } ?? "none"
        return Problem(
            status: .unsupportedMediaType, slug: "unsupported-media-type", title: "The request body must be JSON",
            detail:
                "the request body must be JSON, sent with 'Content-Type: application/json' (or application/*+json; parameters such as charset may follow); got Content-Type \(got)",
            extra: [("accepted", .array([.string("application/json"), .string("application/*+json")]))]
        )
    }

    /// 421: with no token configured, a `Host` that is not this machine's loopback name or address.
    static func misdirected(host: String) -> Problem {
        Problem(
            status: .misdirectedRequest, slug: "host-not-loopback", title: "This server answers loopback host names only",
            detail:
                "the Host '\(host)' is not localhost, 127.x.x.x or [::1]: with no token configured this server answers only requests addressed to this machine (configure SPOOL_ADMIN_TOKEN to serve other names)",
            extra: [("host", .string(host))]
        )
    }

    /// 403: with no token configured, a write sent from a web page of another site.
    static func crossSite(_ detail: String) -> Problem {
        Problem(status: .forbidden, slug: "cross-site", title: "Cross-site writes are refused", detail: detail)
    }

    /// 409: a job cannot make this move in its current state.
    static func conflict(_ detail: String, id: JobID, state: JobState) -> Problem {
        Problem(
            status: .conflict, slug: "state-conflict", title: "The job's state does not allow this", detail: detail,
            extra: [("id", .string(id.description)), ("state", .string(state.rawValue))]
        )
    }

    /// 503: a bounded queue is full; `Retry-After` says when to try again.
    static func queueFull(_ detail: String, retryAfter: Int, extra: [(String, JSONValue)] = []) -> Problem {
        var fields = HTTPFields()
        fields[.retryAfter] = String(retryAfter)
        return Problem(
            status: .serviceUnavailable, slug: "queue-full", title: "The queue is full", detail: detail,
            extra: [("retry_after_s", .int(retryAfter))] + extra, headers: fields
        )
    }

    /// The problem for an error thrown by the core or storage.
    static func from(_ error: SpoolError, retryAfter: Int) -> Problem {
        switch error.code {
        case .queueFull:
            return .queueFull(error.message, retryAfter: retryAfter)
        case .invalidArgument:
            return Problem(status: .badRequest, slug: "invalid-argument", title: "The request is invalid", detail: error.message)
        case .unprocessable:
            return Problem(
                status: .unprocessableContent, slug: "unprocessable", title: "The request names something that cannot take it",
                detail: error.message)
        case .jobNotFound:
            return .jobNotFound(error.job?.description ?? "?")
        case .illegalTransition:
            return Problem(
                status: .conflict, slug: "state-conflict", title: "The job's state does not allow this", detail: error.description)
        case .storageUnavailable, .shutdown:
            var fields = HTTPFields()
            fields[.retryAfter] = String(retryAfter)
            return Problem(
                status: .serviceUnavailable, slug: "unavailable", title: "The job store is unavailable", detail: error.description,
                headers: fields
            )
        default:
            return Problem(status: .internalServerError, slug: "internal", title: "Internal error", detail: error.description)
        }
    }
}

/// Turns every error of the routes below it into a problem response, and every failure
/// that is not an API problem into a logged 500. A body whose HTTP framing is broken (a
/// malformed chunk size) is the client's fault: 400, not logged.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let bodyLimit: Int
    let retryAfter: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return problem.response
        } catch let error as SpoolError {
            let problem = Problem.from(error, retryAfter: retryAfter)
            if problem.status == .internalServerError {
                context.logger.error("request failed", metadata: ["error": "\(error)"])
            }
            return problem.response
        } catch is NIOTooManyBytesError {
            return Problem.tooLarge(limit: bodyLimit).response
        } catch let error as HTTPParserError {
            // The body's framing is broken (a bad chunk size): the client's fault, and the
            // connection closes after this answer.
            return Problem.malformedHTTP("\(error)").response
        } catch let error as HTTPError {
            if error.status == .notFound {
                return Problem.routeNotFound(method: request.method, path: request.uri.path).response
            }
            return Problem(
                status: error.status, slug: "http-\(error.status.code)", title: error.status.reasonPhrase,
                detail: error.body ?? error.status.reasonPhrase
            ).response
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return Problem.internalError.response
        }
    }
}
