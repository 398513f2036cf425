import CGlibcLinux
import Glibc

/// A pipe whose ends are both close-on-exec; the read end is non-blocking because the event
/// loop reads it. The write end is handed to one child (dup2 clears close-on-exec there).
struct Pipe {
  let read: FileDescriptor
  let write: FileDescriptor

  init() throws(SystemError) {
    var fds: [Int32] = [-1, -1]
    _ = try retryingEINTR("pipe2") { pipe2(&fds, O_CLOEXEC) }
    read = FileDescriptor(fds[0])
    write = FileDescriptor(fds[1])
    try read.setNonBlocking(true)
  }
}

extension FileDescriptor {
  /// A larger pipe buffer (256 KiB) means fewer wake-ups for a chatty process. Only for pipes
  /// that proved chatty, and only a few: pipe memory counts against the user's
  /// pipe-user-pages-soft (64 MiB by default), past which every new pipe of that user, the
  /// app's own included, shrinks to one page. Best effort: the default 64 KiB works too.
  /// True when the pipe holds exactly `size` bytes now (a power of two pages).
  @discardableResult
  func growPipeBuffer(to size: Int = 256 << 10) -> Bool {
    cglibc_fcntl_setpipe_sz(raw, Int32(size)) == size
  }
}
