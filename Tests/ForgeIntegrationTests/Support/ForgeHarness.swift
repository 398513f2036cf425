import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

// The harness for integration tests: they run the real `forge` binary, built next to the test
// bundle, against real Procfiles in temporary directories, and talk to it only the way a user
// would: arguments, environment, signals, its stdout and stderr, and /proc.
//
// Typical use, from a subclass of `ForgeTestCase`:
//
//     let project = try makeProject([
//       "Procfile": "web: exec ./service.sh\n",
//       "service.sh": HelperScripts.service,  // prints "ready pid=N", "got TERM" on SIGTERM
//     ])
//     let forge = try launch(["start", "-t", "1"], in: project)
//     try forge.waitForLine(containing: "ready", from: "web.1")
//     forge.send(SIGTERM)
//     XCTAssertEqual(try forge.waitForExit(), 0)
//     XCTAssertTrue(forge.lines(of: "web.1").contains("got TERM"))
//
// One-shot commands: `let result = try runForge(["check"], in: project)` gives the status,
// stdout and stderr. Where stdout goes is chosen per launch (`StdoutMode`): a pipe (the
// default), a pipe closed after N lines (`| head -n N`), a pipe nobody reads until told
// (back-pressure), a pseudo-terminal (colour and timestamp defaults), or no stdout at all.
//
// Synchronisation is by readiness, never by sleeping: wait for a line of output
// (`waitForLine`), for forge's exit (`waitForExit`), or, for state with no event to wait on
// (a process disappearing from /proc), poll a condition with a deadline (`eventually`).
// A failed wait throws `HarnessError` with forge's output so far and the processes it left.
//
// forge runs with a controlled environment (`ForgeHarness.baseEnvironment`: PATH, HOME, LANG
// and a marker; no NO_COLOR, TERM or FORGE_*) plus what the test adds. Every process a test
// starts is killed in `tearDown`, together with every descendant that still carries the
// launch's marker variable (see `ForgeHarness.markerVariable`), so a failing test leaves
// nothing behind; the project directories are removed.
//
// The binary is `forge` next to the test bundle (`<scratch>/debug/forge`), or `$FORGE_BIN`.

// MARK: - Errors

/// A harness failure: a wait that timed out, a process that could not be started. Thrown from
/// `throws` test methods, it fails the test with the message, which includes what forge has
/// printed so far.
struct HarnessError: Error, CustomStringConvertible {
  let description: String

  init(_ description: String) {
    self.description = description
  }
}

// MARK: - Locating the binary and the environment

enum ForgeHarness {
  /// Default timeout of every wait. Generous, because the machine may be busy with other
  /// builds; a passing test never waits this long.
  static let defaultTimeout: TimeInterval = 15

  /// The variable set (to a unique value per launch) in forge's environment. forge passes its
  /// environment on to its processes, so every descendant carries it; that is how teardown
  /// finds leftover processes, wherever they were reparented. It shows up in `forge env`.
  static let markerVariable = "ITEST_MARKER"

  /// fcntl's F_SETPIPE_SZ (Linux), which Glibc does not export to Swift.
  static let setPipeSize: Int32 = 1031

  /// `PATH` for forge and its processes: the system directories only.
  static let path = "/usr/local/bin:/usr/bin:/bin"

