import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `forge attach` as a user runs it: from a shell on a pseudo-terminal of the test's own (a new
/// session whose controlling terminal it is, with a window size), so forge attach meets a real
/// terminal: raw mode, SIGWINCH, keys typed one by one. The shell prints the terminal's modes
/// (`stty -g`) before and after forge attach, and `attach-status=N`. The test types into the
/// terminal's primary side and reads what the terminal shows ("\r" stripped at line ends).
final class AttachTerminal: @unchecked Sendable {
  /// The shell: session leader, its group the terminal's foreground group.
  let pid: pid_t
  /// What the terminal shows.
  let output = OutputCapture(name: "terminal", stripsCarriageReturns: true)
  /// The value of `ForgeHarness.markerVariable` its processes carry.
  let marker: String
  private let primary: Int32
  private let condition = NSCondition()
  private var rawStatus: Int32?

  static let script = #"stty -g; echo attaching; "$0" "$@"; echo "attach-status=$?"; stty -g"#

  init(
    forge arguments: [String], directory: String, environment: [String: String], rows: Int = 30, columns: Int = 100
  ) throws {
    marker = environment[ForgeHarness.markerVariable] ?? ""
    primary = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)
    guard primary >= 0, grantpt(primary) == 0, unlockpt(primary) == 0 else {
      throw HarnessError("posix_openpt: \(String(cString: strerror(errno)))")
    }
    var name = [CChar](repeating: 0, count: 128)
    guard ptsname_r(primary, &name, name.count) == 0 else { throw HarnessError("ptsname_r failed") }
    let replicaPath = string(fromCString: name)
    // Held until the shell has exited, so the primary never reports the end before everything
    // written has been read.
    let replica = open(replicaPath, O_RDWR | O_NOCTTY | O_CLOEXEC)
    guard replica >= 0 else { throw HarnessError("open \(replicaPath): \(String(cString: strerror(errno)))") }
    var size = winsize(ws_row: UInt16(rows), ws_col: UInt16(columns), ws_xpixel: 0, ws_ypixel: 0)
    _ = ioctl(primary, UInt(TIOCSWINSZ), &size)

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, replicaPath, O_RDWR, 0)  // after setsid: controlling
    posix_spawn_file_actions_adddup2(&actions, 0, 1)
    posix_spawn_file_actions_adddup2(&actions, 0, 2)
    posix_spawn_file_actions_addchdir_np(&actions, directory)
    posix_spawn_file_actions_addclosefrom_np(&actions, 3)
    let (child, result) = spawnCleanly(
      "/bin/sh", ["-c", Self.script, try ForgeHarness.forgeBinary()] + arguments, environment, &actions,
      flags: Int32(POSIX_SPAWN_SETSID))
    guard result == 0 else {
      close(replica)
      throw HarnessError("posix_spawn /bin/sh: \(String(cString: strerror(result)))")
    }
    pid = child
    output.startReading(dup(primary))
    let waiter = Thread { [self] in
      var status: Int32 = 0
      while waitpid(child, &status, 0) < 0 && errno == EINTR {}
      close(replica)
      condition.lock()
      rawStatus = status
      condition.broadcast()
      condition.unlock()
    }
    waiter.name = "forge-itest terminal \(child)"
    waiter.start()
  }

  deinit { close(primary) }

  /// Types `text` (raw mode: "\r" is Enter).
  func type(_ text: String) { type(bytes: Array(text.utf8)) }

  func type(bytes: [UInt8]) {
    _ = bytes.withUnsafeBytes { write(primary, $0.baseAddress, $0.count) }
  }

  /// Ctrl-], forge attach's default detach key.
  func detach() { type(bytes: [0x1D]) }

  /// Resizes the window: the kernel sends SIGWINCH to the terminal's foreground group.
  func resize(rows: Int, columns: Int) {
    var size = winsize(ws_row: UInt16(rows), ws_col: UInt16(columns), ws_xpixel: 0, ws_ypixel: 0)
    _ = ioctl(primary, UInt(TIOCSWINSZ), &size)
  }

  /// Blocks until the terminal shows a line containing `text`; returns it.
  @discardableResult
  func waitForLine(containing text: String, timeout: TimeInterval = ForgeHarness.defaultTimeout) throws -> String {
    if let lines = output.waitForLines(timeout: timeout, where: { $0.contains(text) }) { return lines[0] }
    let reason = output.hasEnded ? "it ended" : "timed out after \(timeout) s"
    throw HarnessError("waiting for \"\(text)\" on the terminal: \(reason)\n\(screen)")
  }

  /// forge attach, the shell's child (once the terminal shows it attached).
  func attachPID() throws -> pid_t {
    let found = ProcFS.children(of: pid).first { ProcFS.commandLine($0.pid).contains(" attach") }
    return try found?.pid ?? { throw HarnessError("no forge attach under the shell \(pid)\n\(screen)") }()
  }

  /// Waits for the shell to finish; forge attach's exit status.
  func waitForExit(timeout: TimeInterval = ForgeHarness.defaultTimeout) throws -> Int32 {
    let deadline = Date(timeIntervalSinceNow: timeout)
    condition.lock()
    while rawStatus == nil && condition.wait(until: deadline) {}
    let exited = rawStatus != nil
    condition.unlock()
    guard exited, output.waitForEnd(timeout: 5) else {
      throw HarnessError("forge attach did not finish within \(timeout) s\n\(screen)")
    }
    let line = try waitForLine(containing: "attach-status=", timeout: 0)
    return try Int32(HelperScripts.value("attach-status", in: line) ?? "")
      ?? { throw HarnessError("no status in \(line)") }()
  }

  /// The terminal's modes as `stty -g` printed them before forge attach and after it.
  var modes: [String] {
    output.lines.filter { $0.range(of: #"^[0-9a-f]+(:[0-9a-f]+){10,}$"#, options: .regularExpression) != nil }
  }

  /// What the terminal showed, for failure messages.
  var screen: String {
    "--- terminal:\n" + output.lines.map { "  " + $0.debugDescription }.joined(separator: "\n")
  }

  /// SIGKILLs the shell and forge attach (its group), and whatever else carries `marker`.
  func kill() {
    _ = Glibc.kill(-pid, SIGKILL)
    let entry = "\(ForgeHarness.markerVariable)=\(marker)"
    for other in marker.isEmpty ? [] : ProcFS.processes(withEnvironmentEntry: entry) { _ = Glibc.kill(other, SIGKILL) }
    _ = try? waitForExit(timeout: 5)
  }
}
