import CGlibcLinux
import Glibc

/// Sole owner of one open descriptor: it is closed exactly once, by `close()` or on deinit.
/// Not Sendable: descriptors belong to the event loop's thread.
final class FileDescriptor {
  private(set) var raw: Int32

  init(_ raw: Int32) {
    precondition(raw >= 0, "invalid descriptor")
    self.raw = raw
  }

  var isOpen: Bool { raw >= 0 }

  func close() {
    guard raw >= 0 else { return }
    _ = Glibc.close(raw)  // never retried: see retryingEINTR
    raw = -1
  }

  deinit { close() }

  func setNonBlocking(_ on: Bool) throws(SystemError) {
    let flags = try retryingEINTR("fcntl") { cglibc_fcntl_getfl(raw) }
    let wanted = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
    if wanted != flags {
      _ = try retryingEINTR("fcntl") { cglibc_fcntl_setfl(raw, wanted) }
    }
  }

  /// Reads once. Returns 0 at end of file, nil when the read would block.
  func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int? {
    while true {
      let n = Glibc.read(raw, buffer.baseAddress, buffer.count)
      if n >= 0 { return n }
      let code = cglibc_errno()
      if code == EINTR { continue }
      if code == EAGAIN || code == EWOULDBLOCK { return nil }
      throw SystemError(operation: "read", errno: code)
    }
  }

  /// Reads once into an array's storage. Returns 0 at end of file, nil when it would block.
  func read(into array: inout [UInt8]) throws(SystemError) -> Int? {
    let fd = raw
    let (n, code) = array.withUnsafeMutableBytes { buffer in
      while true {
        let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
        if n >= 0 { return (n, Int32(0)) }
        let code = cglibc_errno()
        if code != EINTR { return (n, code) }
      }
    }
    if n >= 0 { return n }
    if code == EAGAIN || code == EWOULDBLOCK { return nil }
    throw SystemError(operation: "read", errno: code)
  }

  /// Writes once. Returns the count written, nil when the write would block.
  func write(_ buffer: UnsafeRawBufferPointer) throws(SystemError) -> Int? {
    while true {
      let n = Glibc.write(raw, buffer.baseAddress, buffer.count)
      if n >= 0 { return n }
      let code = cglibc_errno()
      if code == EINTR { continue }
      if code == EAGAIN || code == EWOULDBLOCK { return nil }
      throw SystemError(operation: "write", errno: code)
    }
  }

  /// Writes once from an array. Returns the count written, nil when it would block.
  func write(array: [UInt8]) throws(SystemError) -> Int? {
    let fd = raw
    let (n, code) = array.withUnsafeBytes { all in
      while true {
        let n = Glibc.write(fd, all.baseAddress, all.count)
        if n >= 0 { return (n, Int32(0)) }
        let code = cglibc_errno()
        if code != EINTR { return (n, code) }
      }
    }
    if n >= 0 { return n }
    if code == EAGAIN || code == EWOULDBLOCK { return nil }
    throw SystemError(operation: "write", errno: code)
  }

  /// Writes all of `bytes`, blocking if needed. For short messages to stderr and sockets.
  func writeAll(_ bytes: [UInt8]) throws(SystemError) {
    var offset = 0
    let fd = raw
    while offset < bytes.count {
      let (n, code) = bytes.withUnsafeBytes { all in
        let n = Glibc.write(fd, all.baseAddress! + offset, all.count - offset)
        return (n, n < 0 ? cglibc_errno() : 0)
      }
      if n >= 0 {
        offset += n
      } else if code == EAGAIN || code == EWOULDBLOCK {
        try waitWritable()
      } else if code != EINTR {
        throw SystemError(operation: "write", errno: code)
      }
    }
  }

  private func waitWritable() throws(SystemError) {
    var entry = pollfd(fd: raw, events: Int16(POLLOUT), revents: 0)
    _ = try retryingEINTR("poll") { Glibc.poll(&entry, 1, -1) }
  }
}

/// Writes a message to a raw descriptor that forge does not own (stderr), ignoring failures:
/// there is nowhere left to report them.
func writeRaw(_ fd: Int32, _ text: String) {
  let bytes = Array(text.utf8)
  var offset = 0
  while offset < bytes.count {
    let n = bytes.withUnsafeBytes { all in
      Glibc.write(fd, all.baseAddress! + offset, all.count - offset)
    }
    if n > 0 {
      offset += n
    } else if n < 0 && cglibc_errno() == EINTR {
      continue
    } else {
      return
    }
  }
}
