import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import ParleyChat

/// Who may open a WebSocket, and how many. A limit of 0 disables it.
public struct AdmissionLimits: Sendable, Equatable {
    /// Open WebSocket connections in total; beyond it, upgrades get 503.
    public var maxConnections: Int
    /// Open connections from one client address; beyond it, 429.
    public var maxConnectionsPerAddress: Int
    /// New connections one address may open: a burst, then a steady rate per second; beyond, 429.
    public var connectBurstPerAddress: Int
    public var connectsPerSecondPerAddress: Double
    /// Origins (`https://chat.example.com`) allowed besides the page's own.
    public var allowedOrigins: Set<String>
    /// Reverse proxies (addresses, or networks such as `10.0.0.0/8`) whose `X-Forwarded-*`
    /// headers name the real client and the public host. Loopback is always trusted.
    public var trustedProxies: Set<String>

    public init(
        maxConnections: Int = 20_000,
        maxConnectionsPerAddress: Int = 32,
        connectBurstPerAddress: Int = 20,
        connectsPerSecondPerAddress: Double = 5,
        allowedOrigins: Set<String> = [],
        trustedProxies: Set<String> = []
    ) {
        self.maxConnections = maxConnections
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.connectBurstPerAddress = connectBurstPerAddress
        self.connectsPerSecondPerAddress = connectsPerSecondPerAddress
        self.allowedOrigins = allowedOrigins
        self.trustedProxies = trustedProxies
    }

    /// Whether `entry` can be given as a trusted proxy: an IP address or a network.
    public static func isValidProxy(_ entry: String) -> Bool {
        AddressSet.isValid(entry)
    }
}

/// Why an upgrade was refused, as an HTTP status, a sentence and any headers that tell the
/// client what to do (`Retry-After`, `Sec-WebSocket-Version`).
struct Refusal: Error, Equatable {
    var status: HTTPResponse.Status
    var reason: String
    var headers: HTTPFields = [:]

    init(status: HTTPResponse.Status, reason: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.reason = reason
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
    }
}

/// Counts open connections per client address and in total, and how fast each address opens
/// new ones. Checked before the upgrade (to answer 403/429/503) and again, authoritatively, when
/// a connection starts; released when it ends.
///
/// Behind a reverse proxy every connection comes from the proxy's address: for a trusted proxy
/// (loopback always, others by `--trusted-proxy`) the client is the address the proxy appended
/// to `X-Forwarded-For`, and the page's public origin is what it says in `X-Forwarded-Host` and
/// `X-Forwarded-Proto`.
actor ConnectionAdmission {
    let limits: AdmissionLimits
    private let proxies: AddressSet
    private let logger: Logger
    private var open: [String: Int] = [:]
    private var total = 0
    private var connectRates: [String: TokenBucket] = [:]
    private var warnedUntrustedProxies: Set<String> = []

    init(limits: AdmissionLimits, logger: Logger) {
        self.limits = limits
        self.proxies = AddressSet(limits.trustedProxies).adding(AddressSet.loopback)
        self.logger = logger
    }

    /// Whether `peer` is a proxy whose forwarding headers are believed.
    nonisolated func isTrustedProxy(_ peer: String?) -> Bool {
        peer.map(proxies.contains) ?? false
    }

    /// The address a request comes from: the peer, or for a trusted proxy the last address in
    /// `X-Forwarded-For` (the one that proxy appended).
    nonisolated func clientAddress(peer: String?, forwardedFor: String?) -> String {
        let peerAddress = peer ?? "unknown"
        guard isTrustedProxy(peer), let forwardedFor else { return peerAddress }
        let last = forwardedFor.split(separator: ",").last?.trimmingCharacters(in: .whitespaces) ?? ""
        return last.isEmpty ? peerAddress : last
    }

    /// Whether a request with this `Origin` may open a WebSocket to `host` (the public host and
    /// port, with `scheme` when a proxy said which one the browser used). Browsers send the
    /// page's origin (`http(s)://host[:port]`, or `null` from sandboxes and files), and those must
    /// be the page's own or on the allow-list: that is what stops another site's page from
    /// using a visitor's browser to chat (cross-site WebSocket hijacking). No `Origin`, or one
    /// no browser sends (some WebSocket libraries send `ws://host`), is a program, and allowed.
    nonisolated func originAllowed(_ origin: String?, host: String?, scheme: String? = nil) -> Bool {
        guard let origin else { return true }
        let lowered = origin.lowercased()
        let fromBrowser = lowered == "null" || lowered.hasPrefix("http://") || lowered.hasPrefix("https://")
        guard fromBrowser else { return true }
        if limits.allowedOrigins.contains(origin) { return true }
        guard let host = host?.lowercased() else { return false }
        let schemes = scheme.map { [$0.lowercased()] } ?? ["http", "https"]
        return schemes.contains { lowered == "\($0)://\(host)" }
    }

    /// Refuses what is over a limit, without counting anything (before the upgrade).
    func check(_ address: String) -> Refusal? {
        if limits.maxConnections > 0 && total >= limits.maxConnections {
            return Refusal(
                status: .serviceUnavailable,
                reason: "The server is full; try again later.",
                retryAfterSeconds: 10
            )
        }
        if limits.maxConnectionsPerAddress > 0 && open[address, default: 0] >= limits.maxConnectionsPerAddress {
            return Refusal(
                status: .tooManyRequests,
                reason: "Too many connections from your address (\(limits.maxConnectionsPerAddress)).",
                retryAfterSeconds: 10
            )
        }
        var bucket =
            connectRates[address]
            ?? TokenBucket(capacity: limits.connectBurstPerAddress, perSecond: limits.connectsPerSecondPerAddress)
        let wait = bucket.take()
        connectRates[address] = bucket
        if let wait {
            return Refusal(
                status: .tooManyRequests,
                reason: "Too many new connections from your address; slow down.",
                retryAfterSeconds: max(1, Int(wait.components.seconds) + 1)
            )
        }
        pruneRates()
        return nil
    }

    /// Counts a connection that is starting; false when it is over a limit after all.
    func acquire(_ address: String) -> Bool {
        if limits.maxConnections > 0 && total >= limits.maxConnections { return false }
        if limits.maxConnectionsPerAddress > 0 && open[address, default: 0] >= limits.maxConnectionsPerAddress {
            return false
        }
        open[address, default: 0] += 1
        total += 1
        return true
    }

    func release(_ address: String) {
        total -= 1
        let remaining = open[address, default: 1] - 1
        open[address] = remaining > 0 ? remaining : nil
    }

    // Past this many addresses the table is reset: forgetting rates is generous to clients
    // for a moment, and keeps memory bounded however many addresses show up.
    private func pruneRates() {
        if connectRates.count > 100_000 { connectRates.removeAll(keepingCapacity: true) }
    }
}

