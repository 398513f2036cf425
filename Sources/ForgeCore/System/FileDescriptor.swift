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
    let fd = raw
    return try Self.outcome("read", Self.attempt { Glibc.read(fd, buffer.baseAddress, buffer.count) })
  }

  /// Reads once into an array's storage. Returns 0 at end of file, nil when it would block.
  func read(into array: inout [UInt8]) throws(SystemError) -> Int? {
    let fd = raw
    let result = array.withUnsafeMutableBytes { buffer in
      Self.attempt { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }
    return try Self.outcome("read", result)
  }

  /// Writes once. Returns the count written, nil when the write would block.
  func write(_ buffer: UnsafeRawBufferPointer) throws(SystemError) -> Int? {
    let fd = raw
    return try Self.outcome("write", Self.attempt { Glibc.write(fd, buffer.baseAddress, buffer.count) })
  }

  /// Writes once from an array. Returns the count written, nil when the write would block.
  func write(array: [UInt8]) throws(SystemError) -> Int? {
    let fd = raw
    let result = array.withUnsafeBytes { buffer in
      Self.attempt { Glibc.write(fd, buffer.baseAddress, buffer.count) }
    }
    return try Self.outcome("write", result)
  }

  /// Runs one read or write, retrying EINTR; errno is read at once. Kept free of throwing so
  /// it can run inside `withUnsafeBytes`, whose rethrows would lose the typed error.
  private static func attempt(_ call: () -> Int) -> (count: Int, errno: Int32) {
    while true {
      let n = call()
      if n >= 0 { return (n, 0) }
      let code = cglibc_errno()
      if code != EINTR { return (n, code) }
    }
  }

  /// The count, nil for "would block", or the error.
  private static func outcome(_ operation: String, _ result: (count: Int, errno: Int32)) throws(SystemError) -> Int? {
    if result.count >= 0 { return result.count }
    if result.errno == EAGAIN || result.errno == EWOULDBLOCK { return nil }
    throw SystemError(operation: operation, errno: result.errno)
  }

  /// Writes all of `bytes`, waiting when needed. For short messages to sockets.
  func writeAll(_ bytes: [UInt8]) throws(SystemError) {
    var offset = 0
    while offset < bytes.count {
      guard let n = try write(array: Array(bytes[offset...])) else {
        try waitWritable()
        continue
      }
      offset += n
    }
  }

  private func waitWritable() throws(SystemError) {
    var entry = pollfd(fd: raw, events: Int16(POLLOUT), revents: 0)
    _ = try retryingEINTR("poll") { Glibc.poll(&entry, 1, -1) }
  }

  /// Waits until a write can make progress, at most `milliseconds`; false if it cannot.
  func waitWritable(milliseconds: Int32) -> Bool {
    var entry = pollfd(fd: raw, events: Int16(POLLOUT), revents: 0)
    let ready = (try? retryingEINTR("poll") { Glibc.poll(&entry, 1, milliseconds) }) ?? 0
    return ready > 0 && entry.revents & Int16(POLLOUT) != 0
  }
}

/// Writes a message to a raw descriptor that forge does not own (stderr), ignoring failures:
/// there is nowhere left to report them.
func writeRaw(_ fd: Int32, _ text: String) {
  writeRaw(fd, bytes: Array(text.utf8))
}

/// The same for bytes (a stream relayed to stdout); stops when the reader has gone.
func writeRaw(_ fd: Int32, bytes: [UInt8]) {
  bytes.withUnsafeBytes { writeRaw(fd, buffer: $0) }
}

func writeRaw(_ fd: Int32, buffer: UnsafeRawBufferPointer) {
  _ = writeAll(fd, buffer: buffer)
}

/// Writes all of `buffer` to a raw descriptor forge does not own (a client's stdout): 0, or
/// the errno that stopped it (EIO for a write that took nothing).
func writeAll(_ fd: Int32, buffer: UnsafeRawBufferPointer) -> Int32 {
  guard let base = buffer.baseAddress else { return 0 }
  var offset = 0
  while offset < buffer.count {
    let n = Glibc.write(fd, base + offset, buffer.count - offset)
    if n > 0 {
      offset += n
      continue
    }
    let code = n < 0 ? cglibc_errno() : EIO
    if code != EINTR { return code }
  }
  return 0
}
