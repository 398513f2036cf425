import CGlibcLinux
import Glibc

/// The caller's terminal in raw mode for `forge attach`: every byte goes to the process
/// (Ctrl-C included). `restore()` puts the saved modes back; it is called on every way out.
final class RawTerminal {
  private var saved = termios()
  private var active = false

  static var isTerminal: Bool { isatty(0) == 1 }

  init() {
    guard tcgetattr(0, &saved) == 0 else { return }
    var raw = saved
    cfmakeraw(&raw)
    _ = tcsetattr(0, TCSANOW, &raw)
    active = true
  }

  func restore() {
    guard active else { return }
    active = false
    _ = tcsetattr(0, TCSANOW, &saved)
  }

  deinit { restore() }

  /// Rows and columns of the caller's terminal.
  static var size: (rows: Int, columns: Int) {
    var size = winsize()
    for fd: Int32 in [0, 1] where cglibc_ioctl_get_winsize(fd, &size) == 0 && size.ws_row > 0 {
      return (Int(size.ws_row), Int(size.ws_col))
    }
    return (24, 80)
  }
}

/// Waits for any of `descriptors` to be readable, at most `milliseconds` (-1: no limit);
/// which ones are.
func waitReadable(_ descriptors: [Int32], milliseconds: Int32) -> [Int32] {
  var entries = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
  while true {
    let n = poll(&entries, nfds_t(entries.count), milliseconds)
    if n < 0 && cglibc_errno() == EINTR { continue }
    return entries.filter { $0.revents != 0 }.map(\.fd)
  }
}

/// Reads what is there from a raw descriptor (stdin); nil at its end.
func readAvailable(_ fd: Int32) -> [UInt8]? {
  var buffer = [UInt8](repeating: 0, count: 4096)
  while true {
    let n = Glibc.read(fd, &buffer, buffer.count)
    if n > 0 { return Array(buffer[0..<n]) }
    if n < 0 && (cglibc_errno() == EINTR) { continue }
    if n < 0 && cglibc_errno() == EAGAIN { return [] }
    return nil
  }
}
