import CGlibcLinux
import Glibc

/// Whether something listens on a TCP port (IPv4 or IPv6, any address), read from
/// /proc/net/tcp and /proc/net/tcp6: no connection is made, so the app never sees a probe.
func isListening(onPort port: Int) -> Bool {
  listeningSockets()[port] != nil
}

/// Whether something may hold `port`: binding it on the IPv6 wildcard that also takes IPv4
/// fails. One bind, no table walk: reading /proc/net/tcp walks the kernel's whole connection
/// table (about 4 ms per file on a busy host), too slow for every start. A bind that fails
/// for any reason (a client socket on the port, a port below 1024) says "maybe".
func portMayBeInUse(_ port: Int) -> Bool {
  do {
    _ = try ListenAddress.bind(family: AF_INET6, address: "::", port: port, dualStack: true)
    return false
  } catch  where error.operation == "socket" {
    // No IPv6 here: the IPv4 wildcard alone.
    return (try? ListenAddress.bind(family: AF_INET, address: "0.0.0.0", port: port)) == nil
  } catch {
    return true
  }
}

/// Every listening TCP port (IPv4 and IPv6) with its socket's inode, from /proc/net.
func listeningSockets() -> [Int: UInt64] {
  var found: [Int: UInt64] = [:]
  for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
    guard let bytes = try? Files.read(table) else { continue }
    for line in bytes.split(separator: 0x0A).dropFirst() {
      let fields = line.split(separator: 0x20)
      guard fields.count > 9, fields[3].elementsEqual("0A".utf8),
        let colon = fields[1].lastIndex(of: UInt8(ascii: ":")),
        let port = Int(String(decoding: fields[1][(colon + 1)...], as: UTF8.self), radix: 16),
        let inode = UInt64(String(decoding: fields[9], as: UTF8.self))
      else { continue }
      found[port] = inode
    }
  }
  return found
}

/// The process holding a socket (by inode), where /proc lets forge see it: (pid, command).
func socketHolder(inode: UInt64) -> (pid: Int32, command: String)? {
  let wanted = "socket:[\(inode)]"
  for pid in Files.processIDs() {
    for descriptor in Files.entries(in: "/proc/\(pid)/fd") ?? [] {
      var target = [CChar](repeating: 0, count: 64)
      let n = readlink("/proc/\(pid)/fd/\(descriptor.name)", &target, target.count - 1)
      guard n > 0, String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == wanted else {
        continue
      }
      let comm = (try? Files.read("/proc/\(pid)/comm")) ?? Array("?".utf8)
      let command = String(decoding: comm.filter { byte in byte != 0x0A }, as: UTF8.self)
      return (pid, command)
    }
  }
  return nil
}

/// `GET http://127.0.0.1:PORT/PATH` with `timeoutMilliseconds` in all: the status code, or a
/// reason ("connection refused", "timed out").
func httpStatus(port: Int, path: String, timeoutMilliseconds: Int32) -> Result<Int, SystemError> {
  let deadline = Clock.now() &+ UInt64(timeoutMilliseconds) * 1_000_000
  let raw = socket(
    AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
  guard raw >= 0 else { return .failure(SystemError(operation: "socket", errno: cglibc_errno())) }
  let fd = FileDescriptor(raw)
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = in_port_t(UInt16(port).bigEndian)
  address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
  if cglibc_connect_inet(raw, &address) != 0 && cglibc_errno() != EINPROGRESS {
    return .failure(SystemError(operation: "connect", errno: cglibc_errno()))
  }
  func wait(_ events: Int16) -> Bool {
    let now = Clock.now()
    guard now < deadline else { return false }
    var entry = pollfd(fd: raw, events: events, revents: 0)
    return poll(&entry, 1, Int32((deadline - now) / 1_000_000) + 1) == 1
  }
  guard wait(Int16(POLLOUT)) else { return .failure(SystemError(operation: "connect", errno: ETIMEDOUT)) }
  var error: Int32 = 0
  var length = socklen_t(MemoryLayout<Int32>.size)
  _ = getsockopt(raw, SOL_SOCKET, SO_ERROR, &error, &length)
  if error != 0 { return .failure(SystemError(operation: "connect", errno: error)) }
  let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
  guard (try? fd.write(array: request)) == request.count else {
    return .failure(SystemError(operation: "send", errno: EIO))
  }
  var response: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 512)
  while !response.contains(0x0A) && response.count < 4096 {
    guard wait(Int16(POLLIN)) else { return .failure(SystemError(operation: "read", errno: ETIMEDOUT)) }
    guard let n = try? fd.read(into: &chunk), n > 0 else { break }
    response += chunk[0..<n]
  }
  // "HTTP/1.1 200 OK"
  let words = response.prefix { $0 != 0x0D && $0 != 0x0A }.split(separator: 0x20)
  guard words.count >= 2, let code = Int(String(decoding: words[1], as: UTF8.self)) else {
    return .failure(SystemError(operation: "read", errno: EPROTO))
  }
  return .success(code)
}
