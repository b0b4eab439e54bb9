import Foundation
public import PostgresNIO

/// A `postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?sslmode=…]` URL (also `postgresql://`), as
/// operators write it after `--db`, turned into a client configuration.
public struct PostgresDatabaseURL: Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int
    public let username: String
    public let password: String?
    public let database: String
    /// `disable` unless the URL asks for TLS with `sslmode=require` (or `prefer`).
    public let tls: Bool

    /// Whether `text` names a PostgreSQL database rather than a SQLite file.
    public static func isPostgres(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// Why a URL was refused, in a sentence for the operator.
    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(_ text: String) throws(Invalid) {
        guard Self.isPostgres(text), let components = URLComponents(string: text) else {
            throw Invalid(description: "not a PostgreSQL URL: write postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME")
        }
        guard let host = components.host, !host.isEmpty else {
            throw Invalid(description: "the PostgreSQL URL names no host: postgres://USER@HOST/DBNAME")
        }
        guard let user = components.user, !user.isEmpty else {
            throw Invalid(description: "the PostgreSQL URL names no user: postgres://USER@HOST/DBNAME")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else {
            throw Invalid(description: "the PostgreSQL URL names no database: postgres://USER@HOST/DBNAME")
        }
        self.host = host
        self.port = components.port ?? 5432
        self.username = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
        let sslmode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        self.tls = ["require", "prefer", "verify-ca", "verify-full"].contains(sslmode)
    }

    /// The URL without its password, for logs.
    public var description: String { "postgres://\(username)@\(host):\(port)/\(database)" }

    /// How long opening one connection may take: a database that is down should be reported
    /// in seconds, not after the driver's retries.
    public static let connectTimeout: Duration = .seconds(5)

    /// A pool configuration for this database.
    public var clientConfiguration: PostgresClient.Configuration { clientConfiguration(applicationName: nil) }

    /// A pool configuration for this database whose connections show as `applicationName` in
    /// `pg_stat_activity`.
    public func clientConfiguration(applicationName: String?) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: tls ? .require(.makeClientConfiguration()) : .disable
        )
        configuration.options.connectTimeout = Self.connectTimeout
        if let applicationName {
            configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        }
        return configuration
    }

    /// The configuration of one connection outside the pool (a node's listening connection).
    public func connectionConfiguration(applicationName: String? = nil) throws -> PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(
            host: host,
            port: port,
            username: username,
            password: password,
            database: database,
            tls: tls ? .require(try NIOSSLContext(configuration: .makeClientConfiguration())) : .disable
        )
        configuration.options.connectTimeout = .nanoseconds(
            Int64(Self.connectTimeout.components.seconds) * 1_000_000_000
        )
        if let applicationName {
            configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        }
        return configuration
    }
}
