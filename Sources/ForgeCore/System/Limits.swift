import CGlibcLinux
import Glibc

/// RLIMIT_NOFILE: forge raises its own soft limit as far as the formation needs (up to the
/// hard limit); its processes get the limit forge was started with (the exec shim sets it).
enum DescriptorLimit {
  static func current() -> (soft: Int, hard: Int) {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (1024, 1024) }
    return (Int(clamping: limit.rlim_cur), Int(clamping: limit.rlim_max))
  }

  /// Raises the soft limit to `wanted` (never lowers it); false if the hard limit is lower.
  @discardableResult
  static func raise(to wanted: Int) -> Bool {
    let (soft, hard) = current()
    guard wanted > soft else { return true }
    guard wanted <= hard else { return false }
    var limit = rlimit()
    _ = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = rlim_t(wanted)
    return setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0
  }

  static func setSoft(_ value: Int) {
    var limit = rlimit()
    guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
    limit.rlim_cur = rlim_t(min(value, Int(clamping: limit.rlim_max)))
    _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
  }

  /// What a formation of `instances` needs: a pipe (or terminal) each, forge's own handful,
  /// and room for probes, control clients and scaling.
  static func needed(instances: Int) -> Int { 64 + 2 * instances }
}

/// The exec shim (`forge __shim …`): between posix_spawn and `/bin/sh -c`, in the child, it
/// asks the kernel for the stop signal when forge dies (PR_SET_PDEATHSIG, which posix_spawn
/// cannot set), checks forge is still its parent (it may have died meanwhile), gives back the
/// descriptor limit forge started with and the default signal state, and execs the shell.
enum ExecShim {
  static let word = "__shim"

  /// Arguments for spawning `command` through the shim.
  static func arguments(stopSignal: Int32, command: String, limit: Int) -> [String] {
    [Files.currentExecutable(), word, String(stopSignal), String(getpid()), String(limit), command]
  }

  static func run(_ arguments: [String]) -> Never {
    guard arguments.count == 4, let signal = Int32(arguments[0]), let parent = Int32(arguments[1]),
      let limit = Int(arguments[2])
    else {
      writeRaw(2, "forge: internal: bad shim arguments\n")
      _exit(127)
    }
    _ = cglibc_prctl_set_pdeathsig(signal)
    guard getppid() == parent else { _exit(128 + signal) }  // forge died before we got here
    DescriptorLimit.setSoft(limit)
    // The state forge's own main set up is not the process's: default SIGPIPE, no mask.
    _ = Glibc.signal(SIGPIPE, SIG_DFL)
    var none = sigset_t()
    sigemptyset(&none)
    _ = pthread_sigmask(SIG_SETMASK, &none, nil)
    let argv = CStringArray(["/bin/sh", "-c", arguments[3]])
    execv("/bin/sh", argv.pointers)
    writeRaw(2, "forge: cannot run /bin/sh: \(String(cString: strerror(cglibc_errno())))\n")
    _exit(127)
  }
}
