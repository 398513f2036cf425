import CGlibcLinux
import Glibc

/// Unix-domain stream sockets for the control channel.
enum UnixSocket {
  /// sun_path holds 108 bytes. A longer path is reached through the directory: it is opened
  /// and the socket named as /proc/self/fd/N/NAME, which the kernel resolves like any path.
  private static func withAddress<T>(
    _ path: String, _ body: (UnsafePointer<sockaddr_un>) -> T
  ) throws(SystemError) -> T {
    var directory: FileDescriptor? = nil
    var effective = path
    if path.utf8.count >= 108 {
      let parent = Path.directory(of: path)
      let raw = try retryingEINTR("open", path: parent) { cglibc_open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0) }
      directory = FileDescriptor(raw)
      effective = "/proc/self/fd/\(raw)/\(Path.lastComponent(path))"
      guard effective.utf8.count < 108 else {
        throw SystemError(operation: "socket name too long", errno: ENAMETOOLONG, path: path)
      }
    }
    defer { directory?.close() }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      let bytes = Array(effective.utf8)
      for (i, byte) in bytes.enumerated() { raw[i] = byte }
      raw[bytes.count] = 0
    }
    return withUnsafePointer(to: &address) { body($0) }
  }

  private static func makeSocket(nonBlocking: Bool) throws(SystemError) -> FileDescriptor {
    var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
    let raw = try retryingEINTR("socket") { socket(AF_UNIX, type, 0) }
    return FileDescriptor(raw)
  }

  /// Connects to a listening socket. Non-blocking, a connection to a listener whose backlog is
  /// full fails with EAGAIN at once instead of waiting.
  static func connect(_ path: String, nonBlocking: Bool = false) throws(SystemError) -> FileDescriptor {
    let fd = try makeSocket(nonBlocking: nonBlocking)
    var result: Int32 = EINTR
    while result == EINTR {
      result = try withAddress(path) { address in
        cglibc_connect_unix(fd.raw, address) == 0 ? 0 : cglibc_errno()
      }
    }
    if result != 0 { throw SystemError(operation: "connect", errno: result, path: path) }
    return fd
  }

  /// Binds and listens with mode 0600 (the umask is narrowed around bind so the socket never
  /// exists with wider permissions).
  static func listen(_ path: String) throws(SystemError) -> FileDescriptor {
    let fd = try makeSocket(nonBlocking: true)
    let previous = umask(0o177)
    let result = try withAddress(path) { address in
      cglibc_bind_unix(fd.raw, address) == 0 ? 0 : cglibc_errno()
    }
    umask(previous)
    if result != 0 { throw SystemError(operation: "bind", errno: result, path: path) }
    _ = chmod(path, 0o600)
    _ = try retryingEINTR("listen") { Glibc.listen(fd.raw, 64) }
    return fd
  }

  /// Accepts one pending connection, non-blocking and close-on-exec; nil when none is waiting.
  static func accept(_ listener: FileDescriptor) throws(SystemError) -> FileDescriptor? {
    while true {
      let raw = cglibc_accept4(listener.raw, Int32(SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue))
      if raw >= 0 { return FileDescriptor(raw) }
      let code = cglibc_errno()
      if code == EINTR || code == ECONNABORTED { continue }
      if code == EAGAIN || code == EWOULDBLOCK { return nil }
      throw SystemError(operation: "accept4", errno: code)
    }
  }

  /// The peer's uid (SO_PEERCRED), nil if it cannot be read.
  static func peerUID(_ fd: FileDescriptor) -> uid_t? {
    peerCredentials(fd)?.uid
  }

  /// The peer's pid in this process's PID namespace (0 when it is not visible here).
  static func peerPID(_ fd: FileDescriptor) -> pid_t? {
    peerCredentials(fd)?.pid
  }

  private static func peerCredentials(_ fd: FileDescriptor) -> ucred? {
    var credentials = ucred()
    var length = socklen_t(MemoryLayout<ucred>.size)
    guard getsockopt(fd.raw, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
    return credentials
  }

  /// Sends `bytes` (a short reply) with `descriptor` attached, without blocking; false if
  /// they did not all go.
  static func send(_ bytes: [UInt8], passing descriptor: FileDescriptor, on socket: FileDescriptor) -> Bool {
    while true {
      let sent = bytes.withUnsafeBytes {
        cglibc_send_with_descriptor(socket.raw, $0.baseAddress, UInt($0.count), descriptor.raw)
      }
      if sent < 0 && cglibc_errno() == EINTR { continue }
      return sent == bytes.count
    }
  }

  /// Reads once, taking a descriptor that came with the bytes into `passed` (if it is still
  /// nil). Returns 0 at end of file.
  static func receive(
    on socket: FileDescriptor, into buffer: UnsafeMutableRawBufferPointer, passed: inout FileDescriptor?
  ) throws(SystemError) -> Int {
    while true {
      var descriptor: Int32 = passed == nil ? -1 : -2
      let n = cglibc_receive_with_descriptor(socket.raw, buffer.baseAddress, UInt(buffer.count), &descriptor)
      if descriptor >= 0 { passed = FileDescriptor(descriptor) }
      if n >= 0 { return n }
      let code = cglibc_errno()
      if code != EINTR { throw SystemError(operation: "recvmsg", errno: code) }
    }
  }

  /// Whether something listens at `path` (a socket file nobody answers on was left by a
  /// process that died). A backlog so full that connecting would block (EAGAIN) also means a
  /// live one.
  static func answers(_ path: String) -> Bool {
    do {
      _ = try connect(path, nonBlocking: true)
      return true
    } catch {
      return error.errno == EAGAIN
    }
  }

  static func isSocket(_ path: String) -> Bool {
    identity(path) != nil
  }

  /// The socket file's device and inode, nil if the path is not a socket.
  static func identity(_ path: String) -> (device: UInt64, inode: UInt64)? {
    var info = stat()
    guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else { return nil }
    return (UInt64(info.st_dev), UInt64(info.st_ino))
  }

  static func remove(_ path: String) {
    _ = unlink(path)
  }
}

/// An exclusive flock(2) on a directory, held briefly (best effort: without it the check
/// still works, only the race between two simultaneous starts is open again).
struct DirectoryLock {
  private let fd: Int32

  init(_ directory: String) {
    fd = cglibc_open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
    if fd >= 0 {
      while flock(fd, LOCK_EX) != 0 && cglibc_errno() == EINTR {}
    }
  }

  func release() {
    if fd >= 0 { _ = Glibc.close(fd) }  // closing drops the lock
  }
}
