import CGlibcLinux
import Glibc

/// A pseudo-terminal for `--tty` types: the process sees a terminal on stdout and stderr, so
/// it line-buffers and keeps its colours, while forge reads the primary side like a pipe.
final class PseudoTerminal {
  let primary: FileDescriptor
  let replicaPath: String
  /// forge holds the replica open until the child has opened it, so the primary never reports
  /// a hang-up before the child starts.
  private var replica: FileDescriptor?

  init() throws(SystemError) {
    let raw = try retryingEINTR("posix_openpt") { posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC) }
    primary = FileDescriptor(raw)
    _ = try retryingEINTR("grantpt") { grantpt(raw) }
    _ = try retryingEINTR("unlockpt") { unlockpt(raw) }
    var name = [CChar](repeating: 0, count: 128)
    let result = ptsname_r(raw, &name, name.count)
    try checkReturnedError("ptsname_r", result)
    replicaPath = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let replicaRaw = try retryingEINTR("open", path: replicaPath) {
      cglibc_open(replicaPath, O_RDWR | O_NOCTTY | O_CLOEXEC, 0)
    }
    replica = FileDescriptor(replicaRaw)
    var size = winsize(ws_row: 50, ws_col: 200, ws_xpixel: 0, ws_ypixel: 0)
    _ = cglibc_ioctl_set_winsize(replicaRaw, &size)
    try primary.setNonBlocking(true)
  }

  /// Called once the child has its own descriptor for the replica.
  func releaseReplica() {
    replica?.close()
    replica = nil
  }
}

/// Sets a terminal's window size (the process gets SIGWINCH).
func setTerminalSize(_ fd: FileDescriptor, rows: Int, columns: Int) {
  var size = winsize(
    ws_row: UInt16(clamping: rows), ws_col: UInt16(clamping: columns), ws_xpixel: 0, ws_ypixel: 0)
  _ = cglibc_ioctl_set_winsize(fd.raw, &size)
}
