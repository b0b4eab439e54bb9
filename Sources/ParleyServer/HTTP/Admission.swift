import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
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
    /// Addresses of reverse proxies whose `X-Forwarded-For` names the real client.
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
}

/// Why an upgrade was refused, as an HTTP status and a sentence.
struct Refusal: Error, Equatable {
    var status: HTTPResponse.Status
    var reason: String
    var retryAfterSeconds: Int?
}

/// Counts open connections per client address and in total, and how fast each address opens
/// new ones. Checked before the upgrade (to answer 403/429/503) and again, authoritatively, when
/// a connection starts; released when it ends.
actor ConnectionAdmission {
    let limits: AdmissionLimits
    private var open: [String: Int] = [:]
    private var total = 0
    private var connectRates: [String: TokenBucket] = [:]

    init(limits: AdmissionLimits) {
        self.limits = limits
    }

    /// The address a request comes from: the peer, or for a trusted proxy the last address in
    /// `X-Forwarded-For` (the one that proxy appended).
    nonisolated func clientAddress(peer: String?, forwardedFor: String?) -> String {
        let peer = peer ?? "unknown"
        guard limits.trustedProxies.contains(peer), let forwardedFor else { return peer }
        let last = forwardedFor.split(separator: ",").last?.trimmingCharacters(in: .whitespaces) ?? ""
        return last.isEmpty ? peer : last
    }

    /// Whether a request with this `Origin` may open a WebSocket to `host`. Browsers send the
    /// page's origin (`http(s)://host[:port]`, or `null` from sandboxes and files), and those must
    /// be the page's own or on the allow-list: that is what stops another site's page from
    /// using a visitor's browser to chat (cross-site WebSocket hijacking). No `Origin`, or one
    /// no browser sends (some WebSocket libraries send `ws://host`), is a program, and allowed.
    nonisolated func originAllowed(_ origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        let lowered = origin.lowercased()
        let fromBrowser = lowered == "null" || lowered.hasPrefix("http://") || lowered.hasPrefix("https://")
        guard fromBrowser else { return true }
        if limits.allowedOrigins.contains(origin) { return true }
        guard let host = host?.lowercased() else { return false }
        return lowered == "http://\(host)" || lowered == "https://\(host)"
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
    /// The client address of a request (see ``clientAddress(peer:forwardedFor:)``).
    nonisolated func address(of request: Request, context: some RemoteAddressRequestContext) -> String {
        clientAddress(peer: context.remoteAddress?.ipAddress, forwardedFor: request.headers[.xForwardedFor])
    }

    /// Why an upgrade request must be refused, if it must.
    func refusal(for request: Request, context: some RemoteAddressRequestContext) -> Refusal? {
        if !originAllowed(request.headers[.origin], host: request.head.authority) {
            return Refusal(status: .forbidden, reason: "Cross-origin WebSocket connections are not allowed.")
        }
        return check(address(of: request, context: context))
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}

extension Refusal {
    /// Writes this refusal as the HTTP response to an upgrade request. (hummingbird-websocket then
    /// writes its own fixed 400 and closes; a client has stopped reading by then, since this
    /// response says `Connection: close`. Closing the channel here instead makes the library log
    /// an error for every refusal.)
    func respond(on channel: any Channel) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(reason.utf8.count + 1))
        headers.add(name: "Connection", value: "close")
        if let retryAfterSeconds { headers.add(name: "Retry-After", value: String(retryAfterSeconds)) }
        let head = HTTPResponseHead(
            version: .http1_1,
            status: .init(statusCode: status.code, reasonPhrase: status.reasonPhrase),
            headers: headers
        )
        channel.write(HTTPServerResponsePart.head(head), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: reason + "\n"))), promise: nil)
        try await channel.writeAndFlush(HTTPServerResponsePart.end(nil))
    }
}