  /// The forge binary under test: `$FORGE_BIN` if set, else `forge` in the directory of the
  /// running test bundle (SwiftPM puts both in `<scratch>/debug`), or in a parent of it.
  static func forgeBinary() throws -> String {
    if let given = ProcessInfo.processInfo.environment["FORGE_BIN"], !given.isEmpty {
      guard access(given, X_OK) == 0 else { throw HarnessError("FORGE_BIN=\(given) is not an executable") }
      return given
    }
    var candidates: [String] = []
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
      candidates.append(exe)
    }
    candidates.append(Bundle.main.bundlePath)
    if let first = CommandLine.arguments.first { candidates.append(first) }
    for candidate in candidates {
      var directory = URL(fileURLWithPath: candidate).deletingLastPathComponent()
      for _ in 0..<4 {
        let forge = directory.appendingPathComponent("forge").path
        if access(forge, X_OK) == 0 && !isDirectory(forge) { return forge }
        directory = directory.deletingLastPathComponent()
      }
    }
    throw HarnessError(
      "cannot find the forge binary next to the test bundle (\(candidates)); build it or set FORGE_BIN")
  }

  /// The environment forge runs with unless a test adds to it: a fixed PATH, HOME in the
  /// project, a UTF-8 locale, and the marker. Deliberately without NO_COLOR, TERM and any
  /// FORGE_* variable of the environment the tests run in.
  static func baseEnvironment(home: String, marker: String) -> [String: String] {
    ["PATH": path, "HOME": home, "LANG": "C.UTF-8", markerVariable: marker]
  }

  /// Path of an interpreter on the controlled PATH, or nil (tests needing it then skip).
  static func which(_ program: String) -> String? {
    for directory in path.split(separator: ":") {
      let candidate = "\(directory)/\(program)"
      if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
  }

  static func isDirectory(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
  }
}

