#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A set of IP networks (`192.0.2.7`, `10.0.0.0/8`, `::1`, `fd00::/8`), for telling whether a
/// peer is one of the reverse proxies whose forwarding headers are believed.
struct AddressSet: Sendable {
    private struct Network: Sendable {
        var bytes: [UInt8]  // 4 or 16
        var prefixLength: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var remaining = prefixLength
            for index in bytes.indices where remaining > 0 {
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if address[index] & mask != bytes[index] & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    private var networks: [Network] = []

    /// 127.0.0.0/8 and ::1: a process on the same machine, such as a local nginx.
    static let loopback = AddressSet(["127.0.0.0/8", "::1"])

    /// The networks of `entries`; entries that are not addresses or networks are left out
    /// (``isValid(_:)`` tells them apart first).
    init(_ entries: some Sequence<String>) {
        networks = entries.compactMap(Self.network)
    }

    func adding(_ other: AddressSet) -> AddressSet {
        var union = self
        union.networks += other.networks
        return union
    }

    func contains(_ address: String) -> Bool {
        guard let bytes = Self.bytes(of: address) else { return false }
        return networks.contains { $0.contains(bytes) }
    }

    /// Whether `entry` is an IPv4 or IPv6 address, optionally with a prefix length.
    static func isValid(_ entry: String) -> Bool {
        network(entry) != nil
    }

    private static func network(_ entry: String) -> Network? {
        let parts = entry.split(separator: "/", maxSplits: 1).map(String.init)
        guard let address = parts.first, let bytes = bytes(of: address) else { return nil }
        let bits = bytes.count * 8
        guard parts.count == 2 else { return Network(bytes: bytes, prefixLength: bits) }
        guard let length = Int(parts[1]), (0...bits).contains(length) else { return nil }
        return Network(bytes: bytes, prefixLength: length)
    }

    /// The address's bytes; an IPv4-mapped IPv6 address (`::ffff:192.0.2.7`) as IPv4.
    private static func bytes(of address: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return Array(bytes[12...])
        }
        return bytes
    }
}
