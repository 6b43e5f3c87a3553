import Foundation
import Spool

/// A parsed `redis://[[USER]:PASS@]HOST[:PORT][/DB][?namespace=NAME&pool_size=N]` URL.
struct RedisURL: Sendable, CustomStringConvertible {
    var endpoint: RedisEndpoint
    var namespace: String?
    var poolSize: Int?

    init(_ text: String) throws {
        guard let components = URLComponents(string: text), components.scheme == "redis" else {
            throw SpoolError(
                code: .invalidArgument,
                message: "'\(RedisURL.redacted(text))' is not a redis:// URL (expected redis://[:PASS@]HOST:PORT[/DB])")
        }
        guard let host = components.host, !host.isEmpty else {
            throw SpoolError(code: .invalidArgument, message: "the Redis URL '\(RedisURL.redacted(text))' names no host")
        }
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        var database = 0
        if !path.isEmpty {
            guard let number = Int(path), (0...100_000).contains(number) else {
                throw SpoolError(code: .invalidArgument, message: "the Redis URL's database must be a number, got '\(path)'")
            }
            database = number
        }
        let user = components.percentEncodedUser.flatMap { $0.isEmpty ? nil : ($0.removingPercentEncoding ?? $0) }
        let password = components.percentEncodedPassword.map { $0.removingPercentEncoding ?? $0 }
        endpoint = RedisEndpoint(host: host, port: components.port ?? 6379, user: user, password: password, database: database)
        for item in components.queryItems ?? [] {
            switch item.name {
            case "namespace":
                guard let value = item.value, RedisStorage.Configuration.isValidNamespace(value) else {
                    throw SpoolError(
                        code: .invalidArgument,
                        message: "namespace must be 1 to 64 letters, digits, '-', '_' or '.'; got '\(item.value ?? "")'")
                }
                namespace = value
            case "pool_size":
                guard let value = item.value.flatMap(Int.init), (1...1000).contains(value) else {
                    throw SpoolError(
                        code: .invalidArgument, message: "pool_size must be a number from 1 to 1000, got '\(item.value ?? "")'")
                }
                poolSize = value
            default:
                throw SpoolError(
                    code: .invalidArgument, message: "unknown option '\(item.name)' in the Redis URL (known: namespace, pool_size)")
            }
        }
    }

    var description: String {
        "redis://\(endpoint.user.map { "\($0)@" } ?? "")\(endpoint.host):\(endpoint.port)/\(endpoint.database)"
    }

    /// The URL with any password replaced by `***`, for messages.
    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? "redis://***"
    }
}