/// A NUL-terminated C string buffer as a String.
func string(fromCString buffer: [CChar]) -> String {
  String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

// MARK: - Project directories

/// A temporary application directory: a Procfile, env files, helper scripts. Removed when the
/// test ends.
final class ForgeProject {
  /// Absolute path, symlinks resolved (it is forge's working directory and root).
  let directory: String

  /// Creates the directory with `files` (relative path → contents). A file whose contents
  /// start with `#!` is made executable.
  init(files: [String: String] = [:]) throws {
    var template = Array("/tmp/forge-itest.XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else {
      throw HarnessError("mkdtemp failed: \(String(cString: strerror(errno)))")
    }
    var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    directory = realpath(made, &resolved) != nil ? string(fromCString: resolved) : string(fromCString: template)
    for (name, contents) in files.sorted(by: { $0.key < $1.key }) {
      try write(name, contents)
    }
  }

  /// The absolute path of `name` in the project.
  func path(_ name: String) -> String {
    name.hasPrefix("/") ? name : directory + "/" + name
  }

  /// Writes a text file (creating directories); `#!` files, or `executable`, get mode 0755.
  func write(_ name: String, _ contents: String, executable: Bool? = nil) throws {
    try write(name, bytes: Array(contents.utf8), executable: executable ?? contents.hasPrefix("#!"))
  }

  /// Writes raw bytes (for files that are not valid UTF-8).
  func write(_ name: String, bytes: [UInt8], executable: Bool = false) throws {
    let url = URL(fileURLWithPath: path(name))
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(bytes).write(to: url)
    try FileManager.default.setAttributes([.posixPermissions: executable ? 0o755 : 0o644], ofItemAtPath: url.path)
  }

  /// The contents of a file a process wrote, or nil if it does not exist (yet).
  func read(_ name: String) -> String? {
    guard let data = FileManager.default.contents(atPath: path(name)) else { return nil }
    return String(decoding: data, as: UTF8.self)
  }

  func exists(_ name: String) -> Bool {
    access(path(name), F_OK) == 0
  }

  func remove() {
    try? FileManager.default.removeItem(atPath: directory)
  }
}

// MARK: - Output capture

/// The bytes of one output stream of forge (stdout or stderr), read on a background thread as
/// they arrive. Lines are split at "\n"; a final partial line counts once the stream has ended.
/// Thread-safe: the reader appends under a condition that waiters block on.
final class OutputCapture: @unchecked Sendable {
  let name: String
  private let condition = NSCondition()
  private var data: [UInt8] = []
  private var completeLines: [String] = []
  private var partial: [UInt8] = []
  private var ended = false
  /// Lines from a terminal end in "\r\n" unless it is raw; stripped either way.
  private let stripsCarriageReturns: Bool
  /// After this many complete lines the reader closes its end, as `head -n N` would.
  private let closeAfterLines: Int?
  /// While set, the reader reads nothing, so the writer fills the pipe and then blocks.
  private var paused: Bool
  /// The most one read takes.
  private let chunkSize: Int

  init(
    name: String, stripsCarriageReturns: Bool = false, closeAfterLines: Int? = nil, paused: Bool = false,
    chunkSize: Int = 65536
  ) {
    self.name = name
    self.chunkSize = chunkSize
    self.stripsCarriageReturns = stripsCarriageReturns
    self.closeAfterLines = closeAfterLines
    self.paused = paused
  }

  /// Stops reading (a slow or stuck consumer): once the pipe is full, forge's writes block.
  func pause() {
    condition.lock()
    paused = true
    condition.unlock()
  }

  /// Reads again after `pause()` (or a paused start).
  func resume() {
    condition.lock()
    paused = false
    condition.broadcast()
    condition.unlock()
  }

  private func waitWhilePaused() {
    condition.lock()
    while paused { condition.wait() }
    condition.unlock()
  }

  /// Starts the reader thread; it owns `fd` and closes it at the end.
  func startReading(_ fd: Int32) {
    let thread = Thread { [self] in
      var buffer = [UInt8](repeating: 0, count: chunkSize)
      while true {
        waitWhilePaused()
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }  // end of file, or EIO from a terminal whose other side is closed
        if append(buffer[0..<n]) { break }
      }
      close(fd)
      finish()
    }
    thread.name = "forge-itest \(name) reader"
    thread.start()
  }

  /// Returns true when the reader should stop (closeAfterLines reached).
  private func append(_ bytes: ArraySlice<UInt8>) -> Bool {
    condition.lock()
    defer {
      condition.broadcast()
      condition.unlock()
    }
    data.append(contentsOf: bytes)
    for byte in bytes {
      if byte == 0x0A {
        completeLines.append(decode(partial))
        partial.removeAll(keepingCapacity: true)
      } else {
        partial.append(byte)
      }
    }
    if let limit = closeAfterLines, completeLines.count >= limit { return true }
    return false
  }

  private func finish() {
    condition.lock()
    ended = true
    condition.broadcast()
    condition.unlock()
  }

  private func decode(_ bytes: [UInt8]) -> String {
    var line = bytes[...]
    if stripsCarriageReturns { while line.last == 0x0D { line = line.dropLast() } }
    return String(decoding: line, as: UTF8.self)
  }

  /// Everything received so far, invalid UTF-8 replaced by U+FFFD.
  var text: String { String(decoding: bytes, as: UTF8.self) }

  /// Everything received so far, as bytes.
  var bytes: [UInt8] {
    condition.lock()
    defer { condition.unlock() }
    return data
  }

  /// The lines so far, without "\n"; the partial last line once the stream has ended.
  var lines: [String] {
    condition.lock()
    defer { condition.unlock() }
    return linesLocked()
  }

  private func linesLocked() -> [String] {
    ended && !partial.isEmpty ? completeLines + [decode(partial)] : completeLines
  }

  /// Whether the writer side is closed (forge and everything holding the stream exited).
  var hasEnded: Bool {
    condition.lock()
    defer { condition.unlock() }
    return ended
  }

  /// Blocks until `count` lines satisfy `predicate` (returned in order), or nil on timeout or
  /// when the stream ended without them.
  func waitForLines(count: Int = 1, timeout: TimeInterval, where predicate: (String) -> Bool) -> [String]? {
    let deadline = Date(timeIntervalSinceNow: timeout)
    condition.lock()
    defer { condition.unlock() }
    var checked = 0
    var found: [String] = []
    while true {
      let current = linesLocked()
      // Complete lines never change, so only new ones are checked; the partial last line
      // (present only at the end) is checked last.
      while checked < current.count {
        if predicate(current[checked]) { found.append(current[checked]) }
        checked += 1
        if found.count >= count { return found }
      }
      if ended { return nil }
      if !condition.wait(until: deadline) { return nil }
    }
  }

  /// Blocks until the stream has ended; false on timeout.
  func waitForEnd(timeout: TimeInterval) -> Bool {
    let deadline = Date(timeIntervalSinceNow: timeout)
    condition.lock()
    defer { condition.unlock() }
    while !ended {
      if !condition.wait(until: deadline) { return ended }
    }
    return true
  }
}

// MARK: - Parsing forge's text log lines

