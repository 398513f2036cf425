import CGlibcLinux
import Glibc

/// The datagram socket behind `NOTIFY_SOCKET` (systemd's sd_notify protocol). SO_PASSCRED
/// gives each message its sender's pid, so forge can tell which instance sent it and drop
/// messages from anyone else.
final class NotifySocket {
  let path: String
  let fd: FileDescriptor
  private var removed = false

  struct Message {
    let pid: Int32
    let fields: [(key: String, value: String)]
  }

  /// Binds at `path` (mode 0600), replacing a socket file left there.
  init(path: String) throws(SystemError) {
    self.path = path
    let raw = try retryingEINTR("socket") {
      socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
    }
    fd = FileDescriptor(raw)
    guard path.utf8.count < 108 else {
      throw SystemError(operation: "notify socket name too long", errno: ENAMETOOLONG, path: path)
    }
    if UnixSocket.isSocket(path) { UnixSocket.remove(path) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
      let bytes = Array(path.utf8)
      for (i, byte) in bytes.enumerated() { buffer[i] = byte }
      buffer[bytes.count] = 0
    }
    let previous = umask(0o177)
    let bound = cglibc_bind_unix(raw, &address)
    let code = cglibc_errno()
    umask(previous)
    if bound != 0 { throw SystemError(operation: "bind", errno: code, path: path) }
    var on: Int32 = 1
    _ = setsockopt(raw, SOL_SOCKET, SO_PASSCRED, &on, socklen_t(MemoryLayout<Int32>.size))
  }

  /// The next message, or nil when none is waiting. `READY=1\nSTATUS=…` becomes its fields.
  func receive() -> Message? {
    var buffer = [UInt8](repeating: 0, count: 4096)
    var pid: Int32 = 0
    let n = buffer.withUnsafeMutableBytes { raw in cglibc_recv_with_pid(fd.raw, raw.baseAddress, UInt(raw.count), &pid)
    }
    guard n >= 0 else { return nil }
    let text = buffer[0..<min(Int(n), buffer.count)]
    var fields: [(String, String)] = []
    for line in text.split(separator: 0x0A) {
      guard let eq = line.firstIndex(of: 0x3D) else { continue }
      fields.append(
        (String(decoding: line[..<eq], as: UTF8.self), String(decoding: line[(eq + 1)...], as: UTF8.self)))
    }
    return Message(pid: pid, fields: fields)
  }

  func close() {
    guard !removed else { return }
    removed = true
    fd.close()
    UnixSocket.remove(path)
  }

  deinit { close() }
}

/// A process's group and session (from /proc/PID/stat), to tell which instance it belongs to.
func processGroupAndSession(_ pid: Int32) -> (group: Int32, session: Int32)? {
  guard let stat = try? Files.read("/proc/\(pid)/stat"),
    let close = stat.lastIndex(of: UInt8(ascii: ")"))
  else { return nil }
  let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
  guard fields.count >= 4, let group = Int32(String(decoding: fields[2], as: UTF8.self)),
    let session = Int32(String(decoding: fields[3], as: UTF8.self))
  else { return nil }
  return (group, session)
}
