/// Child programs for Procfiles, as `#!/bin/sh` scripts (`ForgeProject` makes them
/// executable). Each prints a line once it is ready (its traps set), so a test can wait for
/// that line instead of sleeping; `service` and `ignoresTerm` also create the file
/// `ready-$PS` (`ready-web.1`) then, for another process of the formation to wait on.
///
/// They idle with `idle` (a `read` from a FIFO only they hold), not with `sleep`: dash
/// interrupts a `read` to run a trap at once, and no child process exists that a signal could
/// miss. (With `sleep 600 & wait $!`, a signal that reaches a freshly forked child before dash
/// has reset its traps there is swallowed, and that `sleep` outlives the script and keeps its
/// process group alive, so forge rightly waits out the grace period.)
///
/// Start them with `exec` in the Procfile (`web: exec ./service.sh`): forge runs each command
/// with `/bin/sh -c`, and dash does not replace itself with the last command, so without
/// `exec` the instance's pid is a wrapper shell that dies of SIGTERM and SIGHUP at once.
enum HelperScripts {
  /// Shell lines that block forever without a child process; traps still run (and `read`
  /// then returns, so the loop goes on unless the trap exits).
  static let idle = idleSetup + "\n" + idleLoop

  /// The FIFO `idleLoop` reads. Run it before printing the ready line: a signal that lands
  /// in the instant between dash's check for pending traps and its `read` call waits until
  /// the next line arrives (never), and the external commands here would widen that instant
  /// to milliseconds right after `ready` — about 1 run in 750 once missed a SIGTERM so.
  static let idleSetup = """
    rm -f "idle.$$"; mkfifo "idle.$$"; exec 3<>"idle.$$"; rm -f "idle.$$"
    """

  /// Blocks in `read` on the FIFO of `idleSetup`, running traps as signals come.
  static let idleLoop = """
    while :; do read -r _ <&3; done
    """

  /// A Procfile command that waits until `instance` (`web.1`) of the formation is ready.
  static func waitFor(_ instance: String) -> String {
    "until [ -e ready-\(instance) ]; do sleep 0.01; done"
  }

  /// A well-behaved service: prints `ready pid=<pid>`; on SIGTERM (or SIGINT) prints
  /// `got TERM` and exits 0; reports SIGHUP, SIGUSR1 and SIGUSR2 (`got HUP`, …) and keeps
  /// running.
  static let service = """
    #!/bin/sh
    trap 'echo "got TERM"; exit 0' TERM
    trap 'echo "got INT"; exit 0' INT
    trap 'echo "got HUP"' HUP
    trap 'echo "got USR1"' USR1
    trap 'echo "got USR2"' USR2
    \(idleSetup)
    touch "ready-$PS"
    echo "ready pid=$$"
    \(idleLoop)

    """

  /// Ignores SIGTERM: only SIGKILL ends it. Prints `ready pid=<pid>`.
  static let ignoresTerm = """
    #!/bin/sh
    trap '' TERM
    \(idleSetup)
    touch "ready-$PS"
    echo "ready pid=$$"
    \(idleLoop)

    """

  /// Starts a background `sleep 600`, prints `bg=<its pid>` and `ready`, then waits. SIGTERM to
  /// the process group ends both.
  static let backgroundChild = """
    #!/bin/sh
    sleep 600 &
    echo "bg=$!"
    echo ready
    wait

    """

  /// Like `backgroundChild`, but the background process ignores SIGTERM: it outlives the
  /// script until SIGKILL.
  static let stubbornBackgroundChild = """
    #!/bin/sh
    trap '' TERM
    sleep 600 &
    echo "bg=$!"
    trap 'exit 0' TERM
    \(idleSetup)
    echo ready
    \(idleLoop)

    """

  /// The value after `key=` in a line such as `bg=1234`.
  static func value(_ key: String, in line: String) -> String? {
    guard let range = line.range(of: key + "=") else { return nil }
    return String(line[range.upperBound...].prefix { !$0.isWhitespace })
  }

  /// A pid printed as `key=<pid>` in `line`.
  static func pid(_ key: String, in line: String) -> Int32? {
    value(key, in: line).flatMap { Int32($0) }
  }
}
