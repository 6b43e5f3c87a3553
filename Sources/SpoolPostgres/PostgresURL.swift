import Foundation
import PostgresNIO
import Spool

/// A parsed `postgres://USER:PASS@HOST:PORT/DB[?OPTIONS]` URL. Options: `sslmode=disable|prefer|require`
/// (default `prefer`), and the driver's own `schema=NAME`, `notifications=on|off`,
/// `prepared_statements=on|off` and `pool_size=N`, which override the configuration's.
struct PostgresURL: CustomStringConvertible, Sendable {
    enum TLSMode: String, Sendable { case disable, prefer, require }

    /// The query options this URL understands.
    static let optionNames = ["sslmode", "schema", "notifications", "prepared_statements", "pool_size"]

    var username: String
    var password: String?
    var host: String
    var port: Int
    var database: String
    var tls: TLSMode
    /// `schema=NAME`, when given.
    var schema: String?
    /// `notifications=on|off`, when given.
    var notifications: Bool?
    /// `prepared_statements=on|off`, when given.
    var preparedStatements: Bool?
    /// `pool_size=N`, when given.
    var poolSize: Int?

    init(_ text: String) throws {
        func invalid(_ why: String) -> SpoolError {
            // Never echo the password back.
            SpoolError(
                code: .invalidArgument,
                message: "'\(Self.redacted(text))' is not a PostgreSQL URL (postgres://USER:PASS@HOST:PORT/DB): \(why)")
        }
        guard let components = URLComponents(string: text) else { throw invalid("it does not parse as a URL") }
        guard let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql" else {
            throw invalid("the scheme must be postgres:// or postgresql://")
        }
        guard let host = components.host, !host.isEmpty else { throw invalid("it names no host") }
        guard let user = components.user, !user.isEmpty else { throw invalid("it names no user") }
        self.username = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.host = host
        self.port = components.port ?? 5432
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        self.database = path.isEmpty ? username : (path.removingPercentEncoding ?? path)
        let items = components.queryItems ?? []
        for item in items where !Self.optionNames.contains(item.name) {
            throw invalid("unknown option '\(item.name)' (known: \(Self.optionNames.joined(separator: ", ")))")
        }
        func option(_ name: String) -> String? { items.last { $0.name == name }.map { $0.value ?? "" } }
        let mode = option("sslmode") ?? "prefer"
        guard let tls = TLSMode(rawValue: mode) else { throw invalid("sslmode must be disable, prefer or require (got '\(mode)')") }
        self.tls = tls
        self.schema = option("schema")
        func onOff(_ name: String) throws -> Bool? {
            switch option(name) {
            case nil: return nil
            case "on", "true", "1": return true
            case "off", "false", "0": return false
            case let other?: throw invalid("\(name) must be on or off (got '\(other)')")
            }
        }
        notifications = try onOff("notifications")
        preparedStatements = try onOff("prepared_statements")
        if let text = option("pool_size") {
            guard let size = Int(text), (1...1_000).contains(size) else {
                throw invalid("pool_size must be a whole number from 1 to 1000 (got '\(text)')")
            }
            poolSize = size
        }
    }

    /// `configuration` with the URL's own options applied.
    func applied(to configuration: PostgresStorage.Configuration) -> PostgresStorage.Configuration {
        var configuration = configuration
        if let schema { configuration.schema = schema }
        if let notifications { configuration.notifications = notifications }
        if let preparedStatements { configuration.preparedStatements = preparedStatements }
        if let poolSize { configuration.poolSize = poolSize }
        return configuration
    }

    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? "postgres://…"
    }

    var description: String { "\(username)@\(host):\(port)/\(database)" }

    var clientConfiguration: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS
        switch self.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        return PostgresClient.Configuration(host: host, port: port, username: username, password: password, database: database, tls: tls)
    }

    /// - Throws: ``SpoolError`` `invalidArgument` when the TLS context cannot be made.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch self.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try .init(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try .init(configuration: .makeClientConfiguration()))
            }
        } catch {
            throw SpoolError(
                code: .invalidArgument, message: "PostgreSQL \(description): cannot set up TLS (sslmode=\(self.tls.rawValue)): \(error)")
        }
        return PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
    }
}