/// One line of forge's text log stream: `[HH:MM:SS ]web.1    | text`, no colour.
struct LogLine: Equatable {
  var timestamp: String?
  /// `web.1`, or `forge` for forge's own lines.
  var process: String
  /// The name with its padding, as printed (its length is the prefix width).
  var paddedName: String
  var text: String

  /// Parses a text-format line; nil if it has no ` | ` separator.
  init?(_ line: String) {
    guard let separator = line.range(of: " | ") else { return nil }
    var prefix = String(line[..<separator.lowerBound])
    text = String(line[separator.upperBound...])
    if prefix.count > 9, prefix.range(of: #"^\d\d:\d\d:\d\d "#, options: .regularExpression) != nil {
      timestamp = String(prefix.prefix(8))
      prefix = String(prefix.dropFirst(9))
    }
    paddedName = prefix
    process = prefix.trimmingCharacters(in: .whitespaces)
    guard !process.isEmpty, !process.contains(" ") else { return nil }
  }
}

// MARK: - /proc

/// Process state from /proc, for checks that have no output to wait on.
enum ProcFS {
  struct Stat {
    let pid: pid_t
    /// R, S, D, Z (zombie), T, X…
    let state: Character
    let ppid: pid_t
    let pgrp: pid_t
    let session: pid_t
  }

  /// /proc/PID/stat, or nil when there is no such process.
  static func stat(_ pid: pid_t) -> Stat? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = text.lastIndex(of: ")")
    else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count >= 4, let state = fields[0].first, let ppid = pid_t(fields[1]),
      let pgrp = pid_t(fields[2]), let session = pid_t(fields[3])
    else { return nil }
    return Stat(pid: pid, state: state, ppid: ppid, pgrp: pgrp, session: session)
  }

  /// Whether `pid` is a live process (exists and is not a zombie).
  static func isAlive(_ pid: pid_t) -> Bool {
    guard let state = stat(pid)?.state else { return false }
    return state != "Z" && state != "X"
  }

  static func isZombie(_ pid: pid_t) -> Bool {
    stat(pid)?.state == "Z"
  }

  /// The command line of `pid`, arguments separated by spaces ("" if gone).
  static func commandLine(_ pid: pid_t) -> String {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return "" }
    return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
  }

  /// Every pid in /proc.
  static func allPids() -> [pid_t] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.compactMap { pid_t($0) }
  }

  /// The processes whose parent is `pid`.
  static func children(of pid: pid_t) -> [Stat] {
    allPids().compactMap { stat($0) }.filter { $0.ppid == pid }
  }

  /// The kernel function `pid` sleeps in (/proc/PID/wchan), e.g. "anon_pipe_write" while it is
  /// blocked writing to a full pipe; "" if gone or not sleeping.
  static func waitChannel(_ pid: pid_t) -> String {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/wchan") else { return "" }
    let text = String(decoding: data, as: UTF8.self)
    return text == "0" ? "" : text
  }

  /// Whether `pid` is blocked writing to a full pipe.
  static func isBlockedOnPipeWrite(_ pid: pid_t) -> Bool {
    waitChannel(pid).contains("pipe_write")
  }

  /// The zombie children of `pid`: exited but not reaped by it.
  static func zombieChildren(of pid: pid_t) -> [pid_t] {
    children(of: pid).filter { $0.state == "Z" }.map(\.pid)
  }

  /// Live processes whose environment contains `entry` (`NAME=value`) exactly.
  static func processes(withEnvironmentEntry entry: String) -> [pid_t] {
    let needle = Array(entry.utf8) + [0]
    return allPids().filter { pid in
      guard pid != getpid(), let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else {
        return false
      }
      let bytes = [UInt8](data)
      // Entries are NUL-terminated; match at the start or right after a NUL.
      var start = 0
      while start + needle.count <= bytes.count {
        if bytes[start..<(start + needle.count)].elementsEqual(needle) { return isAlive(pid) }
        guard let nul = bytes[start...].firstIndex(of: 0) else { break }
        start = nul + 1
      }
      return false
    }
  }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held. For state