extension ConnectionAdmission {
    /// The client address of an upgrade request from `peer` (see
    /// ``clientAddress(peer:forwardedFor:)``).
    nonisolated func address(of request: HTTPRequest, peer: String?) -> String {
        clientAddress(peer: peer, forwardedFor: request.headerFields[.xForwardedFor])
    }

    /// Why an upgrade request from `peer` must be refused, if it must.
    func refusal(for request: HTTPRequest, peer: String?) -> Refusal? {
        originRefusal(for: request, peer: peer) ?? check(address(of: request, peer: peer))
    }

    /// Why a request from `peer` must be refused for its `Origin`, if it must: the check of a
    /// WebSocket upgrade, also made of every command `POST`ed to an event stream.
    func originRefusal(for request: HTTPRequest, peer: String?) -> Refusal? {
        let headers = request.headerFields
        var host = request.authority
        var scheme: String?
        if isTrustedProxy(peer) {
            host = headers[.xForwardedHost].flatMap(Self.firstValue) ?? host
            scheme = headers[.xForwardedProto].flatMap(Self.firstValue)
        } else if headers[.xForwardedFor] != nil, let peer {
            warnOnce(aboutUntrustedProxy: peer)
        }
        if !originAllowed(headers[.origin], host: host, scheme: scheme) {
            return Refusal(status: .forbidden, reason: "Cross-origin connections are not allowed.")
        }
        return nil
    }

    private static func firstValue(_ list: String) -> String? {
        let first = list.split(separator: ",").first?.trimmingCharacters(in: .whitespaces) ?? ""
        return first.isEmpty ? nil : first
    }

    /// Tells the operator, once per address (for the first few), that a proxy is not trusted:
    /// its clients then share one address's connection limits.
    private func warnOnce(aboutUntrustedProxy peer: String) {
        guard warnedUntrustedProxies.count < 16, warnedUntrustedProxies.insert(peer).inserted else { return }
        logger.warning(
            """
            Requests from \(peer) carry X-Forwarded-For, but that address is not a trusted proxy: \
            every client behind it shares its connection limits. If it is your reverse proxy, \
            start Parley with --trusted-proxy \(peer).
            """
        )
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let xForwardedHost = HTTPField.Name("X-Forwarded-Host")!
    static let xForwardedProto = HTTPField.Name("X-Forwarded-Proto")!
}

extension Refusal {
    /// Writes this refusal as the response to an upgrade request, and closes the connection.
    func respond(on http: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>) async throws {
        var headers = self.headers
        headers[.contentType] = "text/plain; charset=utf-8"
        headers[.contentLength] = String(reason.utf8.count + 1)
        headers[.connection] = "close"
        let head = HTTPResponse(status: status, headerFields: headers)
        try await http.executeThenClose { _, outbound in
            try await outbound.write(
                contentsOf: [.head(head), .body(ByteBuffer(string: reason + "\n")), .end(nil)]
            )
        }
    }
}
