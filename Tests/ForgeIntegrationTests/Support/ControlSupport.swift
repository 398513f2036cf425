import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

// Helpers for the tests of live control (ControlTests), one-off processes (RunCommandTests)
// and forge in containers (ContainerTests): programs other than forge started the harness's
// way (unshare, setpriv), `forge ps --json` parsed, raw control-socket connections, forge on a
// pseudo-terminal, and forge as PID 1 of a new PID namespace.

// MARK: - Base test case

/// `ForgeTestCase` plus programs that are not forge itself (`unshare … forge start`, `setpriv
/// … forge ps`), started like forge (same environment, marker, captured output) and killed,
/// with everything they started, at teardown.
class ForgeControlTestCase: ForgeTestCase {
  private var programs: [ForgeProcess] = []

  /// Starts `binary arguments` in `project` with the environment forge would get; returns at
  /// once.
  func launchProgram(
    _ binary: String, _ arguments: [String], in project: ForgeProject, environment extra: [String: String] = [:]
  ) throws -> ForgeProcess {
    let process = try ForgeProcess(
      binary: binary, arguments: arguments, directory: project.directory,
      environment: environment(for: project, adding: extra))
    programs.append(process)
    return process
  }

  override func tearDown() {
    for program in programs { program.killAll() }
    programs.removeAll()
    super.tearDown()
  }

  /// Runs `binary arguments` to completion.
  func runProgram(
    _ binary: String, _ arguments: [String], in project: ForgeProject, environment extra: [String: String] = [:],
    timeout: TimeInterval = ForgeHarness.defaultTimeout
  ) throws -> ForgeResult {
    let process = try launchProgram(binary, arguments, in: project, environment: extra)
    let status = try process.waitForExit(timeout: timeout)
    return ForgeResult(status: status, stdout: process.stdout.text, stderr: process.stderr.text)
  }

  /// `forge ps --json` against the forge running in `project`, parsed. Throws if it fails.
  func processTable(
    in project: ForgeProject, environment extra: [String: String] = [:], arguments: [String] = []
  ) throws -> PSTable {
    let result = try runForge(["ps", "--json"] + arguments, in: project, environment: extra)
    guard result.status == 0 else {
      throw HarnessError("forge ps --json exited \(result.status): \(result.stderr)")
    }
    return try PSTable(json: result.stdout)
  }

  /// Runs a forge client command (`scale`, `restart`…) that must succeed; returns its stdout.
  @discardableResult
  func control(
    _ arguments: [String], in project: ForgeProject, environment extra: [String: String] = [:],
    file: StaticString = #filePath, line: UInt = #line
  ) throws -> String {
    let result = try runForge(arguments, in: project, environment: extra)
    XCTAssertEqual(
      result.status, 0, "forge \(arguments.joined(separator: " ")): \(result.stderr)", file: file, line: line)
    XCTAssertEqual(result.stderr, "", "forge \(arguments.joined(separator: " "))", file: file, line: line)
    return result.stdout
  }

  /// Starts a formation in `mode`: as PID 1 of a new PID namespace (skipping the test where
  /// that is not permitted) or as an ordinary child subreaper.
  func startFormation(
    _ arguments: [String], in project: ForgeProject, mode: SupervisorMode, environment extra: [String: String] = [:]
  ) throws -> RunningForge {
    switch mode {
    case .subreaper:
      let forge = try launch(["start"] + arguments, in: project, environment: extra)
      try forge.waitForLine(containing: "release ", from: "forge")
      return RunningForge(process: forge, forgePid: forge.pid, mode: mode)
    case .pid1:
      try PIDNamespace.skipUnlessAvailable()
      let unshare = try launchProgram(
        PIDNamespace.unshare, PIDNamespace.arguments + [try ForgeHarness.forgeBinary(), "start"] + arguments,
        in: project, environment: extra)
      // forge is the child unshare forked into the new namespace; this is its pid out here.
      // (0 if it has already exited: a formation may end by itself at once.)
      var inner: pid_t = 0
      let found = eventually(timeout: 5) {
        inner = ProcFS.children(of: unshare.pid).first?.pid ?? 0
        return inner > 0 || unshare.hasExited
      }
      guard found else { throw HarnessError("no child of unshare \(unshare.pid)\n\(unshare.transcript())") }
      try unshare.waitForLine(containing: "running as PID 1", from: "forge")
      return RunningForge(process: unshare, forgePid: inner, mode: mode)
    }
  }
}

// MARK: - Modes

