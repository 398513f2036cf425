import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

// MARK: - HTTP, as a scraper speaks it

/// A reply of forge's metrics server; status 0 and no bytes when it closed without answering.
struct HTTPReply {
  let raw: [UInt8]
  let status: Int
  /// Header names lowercased.
  let headers: [String: String]
  let body: String

  init(_ raw: [UInt8]) {
    self.raw = raw
    let parts = String(decoding: raw, as: UTF8.self).components(separatedBy: "\r\n\r\n")
    let lines = parts[0].components(separatedBy: "\r\n")
    body = parts.dropFirst().joined(separator: "\r\n\r\n")
    status = lines[0].split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    let fields = lines.dropFirst().compactMap { line in
      line.firstIndex(of: ":").map {
        (line[..<$0].lowercased(), line[line.index(after: $0)...].trimmingCharacters(in: .whitespaces))
      }
    }
    headers = Dictionary(fields, uniquingKeysWith: { $1 })
  }
}

/// Plain TCP (and Unix-socket) HTTP/1.1 against forge's metrics server.
enum MetricsHTTP {
  /// A random port from 30000 on that nothing uses on 127.0.0.1.
  static func freePort() throws -> Int {
    guard let port = (0..<100).lazy.map({ _ in Int.random(in: 30000..<60000) }).first(where: Readiness.isFree) else {
      throw HarnessError("no free port found")
    }
    return port
  }

  /// A TCP socket on which `call` with loopback:`port` (`[::1]` with `ipv6`) returned 0, or nil.
  private static func socket(_ port: Int, ipv6: Bool, _ call: (Int32, __CONST_SOCKADDR_ARG, socklen_t) -> Int32)
    -> Int32?
  {
    let fd = Glibc.socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var v4 = sockaddr_in()
    var v6 = sockaddr_in6()
    v4.sin_family = sa_family_t(AF_INET)
    v4.sin_port = in_port_t(UInt16(port).bigEndian)
    v4.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    v6.sin6_family = sa_family_t(AF_INET6)
    v6.sin6_port = in_port_t(UInt16(port).bigEndian)
    v6.sin6_addr = in6addr_loopback
    let result =
      ipv6
      ? withUnsafePointer(to: &v6) {
        call(fd, __CONST_SOCKADDR_ARG(__sockaddr_in6__: $0), socklen_t(MemoryLayout<sockaddr_in6>.size))
      }
      : withUnsafePointer(to: &v4) {
        call(fd, __CONST_SOCKADDR_ARG(__sockaddr_in__: $0), socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    guard fd >= 0, result == 0 else {
      if fd >= 0 { close(fd) }
      return nil
    }
    return fd
  }

  static func connect(_ port: Int, ipv6: Bool = false) throws -> Int32 {
    guard let fd = socket(port, ipv6: ipv6, { Glibc.connect($0, $1, $2) }) else {
      throw HarnessError("connect to port \(port): \(String(cString: strerror(errno)))")
    }
    return fd
  }

  /// A listener on 127.0.0.1:`port` that never accepts: the port is taken.
  static func listen(_ port: Int) throws -> Int32 {
    guard let fd = socket(port, ipv6: false, { bind($0, $1, $2) == 0 ? Glibc.listen($0, 1) : -1 }) else {
      throw HarnessError("cannot listen on \(port): \(String(cString: strerror(errno)))")
    }
    return fd
  }

  static func ipv6LoopbackWorks() -> Bool {
    socket(0, ipv6: true, { bind($0, $1, $2) }).map { close($0) } != nil
  }

  /// `GET /metrics` whose head (request line, one padded field, blank line) is `size` bytes.
  static func head(size: Int) -> String {
    let start = "GET /metrics HTTP/1.1\r\nX-Padding: "
    return start + String(repeating: "a", count: size - start.utf8.count - 4) + "\r\n\r\n"
  }

  static func get(_ path: String, port: Int) throws -> HTTPReply {
    try exchange("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n", port: port)
  }

  static func exchange(_ request: String, port: Int, ipv6: Bool = false, timeout: TimeInterval = 5) throws -> HTTPReply
  {
    try exchange(try connect(port, ipv6: ipv6), request, timeout: timeout)
  }

  /// `request` sent in `pieces` writes of about equal size, the connection left open for
  /// forge to answer.
  static func exchange(_ request: String, pieces: Int, port: Int) throws -> HTTPReply {
    let fd = try connect(port)
    let bytes = Array(request.utf8)
    let size = (bytes.count + pieces - 1) / pieces
    for start in stride(from: 0, to: bytes.count - size, by: size) {
      _ = bytes[start..<start + size].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }
    let last = stride(from: 0, to: bytes.count, by: size).reversed().first ?? 0
    return try exchange(fd, String(decoding: bytes[last...], as: UTF8.self), timeout: 5)
  }

  /// Sends `request` on `fd` (errors ignored: forge may close early), reads until forge closes
  /// the connection, and closes `fd`.
  static func exchange(_ fd: Int32, _ request: String, timeout: TimeInterval) throws -> HTTPReply {
    defer { close(fd) }
    _ = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    let deadline = Date(timeIntervalSinceNow: timeout)
    while true {
      guard RawSocket.waitReadable(fd, timeout: max(0, deadline.timeIntervalSinceNow)) else {
        throw HarnessError("no end of the reply to \(request.prefix(40).debugDescription) within \(timeout) s")
      }
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { return HTTPReply(received) }  // closed (or reset after a refusal)
      received += buffer[0..<n]
    }
  }
}
