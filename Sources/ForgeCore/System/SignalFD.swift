import CGlibcLinux
import Glibc

/// The handled signals as readable events (signalfd(2)); they must already be blocked.
final class SignalFD {
  let fd: FileDescriptor

  init(signals: [Int32]) throws(SystemError) {
    var mask = Signal.set(signals)
    let raw = try retryingEINTR("signalfd") { signalfd(-1, &mask, Int32(SFD_CLOEXEC | SFD_NONBLOCK)) }
    fd = FileDescriptor(raw)
  }

  /// Every pending signal number, in arrival order; empty when none is pending.
  func drain() throws(SystemError) -> [Int32] {
    try drainWithOrigin().map(\.signal)
  }

  /// The same, with whether the kernel sent it (SI_KERNEL: a terminal's hangup) rather than a
  /// process (`kill -HUP`).
  func drainWithOrigin() throws(SystemError) -> [(signal: Int32, fromKernel: Bool)] {
    var received: [(Int32, Bool)] = []
    var info = signalfd_siginfo()
    let size = MemoryLayout<signalfd_siginfo>.size
    while true {
      let n = withUnsafeMutableBytes(of: &info) { buffer in Glibc.read(fd.raw, buffer.baseAddress, size) }
      if n == size {
        received.append((Int32(bitPattern: info.ssi_signo), info.ssi_code == 0x80))  // SI_KERNEL
        continue
      }
      let code = cglibc_errno()
      if n < 0 && code == EINTR { continue }
      if n < 0 && code != EAGAIN { throw SystemError(operation: "read signalfd", errno: code) }
      return received
    }
  }
}