/// that no output announces (a pid gone from /proc), not for waiting on forge's output.
@discardableResult
func eventually(
  timeout: TimeInterval = ForgeHarness.defaultTimeout, interval: TimeInterval = 0.02, _ condition: () -> Bool
) -> Bool {
  let deadline = Date(timeIntervalSinceNow: timeout)
  while true {
    if condition() { return true }
    if Date() >= deadline { return false }
    Thread.sleep(forTimeInterval: interval)
  }
}

// MARK: - A running forge

/// Where forge's stdout goes.
enum StdoutMode {
  /// A pipe read by the harness.
  case pipe
  /// A pipe whose reader closes it after N lines, as `forge start | head -n N` would.
  case closeAfterLines(Int)
  /// A pipe that is not read until `forge.stdout.resume()`: forge's stdout fills and blocks.
  case pausedPipe
  /// No stdout at all: descriptor 1 is closed when forge starts (`forge start >&-`).
  case closed
  /// A slow consumer: a pipe of one page, read 512 bytes at a time, so forge's writes keep
  /// filling it and waiting for room.
  case trickle
  /// A pseudo-terminal (raw mode, so no "\r" is added): forge sees `isatty(1)`.
  case terminal
}

/// One forge process started by the harness. stdin is /dev/null; stdout and stderr are read
/// by background threads into `stdout` and `stderr`. forge runs in a process group of its
/// own, so signals sent to the test's group never reach it.
final class ForgeProcess: @unchecked Sendable {
  let pid: pid_t
  let arguments: [String]
  let stdout: OutputCapture
  let stderr: OutputCapture
  /// The value of `ForgeHarness.markerVariable` in its environment.
  let marker: String
  /// When it was started (monotonic enough for test timing).
  let startedAt = Date()

  private let condition = NSCondition()
  private var rawStatus: Int32?
  private(set) var exitedAt: Date?

  /// Starts `binary` with `arguments` (without argv[0]) in `directory` with exactly
  /// `environment`.
  init(
    binary: String, arguments: [String], directory: String, environment: [String: String],
    stdoutMode: StdoutMode = .pipe
  ) throws {
    self.arguments = arguments
    marker = environment[ForgeHarness.markerVariable] ?? ""

    var outFDs: [Int32] = [-1, -1]
    var errFDs: [Int32] = [-1, -1]
    var terminalName: String? = nil
    switch stdoutMode {
    case .pipe, .closeAfterLines, .pausedPipe, .closed, .trickle:
      guard pipe2(&outFDs, O_CLOEXEC) == 0 else { throw HarnessError("pipe2: \(String(cString: strerror(errno)))") }
      switch stdoutMode {
      case .trickle: _ = fcntl(outFDs[1], ForgeHarness.setPipeSize, 4096)
      default: break
      }
    case .terminal:
      let primary = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)
      guard primary >= 0, grantpt(primary) == 0, unlockpt(primary) == 0 else {
        throw HarnessError("posix_openpt: \(String(cString: strerror(errno)))")
      }
      var name = [CChar](repeating: 0, count: 128)
      guard ptsname_r(primary, &name, name.count) == 0 else { throw HarnessError("ptsname_r failed") }
      terminalName = string(fromCString: name)
      let replica = open(terminalName!, O_RDWR | O_NOCTTY | O_CLOEXEC)
      guard replica >= 0 else { throw HarnessError("open \(terminalName!): \(String(cString: strerror(errno)))") }
      var settings = termios()
      tcgetattr(replica, &settings)
      cfmakeraw(&settings)
      tcsetattr(replica, TCSANOW, &settings)
      outFDs = [primary, replica]
    }
    guard pipe2(&errFDs, O_CLOEXEC) == 0 else { throw HarnessError("pipe2: \(String(cString: strerror(errno)))") }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    if case .closed = stdoutMode {
      posix_spawn_file_actions_addclose(&actions, 1)
    } else {
      posix_spawn_file_actions_adddup2(&actions, outFDs[1], 1)
    }
    posix_spawn_file_actions_adddup2(&actions, errFDs[1], 2)
    posix_spawn_file_actions_addchdir_np(&actions, directory)
    // Nothing of the test process (XCTest's sockets, SwiftPM's pipes) leaks into forge.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3)

