/// How a child ended, decoded from a wait status (the WIFEXITED family are macros that Swift
/// cannot import; the encoding is the one in glibc's bits/waitstatus.h).
enum WaitStatus: Equatable, Sendable {
  case exited(Int32)
  case signaled(Int32)
  case stopped(Int32)
  case continued

  init(raw: Int32) {
    let low = raw & 0x7f
    if low == 0 {
      self = .exited((raw >> 8) & 0xff)
    } else if raw == 0xffff {
      self = .continued
    } else if (raw & 0xff) == 0x7f {
      self = .stopped((raw >> 8) & 0xff)
    } else {
      self = .signaled(low)
    }
  }

  /// Shell convention: the exit code, or 128 + signal, modulo 256.
  var shellStatus: Int32 {
    switch self {
    case .exited(let code): return code & 0xff
    case .signaled(let signal): return (128 + signal) & 0xff
    case .stopped, .continued: return 0
    }
  }

  var isTermination: Bool {
    switch self {
    case .exited, .signaled: return true
    case .stopped, .continued: return false
    }
  }

  var isSuccess: Bool { self == .exited(0) }

  /// "exited with code N" or "terminated by SIGNAME", as printed in the log stream.
  var summary: String {
    switch self {
    case .exited(let code): return "exited with code \(code)"
    case .signaled(let signal): return "terminated by \(Signal.name(signal))"
    case .stopped(let signal): return "stopped by \(Signal.name(signal))"
    case .continued: return "continued"
    }
  }
}
