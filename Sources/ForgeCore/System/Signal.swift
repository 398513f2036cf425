import CGlibcLinux
import Glibc

/// Signal numbers and names, and the process-wide mask forge reads its signals through.
enum Signal {
  /// What forge handles through its signalfd. Blocked in main before any thread exists, so
  /// nothing is lost during start-up and PID 1 gets them queued rather than dropped.
  static let handled: [Int32] = [SIGCHLD, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2]
  static let windowChange = SIGWINCH

  private static let names: [(Int32, String)] = [
    (SIGHUP, "SIGHUP"), (SIGINT, "SIGINT"), (SIGQUIT, "SIGQUIT"), (SIGILL, "SIGILL"),
    (SIGTRAP, "SIGTRAP"), (SIGABRT, "SIGABRT"), (SIGBUS, "SIGBUS"), (SIGFPE, "SIGFPE"),
    (SIGKILL, "SIGKILL"), (SIGUSR1, "SIGUSR1"), (SIGSEGV, "SIGSEGV"), (SIGUSR2, "SIGUSR2"),
    (SIGPIPE, "SIGPIPE"), (SIGALRM, "SIGALRM"), (SIGTERM, "SIGTERM"), (SIGSTKFLT, "SIGSTKFLT"),
    (SIGCHLD, "SIGCHLD"), (SIGCONT, "SIGCONT"), (SIGSTOP, "SIGSTOP"), (SIGTSTP, "SIGTSTP"),
    (SIGTTIN, "SIGTTIN"), (SIGTTOU, "SIGTTOU"), (SIGURG, "SIGURG"), (SIGXCPU, "SIGXCPU"),
    (SIGXFSZ, "SIGXFSZ"), (SIGVTALRM, "SIGVTALRM"), (SIGPROF, "SIGPROF"), (SIGWINCH, "SIGWINCH"),
    (SIGIO, "SIGIO"), (SIGPWR, "SIGPWR"), (SIGSYS, "SIGSYS"),
  ]

  static func name(_ number: Int32) -> String {
    for (n, name) in names where n == number { return name }
    return "signal \(number)"
  }

  /// Accepts "TERM", "SIGTERM", "sigterm" or a number.
  static func number(named text: String) -> Int32? {
    if let n = Int32(text), n > 0, n < 65 { return n }
    let upper = text.uppercased()
    let full = upper.hasPrefix("SIG") ? upper : "SIG" + upper
    for (n, name) in names where name == full { return n }
    return nil
  }

  static func set(_ signals: [Int32]) -> sigset_t {
    var set = sigset_t()
    sigemptyset(&set)
    for s in signals { sigaddset(&set, s) }
    return set
  }

  /// A client whose stdout reader has gone ends as `cat` does there: killed by SIGPIPE
  /// (status 141 to a shell), which forge's own setup ignores.
  static func dieOfBrokenPipe() -> Never {
    _ = Glibc.signal(SIGPIPE, SIG_DFL)
    var mask = set([SIGPIPE])
    _ = pthread_sigmask(SIG_UNBLOCK, &mask, nil)
    _ = raise(SIGPIPE)
    exit(128 + SIGPIPE)
  }

  /// For commands that do not supervise (`check`, `ps`, `stop`…): Ctrl-C ends them as usual.
  static func unblockHandled() {
    var mask = set(handled)
    _ = pthread_sigmask(SIG_UNBLOCK, &mask, nil)
  }

  /// Blocks the handled signals for this thread and every thread it starts later.
  static func blockHandled() {
    var mask = set(handled)
    _ = pthread_sigmask(SIG_BLOCK, &mask, nil)
    // Dispositions inherited from whoever started forge: an ignored signal is discarded when
    // sent, so it would never reach the signalfd (an ignored SIGCHLD would lose every exit).
    for signal in handled { _ = Glibc.signal(signal, SIG_DFL) }
    // A write to a closed stdout must return EPIPE instead of killing forge.
    _ = Glibc.signal(SIGPIPE, SIG_IGN)
  }
}

extension Signal {
  /// The handled signals pending right now, without waiting (sigtimedwait with a zero
  /// timeout): the fallback when the signalfd cannot be read.
  static func takePending() -> [Int32] {
    var mask = set(handled)
    var timeout = timespec(tv_sec: 0, tv_nsec: 0)
    var taken: [Int32] = []
    while true {
      let signal = sigtimedwait(&mask, nil, &timeout)
      if signal > 0 {
        taken.append(signal)
      } else if cglibc_errno() != EINTR {
        return taken
      }
    }
  }
}