    let (child, result) = spawnCleanly(
      binary, arguments, environment, &actions, flags: POSIX_SPAWN_SETPGROUP)
    close(outFDs[1])
    close(errFDs[1])
    guard result == 0 else {
      close(outFDs[0])
      close(errFDs[0])
      throw HarnessError("posix_spawn \(binary): \(String(cString: strerror(result)))")
    }
    pid = child
    let spawned = child

    switch stdoutMode {
    case .pipe, .closed: stdout = OutputCapture(name: "stdout")
    case .trickle: stdout = OutputCapture(name: "stdout", chunkSize: 512)
    case .closeAfterLines(let n): stdout = OutputCapture(name: "stdout", closeAfterLines: n)
    case .pausedPipe: stdout = OutputCapture(name: "stdout", paused: true)
    case .terminal: stdout = OutputCapture(name: "stdout", stripsCarriageReturns: true)
    }
    stderr = OutputCapture(name: "stderr")
    stdout.startReading(outFDs[0])
    stderr.startReading(errFDs[0])

    let waiter = Thread { [self] in
      var status: Int32 = 0
      while waitpid(spawned, &status, 0) < 0 && errno == EINTR {}
      condition.lock()
      rawStatus = status
      exitedAt = Date()
      condition.broadcast()
      condition.unlock()
    }
    waiter.name = "forge-itest waitpid \(spawned)"
    waiter.start()
  }

  // MARK: Exit

  /// Whether forge has exited (and been reaped by the harness).
  var hasExited: Bool {
    condition.lock()
    defer { condition.unlock() }
    return rawStatus != nil
  }

  /// forge's exit status in shell convention: the exit code, or 128 + N if signal N killed it;
  /// nil while it runs.
  var exitStatus: Int32? {
    condition.lock()
    defer { condition.unlock() }
    return rawStatus.map(Self.shellStatus)
  }

  static func shellStatus(_ raw: Int32) -> Int32 {
    let signal = raw & 0x7f
    return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
  }

  /// Seconds from launch to exit, once exited.
  var runningTime: TimeInterval? {
    condition.lock()
    defer { condition.unlock() }
    return exitedAt.map { $0.timeIntervalSince(startedAt) }
  }

  /// Waits for forge to exit and for its stdout and stderr to be read to the end; returns its
  /// status (see `exitStatus`). On timeout, kills forge and its processes and throws.
  @discardableResult
  func waitForExit(timeout: TimeInterval = ForgeHarness.defaultTimeout) throws -> Int32 {
    let deadline = Date(timeIntervalSinceNow: timeout)
    condition.lock()
    while rawStatus == nil {
      if !condition.wait(until: deadline) { break }
    }
    let status = rawStatus.map(Self.shellStatus)
    condition.unlock()
    guard let status else {
      let report = transcript()
      killAll()
      throw HarnessError("forge \(arguments.joined(separator: " ")) did not exit within \(timeout) s\n\(report)")
    }
    // Descendants may hold the stream open; a bounded wait, then what there is.
    _ = stdout.waitForEnd(timeout: 5)
    _ = stderr.waitForEnd(timeout: 5)
    return status
  }

  // MARK: Output

  /// Blocks until a line of `stream` (stdout by default) contains `text`, optionally only
  /// lines of one process (`from: "web.1"`, or `"forge"`; text format only), and returns it.
  /// With `count`, waits for that many such lines and returns the last. Throws on timeout
  /// or when the stream ends without it.
  @discardableResult
  func waitForLine(
    containing text: String, from process: String? = nil, count: Int = 1,
    in stream: KeyPath<ForgeProcess, OutputCapture> = \.stdout,
    timeout: TimeInterval = ForgeHarness.defaultTimeout
  ) throws -> String {
    let what = "a line containing \"\(text)\"" + (process.map { " from \($0)" } ?? "")
    return try waitForLines(what, count: count, in: stream, timeout: timeout) { line in
      guard line.contains(text) else { return false }
      guard let process else { return true }
      guard let parsed = LogLine(line) else { return false }
      return parsed.process == process && parsed.text.contains(text)
    }.last!
  }

  /// Blocks until a line of `stream` matches the regular expression `pattern`; returns it.
  @discardableResult
  func waitForLine(
    matching pattern: String, count: Int = 1, in stream: KeyPath<ForgeProcess, OutputCapture> = \.stdout,
    timeout: TimeInterval = ForgeHarness.defaultTimeout
  ) throws -> String {
    let regex = try NSRegularExpression(pattern: pattern)
    return try waitForLines("a line matching /\(pattern)/", count: count, in: stream, timeout: timeout) { line in
      regex.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil
    }.last!
  }

  /// Blocks until `count` lines satisfy `predicate`; returns them. `what` describes them in
  /// the failure message.
  func waitForLines(
    _ what: String, count: Int = 1, in stream: KeyPath<ForgeProcess, OutputCapture> = \.stdout,
    timeout: TimeInterval = ForgeHarness.defaultTimeout, where predicate: (String) -> Bool
  ) throws -> [String] {
    let capture = self[keyPath: stream]
    if let lines = capture.waitForLines(count: count, timeout: timeout, where: predicate) { return lines }
    let reason = capture.hasEnded ? "the stream ended" : "timed out after \(timeout) s"
    throw HarnessError(
      "waiting for \(count == 1 ? "" : "\(count) × ")\(what) on \(capture.name): \(reason)\n\(transcript())")
  }

  /// The parsed text-format stdout lines (those with a ` | ` prefix).
  var logLines: [LogLine] { stdout.lines.compactMap(LogLine.init) }

  /// The texts of one process's lines on stdout (`"web.1"`, `"forge"`), in order.
  func lines(of process: String) -> [String] {
    logLines.filter { $0.process == process }.map(\.text)
  }

  /// stdout and stderr so far, for failure messages.
  func transcript(lastLines: Int = 60) -> String {
    func tail(_ capture: OutputCapture) -> String {
      let lines = capture.lines
      let shown = lines.suffix(lastLines)
      let skipped = lines.count - shown.count
      return (skipped > 0 ? "  … \(skipped) lines\n" : "") + shown.map { "  " + $0 }.joined(separator: "\n")
    }
    var text = "--- stdout:\n\(tail(stdout))\n--- stderr:\n\(tail(stderr))\n"
    let processes = markedProcesses()
    if !processes.isEmpty {
      text += "--- live processes it started (pid ppid pgrp state command):\n"
      for pid in processes {
        let stat = ProcFS.stat(pid)
        text += "  \(pid) \(stat?.ppid ?? 0) \(stat?.pgrp ?? 0) \(stat.map { String($0.state) } ?? "?") "
        text += ProcFS.commandLine(pid) + "\n"
      }
    }
    return text + "---"
  }

  // MARK: Signals and processes

  /// Sends `signal` to forge itself (not its group).
  func send(_ signal: Int32) {
    if !hasExited { _ = kill(pid, signal) }
  }

  /// Whether forge is still running (not yet exited).
  var isRunning: Bool { !hasExited }

  /// forge's child processes right now (from /proc).
  func children() -> [ProcFS.Stat] {
    ProcFS.children(of: pid)
  }

  /// forge's children that have exited but that forge has not reaped.
  func zombieChildren() -> [pid_t] {
    ProcFS.zombieChildren(of: pid)
  }

  /// Live processes started under this forge (carrying its marker), forge itself excluded,
  /// wherever they are now.
  func markedProcesses() -> [pid_t] {
    guard !marker.isEmpty else { return [] }
    return ProcFS.processes(withEnvironmentEntry: "\(ForgeHarness.markerVariable)=\(marker)").filter { $0 != pid }
  }

  /// SIGKILLs forge and everything it started, and reaps forge. For cleanup.
  func killAll() {
    // The descendants first, so none is left to be reparented unseen.
    for _ in 0..<3 {
      let pids = markedProcesses()
      if pids.isEmpty { break }
      for p in pids { kill(p, SIGKILL) }
    }
    if !hasExited { kill(pid, SIGKILL) }
    condition.lock()
    let deadline = Date(timeIntervalSinceNow: 5)
    while rawStatus == nil {
      if !condition.wait(until: deadline) { break }
    }
    condition.unlock()
    for p in markedProcesses() { kill(p, SIGKILL) }
  }
}

