import CGlibcLinux
import Glibc

/// The caller's terminal taken over for a full-screen view (`forge top`): raw input, the
/// alternate screen, a hidden cursor; `restore()` puts all of it back, and is called on every
/// way out (a key, a signal, forge going away).
final class TerminalScreen {
  private var saved = termios()
  private var active = false
  let signals: SignalFD?

  /// The signals that end the view or resize it; blocked and read from a signalfd.
  static let watched: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH]

  static var isTerminal: Bool { isatty(0) == 1 && isatty(1) == 1 }

  init() {
    var mask = Signal.set(Self.watched)
    _ = pthread_sigmask(SIG_BLOCK, &mask, nil)
    signals = try? SignalFD(signals: Self.watched)
    guard tcgetattr(0, &saved) == 0 else { return }
    var raw = saved
    raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
    raw.c_cc.6 = 0  // VMIN: reads return at once
    raw.c_cc.5 = 0  // VTIME
    _ = tcsetattr(0, TCSANOW, &raw)
    writeRaw(1, "\u{1B}[?1049h\u{1B}[?25l")
    active = true
  }

  func restore() {
    guard active else { return }
    active = false
    writeRaw(1, "\u{1B}[?25h\u{1B}[?1049l")
    _ = tcsetattr(0, TCSANOW, &saved)
  }

  deinit { restore() }

  /// Rows and columns.
  var size: (rows: Int, columns: Int) {
    var size = winsize()
    guard cglibc_ioctl_get_winsize(1, &size) == 0, size.ws_row > 0, size.ws_col > 0 else { return (24, 80) }
    return (Int(size.ws_row), Int(size.ws_col))
  }

  enum Wake {
    case key(UInt8)
    case signal(Int32)
    case timeout
  }

  /// Waits for a key, a signal or the timeout.
  func wait(milliseconds: Int32) -> Wake {
    var entries = [pollfd(fd: 0, events: Int16(POLLIN), revents: 0)]
    if let signals { entries.append(pollfd(fd: signals.fd.raw, events: Int16(POLLIN), revents: 0)) }
    let n = poll(&entries, nfds_t(entries.count), milliseconds)
    guard n > 0 else { return .timeout }
    if entries.count > 1, entries[1].revents != 0, let signal = try? signals?.drain().first {
      return .signal(signal)
    }
    var byte: UInt8 = 0
    if entries[0].revents != 0 {
      if Glibc.read(0, &byte, 1) == 1 { return .key(byte) }
      return .key(UInt8(ascii: "q"))  // the terminal is gone
    }
    return .timeout
  }
}
