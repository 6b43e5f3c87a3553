import AsyncHTTPClient
import Foundation
import Spool

/// Which hosts the `http` job kind may send to: a guard against a job (enqueued by anyone who
/// may enqueue) that points a webhook at an internal address, such as a cloud metadata service
/// or an admin port on the worker's network.
///
/// ```swift
/// HTTPJob.register(in: registry, policy: try HTTPJobPolicy(allowedHosts: ["hooks.example.com", "*.partner.net"]))
/// ```
/// - ``any`` (the default) sends anywhere, redirects followed.
/// - With an allow-list, a URL's host must equal an entry (case-insensitive) or, for an entry
///   `*.example.com`, end in `.example.com`. A job naming another host is refused at enqueue
///   (by ``HTTPJob/validate(policy:)``) and, should one be stored anyway, is `dead` at once when
///   it runs. Redirects are not followed, since one could lead anywhere: a 3xx answer is final.
/// - An empty allow-list turns the kind off: every `http` job is refused.
///
/// The check is on the URL's host name as written, not on the addresses it resolves to: allow
/// names whose DNS you control, not names a job's author could point at an internal address.
public struct HTTPJobPolicy: Sendable, Equatable {
    /// The hosts allowed (lower-cased); nil: any host.
    public let allowedHosts: [String]?

    /// Any host, redirects followed: the default.
    public static let any = HTTPJobPolicy(checked: nil)

    /// No host: the `http` kind refuses every job.
    public static let none = HTTPJobPolicy(checked: [])

    /// An allow-list of host names, `*.suffix` patterns or IP literals (IPv6 in brackets or
    /// not).
    /// - Throws: ``PermanentFailure`` naming an entry that is not a host name or pattern.
    public init(allowedHosts: [String]) throws {
        self.init(checked: try allowedHosts.map(Self.checkedEntry))
    }

    private init(checked: [String]?) {
        allowedHosts = checked
    }

    /// True when a request to `host` is allowed.
    public func allows(host: String) -> Bool {
        guard let allowedHosts else { return true }
        let host = Self.bare(host.lowercased())
        return allowedHosts.contains { entry in
            if entry.hasPrefix("*.") { return host.hasSuffix(entry.dropFirst()) && host.count > entry.count - 1 }
            return host == entry
        }
    }

    /// True when redirects may be followed (only without an allow-list).
    public var followsRedirects: Bool { allowedHosts == nil }

    private static func bare(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    private static func checkedEntry(_ entry: String) throws -> String {
        let lowered = bare(entry.trimmingCharacters(in: .whitespaces).lowercased())
        let name = lowered.hasPrefix("*.") ? String(lowered.dropFirst(2)) : lowered
        let allowed = name.utf8.allSatisfy {
            ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
                || $0 == UInt8(ascii: ":")
        }
        guard !name.isEmpty, name.utf8.count <= 253, allowed, !name.hasPrefix("."), !name.hasSuffix(".") else {
            throw PermanentFailure("http: '\(entry)' is not a host name, *.suffix pattern or IP address")
        }
        return lowered
    }

    /// The client a policy's deliveries go through: the shared one, or with an allow-list one
    /// that follows no redirect. It lives as long as the process (a static), so it is never
    /// shut down and never deinitialised.
    var client: HTTPClient {
        followsRedirects ? .shared : Self.noRedirects
    }

    private static let noRedirects = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow)
    )
}