/// The outcome of a forge command run to completion (`forge check`, `forge env`).
struct ForgeResult {
  let status: Int32
  let stdout: String
  let stderr: String

  var stdoutLines: [String] {
    stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLastIfEmpty()
  }
  var stderrLines: [String] {
    stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLastIfEmpty()
  }
}

extension Array where Element == String {
  fileprivate func dropLastIfEmpty() -> [String] {
    last == "" ? Array(dropLast()) : self
  }
}

// MARK: - Base test case

/// Base class of the integration tests: makes projects, launches forge, and cleans up after
/// every test (kills what is left, removes the directories).
class ForgeTestCase: XCTestCase {
  private var projects: [ForgeProject] = []
  private var launched: [ForgeProcess] = []

  /// A new temporary project with `files` (see `ForgeProject.init`).
  func makeProject(_ files: [String: String] = [:]) throws -> ForgeProject {
    let project = try ForgeProject(files: files)
    projects.append(project)
    return project
  }

  /// The environment forge gets in `project`: the harness's base plus `extra` (which wins).
  func environment(for project: ForgeProject, adding extra: [String: String] = [:]) -> [String: String] {
    var environment = ForgeHarness.baseEnvironment(home: project.directory, marker: UUID().uuidString)
    for (key, value) in extra { environment[key] = value }
    return environment
  }

