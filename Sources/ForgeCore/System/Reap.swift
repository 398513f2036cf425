import CGlibcLinux
import Glibc

/// Collects every child that has ended, without blocking. Called on each SIGCHLD: signals
/// coalesce, so one SIGCHLD may stand for many exits and all of them must be reaped.
/// Returns true when forge has no children left at all (ECHILD).
@discardableResult
func reapExitedChildren(_ each: (pid_t, WaitStatus) -> Void) -> Bool {
  while true {
    var raw: Int32 = 0
    let pid = waitpid(-1, &raw, WNOHANG)
    if pid > 0 {
      each(pid, WaitStatus(raw: raw))
      continue
    }
    if pid < 0 && cglibc_errno() == EINTR { continue }
    return pid < 0 && cglibc_errno() == ECHILD
  }
}

/// Waits for one child to end (blocking); nil if it cannot be waited for.
func waitForChild(_ pid: pid_t) -> WaitStatus? {
  var raw: Int32 = 0
  while true {
    let result = waitpid(pid, &raw, 0)
    if result == pid {
      let status = WaitStatus(raw: raw)
      if status.isTermination { return status }
      continue
    }
    if result < 0 && cglibc_errno() == EINTR { continue }
    return nil
  }
}

/// A detached forge's stderr, once it has said it is up: to the log file or /dev/null.
func redirectStandardError(to path: String?) {
  let fd = cglibc_open(path ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
  guard fd >= 0 else { return }
  _ = dup2(fd, 2)
  _ = Glibc.close(fd)
}

/// Makes forge the reaper of its orphaned descendants (prctl(2) PR_SET_CHILD_SUBREAPER), so a
/// grandchild whose parent died is reparented to forge rather than to init.
func becomeChildSubreaper() throws(SystemError) {
  _ = try retryingEINTR("prctl(PR_SET_CHILD_SUBREAPER)") { cglibc_prctl_set_child_subreaper() }
}

/// What kill(2) on a process group found.
enum GroupSignalResult: Equatable {
  case delivered
  /// ESRCH: nobody is left in the group.
  case empty
  /// EPERM: members are there, but none forge may signal (another user's, after setuid).
  case refused
}

/// Sends a signal to a whole process group (signal 0 only looks). The one place group
/// liveness is learnt: the supervisor feeds the result back to the formation machine.
func signalProcessGroup(_ pgid: pid_t, _ signal: Int32) -> GroupSignalResult {
  // kill(0) is forge's own group and kill(-1) everyone: never by accident, and never a trap
  // (PID 1 must not crash).
  guard pgid > 1 else { return .empty }
  if kill(-pgid, signal) == 0 { return .delivered }
  return cglibc_errno() == EPERM ? .refused : .empty
}

/// Signals one process, or its whole group when it leads one (an escapee that called setsid
/// or setpgid usually does, and its own children are in that group).
func signalProcessOrGroup(_ pid: pid_t, group: pid_t, _ signal: Int32) {
  guard pid > 1 else { return }
  if group == pid && kill(-pid, signal) == 0 { return }
  _ = kill(pid, signal)
}

/// PID 1 only: signal every process in the namespace but forge itself.
func signalEveryone(_ signal: Int32) {
  _ = kill(-1, signal)
}
