import CGlibcLinux
import Glibc

/// forge's stdout, set up so that a slow reader can never block the event loop.
///
/// A pipe or terminal is reopened through /proc/self/fd/1: that gives forge its own open file
/// description on the same pipe or terminal, which can be made non-blocking without changing
/// the shared one that the shell and other processes use. A socket is written with
/// MSG_DONTWAIT. A regular file never blocks for long and is written as it is.
final class OutputSink {
  enum WriteResult {
    case wrote(Int)
    case wouldBlock
    case failed(SystemError)
  }

  private enum Kind {
    case plain
    case socket
  }

  private let kind: Kind
  private var owned: FileDescriptor?
  let descriptor: Int32

  /// Descriptors 0, 1 and 2 that were closed when forge started, now open on /dev/null. Done
  /// first thing, so no descriptor forge opens (a pipe, the epoll instance) can take number 1
  /// and receive the log stream.
  static func reserveStandardDescriptors() -> [Int32] {
    var closed: [Int32] = []
    for fd: Int32 in 0...2 where cglibc_fcntl_getfd(fd) < 0 && cglibc_errno() == EBADF {
      let null = cglibc_open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
      if null >= 0 && null != fd {
        _ = dup2(null, fd)
        _ = Glibc.close(null)
      }
      closed.append(fd)
    }
    return closed
  }

  init(standard fd: Int32 = 1) {
    var info = stat()
    let type = fstat(fd, &info) == 0 ? info.st_mode & S_IFMT : 0
    switch type {
    case S_IFSOCK:
      kind = .socket
      descriptor = fd
    case S_IFIFO, S_IFCHR:
      let reopened = cglibc_open("/proc/self/fd/\(fd)", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0)
      kind = .plain
      if reopened >= 0 {
        owned = FileDescriptor(reopened)
        descriptor = reopened
        // A pipe (`forge start | cat`, Docker's log FIFO) of 1 MiB rather than 64 KiB: forge
        // writes many lines per call, and a small pipe makes each burst a series of short
        // writes and waits. Only a pipe of the default size (a size someone chose is kept), and
        // best effort: beyond the user's limits the size stays as it was.
        if type == S_IFIFO && cglibc_fcntl_getpipe_sz(reopened) == 65536 {
          _ = cglibc_fcntl_setpipe_sz(reopened, 1 << 20)
        }
      } else {
        descriptor = fd  // blocking writes: slower readers slow forge, nothing is lost
      }
    default:
      kind = .plain
      descriptor = fd
    }
  }

  /// `--log-file FILE --log-file-size N` of a detached forge: stdout is FILE, renamed to
  /// FILE.1 (one old file kept) once N bytes are in it.
  private var rotation: (path: String, limit: Int, size: Int)?

  func rotate(_ path: String, every limit: Int) {
    var info = stat()
    let size = fstat(descriptor, &info) == 0 ? Int(info.st_size) : 0
    rotation = (path, max(4096, limit), size)
  }

  private func rotateIfFull() {
    guard let current = rotation, current.size >= current.limit else { return }
    startNewFile()
  }

  private func startNewFile() {
    guard var current = rotation else { return }
    _ = rename(current.path, current.path + ".1")
    let fresh = cglibc_open(current.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    if fresh >= 0 {
      _ = dup2(fresh, descriptor)
      _ = Glibc.close(fresh)
    }
    current.size = 0
    rotation = current
  }

  /// With rotation, a write takes only the whole lines that fit under the size, so a file
  /// passes it only by a line longer than the size itself, and a line is never split between
  /// two files (the writer writes the rest next).
  func write(_ bytes: UnsafeRawBufferPointer) -> WriteResult {
    guard let current = rotation, let base = bytes.baseAddress, bytes.count > current.limit - current.size else {
      let result = writeOnce(bytes)
      if case .wrote(let n) = result, rotation != nil {
        rotation?.size += n
        rotateIfFull()
      }
      return result
    }
    let room = max(0, current.limit - current.size)
    var count: Int
    if let cut = UnsafeRawBufferPointer(start: base, count: room).lastIndex(of: 0x0A) {
      count = cut + 1
    } else if current.size > 0 {
      startNewFile()  // not one whole line fits: it goes into the next file
      return write(bytes)
    } else {
      // A single line longer than the size: whole, in a file of its own.
      count = Memory.find(0x0A, in: base, count: bytes.count).map { $0 + 1 } ?? bytes.count
    }
    let result = writeOnce(UnsafeRawBufferPointer(start: base, count: count))
    if case .wrote(let n) = result {
      rotation?.size += n
      if n == count { startNewFile() }
    }
    return result
  }

  private func writeOnce(_ bytes: UnsafeRawBufferPointer) -> WriteResult {
    while true {
      let n: Int
      switch kind {
      case .plain: n = Glibc.write(descriptor, bytes.baseAddress, bytes.count)
      case .socket: n = send(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
      }
      if n >= 0 { return .wrote(n) }
      let code = cglibc_errno()
      if code == EINTR { continue }
      if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
      return .failed(SystemError(operation: "write to stdout", errno: code))
    }
  }

  /// Waits until a write can make progress, at most `milliseconds`; false on timeout.
  func waitWritable(milliseconds: Int32) -> Bool {
    var entry = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
    while true {
      let n = poll(&entry, 1, milliseconds)
      if n < 0 && cglibc_errno() == EINTR { continue }
      return n > 0
    }
  }
}
