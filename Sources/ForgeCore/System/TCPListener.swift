import CGlibcLinux
import Glibc

/// A listening socket for `--metrics`: `127.0.0.1:9100`, `[::1]:9100` (any IPv4 or IPv6
/// address) or `unix:PATH`.
enum ListenAddress: Equatable, Sendable {
  case inet(address: String, port: Int)
  case inet6(address: String, port: Int)
  case unix(path: String)

  static func parse(_ text: String) -> ListenAddress? {
    if text.hasPrefix("unix:") {
      let path = String(text.dropFirst(5))
      return path.isEmpty ? nil : .unix(path: path)
    }
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
      port > 0, port < 65536
    else { return nil }
    // Addresses, not host names: nothing is resolved (`localhost` would be a DNS question).
    let host = String(text[..<colon])
    var scratch = in6_addr()
    if host.hasPrefix("[") && host.hasSuffix("]") {
      let inner = String(host.dropFirst().dropLast())
      return inet_pton(AF_INET6, inner, &scratch) == 1 ? .inet6(address: inner, port: port) : nil
    }
    return inet_pton(AF_INET, host, &scratch) == 1 ? .inet(address: host, port: port) : nil
  }

  var description: String {
    switch self {
    case .inet(let address, let port): return "\(address):\(port)"
    case .inet6(let address, let port): return "[\(address)]:\(port)"
    case .unix(let path): return "unix:\(path)"
    }
  }

  /// Binds and listens, non-blocking and close-on-exec.
  func listen() throws(SystemError) -> FileDescriptor {
    let fd: FileDescriptor
    switch self {
    case .unix(let path):
      // A socket left by a forge that died is replaced; one that something answers on is not.
      if UnixSocket.isSocket(path) {
        if UnixSocket.answers(path) { throw SystemError(operation: "bind", errno: EADDRINUSE, path: path) }
        UnixSocket.remove(path)
      }
      return try UnixSocket.listen(path)
    case .inet(let address, let port): fd = try Self.bind(family: AF_INET, address: address, port: port)
    case .inet6(let address, let port): fd = try Self.bind(family: AF_INET6, address: address, port: port)
    }
    _ = try retryingEINTR("listen") { Glibc.listen(fd.raw, 64) }
    return fd
  }

  /// A TCP socket of `family` (non-blocking, close-on-exec, SO_REUSEADDR) bound to
  /// `address`:`port`; with `dualStack`, an IPv6 socket that takes IPv4 too.
  static func bind(family: Int32, address: String, port: Int, dualStack: Bool = false) throws(SystemError)
    -> FileDescriptor
  {
    let fd = try socket(family)
    let named = family == AF_INET6 ? "[\(address)]:\(port)" : "\(address):\(port)"
    if family == AF_INET6 {
      if dualStack {
        var off: Int32 = 0
        _ = setsockopt(fd.raw, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<Int32>.size))
      }
      var socketAddress = sockaddr_in6()
      socketAddress.sin6_family = sa_family_t(AF_INET6)
      socketAddress.sin6_port = in_port_t(UInt16(port).bigEndian)
      guard inet_pton(AF_INET6, address, &socketAddress.sin6_addr) == 1 else {
        throw SystemError(operation: "address", errno: EINVAL, path: address)
      }
      _ = try retryingEINTR("bind", path: named) { cglibc_bind_inet6(fd.raw, &socketAddress) }
    } else {
      var socketAddress = sockaddr_in()
      socketAddress.sin_family = sa_family_t(AF_INET)
      socketAddress.sin_port = in_port_t(UInt16(port).bigEndian)
      guard inet_pton(AF_INET, address, &socketAddress.sin_addr) == 1 else {
        throw SystemError(operation: "address", errno: EINVAL, path: address)
      }
      _ = try retryingEINTR("bind", path: named) { cglibc_bind_inet(fd.raw, &socketAddress) }
    }
    return fd
  }

  private static func socket(_ family: Int32) throws(SystemError) -> FileDescriptor {
    let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
    let raw = try retryingEINTR("socket") { Glibc.socket(family, type, 0) }
    var on: Int32 = 1
    _ = setsockopt(raw, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
    return FileDescriptor(raw)
  }
}
