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

/// Makes forge the reaper of its orphaned descendants (prctl(2) PR_SET_CHILD_SUBREAPER), so a
/// grandchild whose parent died is reparented to forge rather than to init.
func becomeChildSubreaper() throws(SystemError) {
  _ = try retryingEINTR("prctl(PR_SET_CHILD_SUBREAPER)") { cglibc_prctl_set_child_subreaper() }
}

/// Whether any process is left in the group (kill(2) with signal 0 only checks).
func processGroupExists(_ pgid: pid_t) -> Bool {
  guard pgid > 1 else { return false }  // kill(0) and kill(-1) mean other things
  if kill(-pgid, 0) == 0 { return true }
  return cglibc_errno() == EPERM
}

/// Sends a signal to a whole process group; a group that is already gone is not an error.
@discardableResult
func signalProcessGroup(_ pgid: pid_t, _ signal: Int32) -> Bool {
  // kill(0) is forge's own group and kill(-1) everyone: never by accident, and never a trap
  // (PID 1 must not crash).
  guard pgid > 1 else { return false }
  return kill(-pgid, signal) == 0
}