  /// Starts `forge <arguments>` in `project` (or `directory`, relative to the project) and
  /// returns at once; the process is killed at teardown if still running.
  func launch(
    _ arguments: [String], in project: ForgeProject, directory: String? = nil,
    environment extra: [String: String] = [:], stdout: StdoutMode = .pipe
  ) throws -> ForgeProcess {
    let forge = try ForgeProcess(
      binary: try ForgeHarness.forgeBinary(), arguments: arguments,
      directory: directory.map(project.path) ?? project.directory,
      environment: environment(for: project, adding: extra), stdoutMode: stdout)
    launched.append(forge)
    return forge
  }

  /// Runs `forge <arguments>` to completion (for commands that exit by themselves).
  func runForge(
    _ arguments: [String], in project: ForgeProject, directory: String? = nil,
    environment extra: [String: String] = [:], timeout: TimeInterval = ForgeHarness.defaultTimeout
  ) throws -> ForgeResult {
    let forge = try launch(arguments, in: project, directory: directory, environment: extra)
    let status = try forge.waitForExit(timeout: timeout)
    return ForgeResult(status: status, stdout: forge.stdout.text, stderr: forge.stderr.text)
  }

  override func tearDown() {
    for forge in launched { forge.killAll() }
    launched.removeAll()
    for project in projects { project.remove() }
    projects.removeAll()
    super.tearDown()
  }
}

/// posix_spawn with the signal state forge gives its own children (empty mask, default
/// dispositions); `flags` adds POSIX_SPAWN_SETPGROUP (own group) or POSIX_SPAWN_SETSID.
/// Returns the pid and posix_spawn's error number (0 on success).
func spawnCleanly(
  _ binary: String, _ arguments: [String], _ environment: [String: String],
  _ actions: inout posix_spawn_file_actions_t, flags: Int32
) -> (pid: pid_t, error: Int32) {
  var attributes = posix_spawnattr_t()
  posix_spawnattr_init(&attributes)
  defer { posix_spawnattr_destroy(&attributes) }
  var empty = sigset_t()
  sigemptyset(&empty)
  var all = sigset_t()
  sigfillset(&all)
  posix_spawnattr_setsigmask(&attributes, &empty)
  posix_spawnattr_setsigdefault(&attributes, &all)
  posix_spawnattr_setpgroup(&attributes, 0)
  posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | flags))

  let argv = [binary] + arguments
  let envp = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
  var cArgv: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
  var cEnvp: [UnsafeMutablePointer<CChar>?] = envp.map { strdup($0) } + [nil]
  defer {
    for p in cArgv { free(p) }
    for p in cEnvp { free(p) }
  }
  var child: pid_t = 0
  let result = posix_spawn(&child, binary, &actions, &attributes, &cArgv, &cEnvp)
  return (child, result)
}
