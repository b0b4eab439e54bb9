import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Plain-socket HTTP for requests a WebSocket client library would not send (or whose refusal
/// it would not show): writes the request bytes, returns what the server answered.
enum RawHTTP {
    /// A WebSocket upgrade request for `/ws` with extra header lines.
    static func upgradeRequest(port: Int, headers: [String] = []) -> String {
        ([
            "GET /ws HTTP/1.1", "Host: 127.0.0.1:\(port)", "Connection: Upgrade", "Upgrade: websocket",
            "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ] + headers)
        .joined(separator: "\r\n") + "\r\n\r\n"
    }

    /// An open socket that has sent a request and read its response (an upgraded one keeps
    /// counting as an open connection until ``close()``).
    final class Connection: @unchecked Sendable {
        let response: String
        private let fd: Int32

        fileprivate init(response: String, fd: Int32) {
            self.response = response
            self.fd = fd
        }

        private let isClosed = Atomic<Bool>(false)

        /// Closes the socket, once: closing a descriptor twice could close one that the server
        /// under test has been given in the meantime.
        func close() {
            guard isClosed.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
            _ = Glibc.close(fd)
        }

        /// Sends one masked WebSocket text frame (as a client must), without reading anything.
        func sendText(_ text: String) {
            let payload = Array(text.utf8)
            var frame: [UInt8] = [0x81]
            if payload.count < 126 {
                frame.append(0x80 | UInt8(payload.count))
            } else {
                frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
            }
            frame += [0, 0, 0, 0]  // a zero mask key leaves the payload as it is
            frame += payload
            _ = frame.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count, 0) }
        }

        /// Sends bytes as they are (a frame built by the test, masked or not).
        func sendRaw(_ bytes: [UInt8]) {
            _ = bytes.withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        }

        /// Reads until the server closes the connection or `timeout` passes; returns the bytes
        /// that came, and whether the server closed.
        func readAll(timeout: Duration) async -> (bytes: [UInt8], closed: Bool) {
            await read(timeout: timeout) { _ in false }
        }

        /// Reads until `isEnough` holds for what came, the server closes, or `timeout` passes: a
        /// test that waits for a reply should not depend on how loaded the machine is.
        func read(
            timeout: Duration,
            until isEnough: @escaping @Sendable ([UInt8]) -> Bool
        ) async -> (
            bytes: [UInt8], closed: Bool
        ) {
            await withCheckedContinuation { continuation in
                Thread.detachNewThread { [self] in
                    let deadline = ContinuousClock.now + timeout
                    var wait = timeval(tv_sec: 0, tv_usec: 100_000)
                    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
                    var received: [UInt8] = []
                    var buffer = [UInt8](repeating: 0, count: 65536)
                    while ContinuousClock.now < deadline {
                        let count = recv(fd, &buffer, buffer.count, 0)
                        if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                            continuation.resume(returning: (received, true))
                            return
                        }
                        if count > 0 {
                            received += buffer[..<count]
                            if isEnough(received) { break }
                        }
                    }
                    continuation.resume(returning: (received, false))
                }
            }
        }

        /// Reads until the server closes the connection; returns how many bytes came, or nil when
        /// it was still open after `timeout`.
        func readUntilClosed(timeout: Duration) async -> Int? {
            let (bytes, closed) = await readAll(timeout: timeout)
            return closed ? bytes.count : nil
        }

        deinit { close() }
    }

    /// Sends `request` and returns the response head (and body, when it has a Content-Length).
    static func exchange(_ request: String, port: Int, from source: String? = nil) async throws -> String {
        let connection = try await open(request, port: port, from: source)
        connection.close()
        return connection.response
    }

    /// Sends `request`, reads the response, and leaves the socket open.
    /// `source` is a loopback address to connect from (127.0.0.2, …), so that one test can be
    /// several clients to a proxy.
    static func open(
        _ request: String,
        port: Int,
        from source: String? = nil,
        timeout: Duration = .seconds(10)
    ) async throws -> Connection {
        // The socket calls block, so they run on a thread of their own: blocking one of the few
        // threads of Swift's cooperative pool would stall the in-process server being tested.
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(
                    with: Result { try blockingOpen(request, port: port, from: source, timeout: timeout) }
                )
            }
        }
    }

    private static func blockingOpen(
        _ request: String,
        port: Int,
        from source: String?,
        timeout: Duration
    ) throws
        -> Connection
    {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        if let source, withAddress(source, port: 0, { bind(fd, $0, $1) }) != 0 {
            _ = Glibc.close(fd)
            throw TestFailure("cannot connect from \(source)")
        }
        guard withAddress("127.0.0.1", port: port, { connect(fd, $0, $1) }) == 0 else {
            _ = Glibc.close(fd)
            throw TestFailure("connect() failed")
        }
        var wait = timeval(
            tv_sec: Int(timeout.components.seconds),
            tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000)
        )
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        _ = request.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, 0) }
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !isComplete(received) {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer[..<count]
        }
        return Connection(response: String(decoding: received, as: UTF8.self), fd: fd)
    }

    /// Calls `body` (bind, connect) with the IPv4 socket address of `ip` and `port`.
    private static func withAddress(
        _ ip: String,
        port: Int,
        _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32
    ) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr(ip)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// Whether `bytes` hold a whole response head, and the body its Content-Length announces.
    private static func isComplete(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        let head = text[..<end.lowerBound].lowercased()
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        else { return true }
        return text[end.upperBound...].utf8.count >= length
    }

    /// The status code of the first response line.
    static func status(_ response: String) -> Int? {
        guard response.hasPrefix("HTTP/1.1 "), response.count >= 12 else { return nil }
        return Int(response.dropFirst(9).prefix(3))
    }
}