/// How forge runs: as the init of a container (PID 1 of its own PID namespace) or under another
/// init, as a child subreaper.
enum SupervisorMode: CustomStringConvertible {
  case pid1
  case subreaper

  var description: String { self == .pid1 ? "PID 1" : "subreaper" }
}

/// A `forge start` in either mode. `process` is what the harness started (forge, or unshare
/// around it): its output and exit status are forge's. `forgePid` is forge itself, as seen
/// from the test (outside the namespace): signals go there.
struct RunningForge {
  let process: ForgeProcess
  let forgePid: pid_t
  let mode: SupervisorMode

  /// Signals forge itself (from outside its namespace in PID 1 mode).
  func send(_ signal: Int32) {
    if forgePid > 0 && !process.hasExited { _ = kill(forgePid, signal) }
  }
}

/// `unshare --pid --fork --mount-proc`: whether it works here (it needs root or a user
/// namespace), checked once.
enum PIDNamespace {
  static let unshare = "/usr/bin/unshare"
  static let arguments = ["--pid", "--fork", "--mount-proc"]

  private static let availability: String? = {
    guard access(unshare, X_OK) == 0 else { return "\(unshare) is not installed" }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: unshare)
    process.arguments = arguments + ["/bin/sh", "-c", "test $$ -eq 1"]
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return "cannot run unshare: \(error)" }
    process.waitUntilExit()
    guard process.terminationReason == .exit, process.terminationStatus == 0 else {
      return "`unshare --pid --fork --mount-proc` is not permitted here (status \(process.terminationStatus))"
    }
    return nil
  }()

  static var isAvailable: Bool { availability == nil }

  static func skipUnlessAvailable() throws {
    if let reason = availability {
      throw XCTSkip("cannot run forge as PID 1 of a new PID namespace: \(reason); the subreaper variant still runs")
    }
  }
}

// MARK: - forge ps --json

/// The parsed reply of `forge ps --json`.
struct PSTable {
  struct Row {
    let fields: [String: Any]

    var name: String { fields["name"] as? String ?? "" }
    var type: String { fields["type"] as? String ?? "" }
    var state: String { fields["state"] as? String ?? "" }
    var pid: pid_t? { (fields["pid"] as? NSNumber).map { pid_t(truncating: $0) } }
    var port: Int? { (fields["port"] as? NSNumber).map { Int(truncating: $0) } }
    var restarts: Int? { (fields["restarts"] as? NSNumber).map { Int(truncating: $0) } }
    var uptime: Double? { (fields["uptime"] as? NSNumber).map { Double(truncating: $0) } }
    var nextRetry: Double? { (fields["next_retry"] as? NSNumber).map { Double(truncating: $0) } }
    func isNull(_ key: String) -> Bool { fields[key] is NSNull }
  }

  let rows: [Row]
  let text: String

  init(json: String) throws {
    text = json
    guard let array = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else {
      throw HarnessError("forge ps --json did not print an array of objects: \(json)")
    }
    rows = array.map(Row.init)
  }

  var names: [String] { rows.map(\.name) }

  subscript(name: String) -> Row? { rows.first { $0.name == name } }

  /// The pid of instance `name`, or a harness error naming what ps said.
  func pid(_ name: String) throws -> pid_t {
    guard let pid = self[name]?.pid, pid > 0 else { throw HarnessError("no pid for \(name) in \(text)") }
    return pid
  }
}

// MARK: - Raw control-socket connections

enum RawSocket {
  /// Connects a blocking Unix stream socket to `path` (shorter than 108 bytes).
  static func connect(_ path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
    var address = try makeAddress(path)
    // With _GNU_SOURCE the address is glibc's transparent union.
    let result = withUnsafePointer(to: &address) {
      Glibc.connect(fd, __CONST_SOCKADDR_ARG(__sockaddr_un__: $0), socklen_t(MemoryLayout<sockaddr_un>.size))
    }
    guard result == 0 else {
      let message = String(cString: strerror(errno))
      close(fd)
      throw HarnessError("connect \(path): \(message)")
    }
    return fd
  }

  /// Binds a socket at `path` and closes it without listening: the file stays, nobody answers,
  /// as after a forge that was killed.
  static func leaveStaleSocket(at path: String) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = try makeAddress(path)
    let result = withUnsafePointer(to: &address) {
      bind(fd, __CONST_SOCKADDR_ARG(__sockaddr_un__: $0), socklen_t(MemoryLayout<sockaddr_un>.size))
    }
    guard result == 0 else { throw HarnessError("bind \(path): \(String(cString: strerror(errno)))") }
  }

  private static func makeAddress(_ path: String) throws -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
      throw HarnessError("socket path too long for sockaddr_un: \(path)")
    }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      for (i, byte) in bytes.enumerated() { raw[i] = byte }
      raw[bytes.count] = 0
    }
    return address
  }

  /// Waits until `fd` is readable (data or end of file) for at most `timeout`; false on timeout.
  static func waitReadable(_ fd: Int32, timeout: TimeInterval) -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let deadline = Date(timeIntervalSinceNow: timeout)
    while true {
      let remaining = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
      let n = poll(&entry, 1, remaining)
      if n < 0 && errno == EINTR { continue }
      return n > 0
    }
  }

  /// Everything the peer sends until it closes (after `waitReadable`), or nil on a read error.
  static func readToEnd(_ fd: Int32) -> [UInt8]? {
    var result: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 { return nil }
      if n == 0 { return result }
      result.append(contentsOf: buffer[0..<n])
    }
  }
}

// MARK: - File status

enum FileStatus {
  /// (file type bits, permission bits) of `path` without following a symlink, or nil.
  static func lstatMode(_ path: String) -> (type: mode_t, permissions: mode_t)? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return (info.st_mode & S_IFMT, info.st_mode & 0o7777)
  }

  static func isSocket(_ path: String) -> Bool { lstatMode(path)?.type == S_IFSOCK }
}

// MARK: - A program on a pseudo-terminal

/// Runs a program with stdin, stdout and stderr on a new pseudo-terminal (in a session of its
/// own, so the terminal is its controlling terminal), as from an interactive shell. Returns its
/// status (shell convention) and what it wrote, "\r\n" turned into "\n".
func runOnTerminal(
  _ binary: String, _ arguments: [String], directory: String, environment: [String: String],
  timeout: TimeInterval = ForgeHarness.defaultTimeout
) throws -> (status: Int32, output: String) {
  let primary = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)
  guard primary >= 0, grantpt(primary) == 0, unlockpt(primary) == 0 else {
    throw HarnessError("posix_openpt: \(String(cString: strerror(errno)))")
  }
  defer { close(primary) }
  var name = [CChar](repeating: 0, count: 128)
  guard ptsname_r(primary, &name, name.count) == 0 else { throw HarnessError("ptsname_r failed") }
  let replicaPath = string(fromCString: name)
  // Held open by the test until the child has exited, so reading the primary never hits EIO
  // before the child has opened the terminal itself.
  let replica = open(replicaPath, O_RDWR | O_NOCTTY | O_CLOEXEC)
  guard replica >= 0 else { throw HarnessError("open \(replicaPath): \(String(cString: strerror(errno)))") }
  var replicaOpen = true
  defer { if replicaOpen { close(replica) } }

  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  // Opened after setsid: it becomes the controlling terminal of the new session.
  posix_spawn_file_actions_addopen(&actions, 0, replicaPath, O_RDWR, 0)
  posix_spawn_file_actions_adddup2(&actions, 0, 1)
  posix_spawn_file_actions_adddup2(&actions, 0, 2)
  posix_spawn_file_actions_addchdir_np(&actions, directory)
  let (child, result) = spawnCleanly(binary, arguments, environment, &actions, flags: Int32(POSIX_SPAWN_SETSID))
  guard result == 0 else { throw HarnessError("posix_spawn \(binary): \(String(cString: strerror(result)))") }

  var output: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  var status: Int32 = 0
  var exited = false
  let deadline = Date(timeIntervalSinceNow: timeout)
  while true {
    var entry = pollfd(fd: primary, events: Int16(POLLIN), revents: 0)
    let ready = poll(&entry, 1, 20)
    if ready > 0 {
      let n = buffer.withUnsafeMutableBytes { read(primary, $0.baseAddress, $0.count) }
      if n > 0 {
        output.append(contentsOf: buffer[0..<n])
        continue
      }
      if n <= 0 && exited { break }  // EIO: the terminal's last user is gone
    } else if exited {
      break  // exited and nothing more to read
    }
    if !exited, waitpid(child, &status, WNOHANG) == child {
      exited = true
      // The child is gone: drop the test's replica so the primary reports the end.
      close(replica)
      replicaOpen = false
    }
    if Date() > deadline {
      kill(child, SIGKILL)
      _ = waitpid(child, &status, 0)
      throw HarnessError(
        "\(([binary] + arguments).joined(separator: " ")) on a terminal did not finish within \(timeout) s")
    }
  }
  let text = String(decoding: output, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n")
  return (ForgeProcess.shellStatus(status), text)
}
