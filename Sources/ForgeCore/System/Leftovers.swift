import CGlibcLinux
import Glibc

/// What a forge that died left running, found from its state file and /proc.
struct Leftover: Equatable {
  let entry: StateFile.Entry
  /// The processes still in the instance's group (pid, command).
  let processes: [(pid: Int32, command: String)]

  static func == (a: Leftover, b: Leftover) -> Bool {
    a.entry == b.entry && a.processes.map(\.pid) == b.processes.map(\.pid)
  }

  /// "web.1 (pid 4301, port 5100)".
  var label: String { "\(entry.name) (pid \(processes.first?.pid ?? entry.pid), port \(entry.port))" }
}

enum Leftovers {
  /// A process's state letter and start time (clock ticks since boot), nil if it is gone.
  private static func stateAndStart(of pid: Int32) -> (state: String, start: UInt64?)? {
    guard let stat = try? Files.read("/proc/\(pid)/stat"), let fields = ProcessStats.fields(of: stat), fields.count > 19
    else { return nil }
    return (fields[0], UInt64(fields[19]))
  }

  /// A process's start time (clock ticks since boot), nil if it is gone.
  static func startTime(of pid: Int32) -> UInt64? { stateAndStart(of: pid)?.start }

  /// Whether the forge of a state file is gone: its pid is free, another process has it, or it
  /// is a zombie (killed, its parent has not reaped it yet: it serves nothing, and a parent
  /// that never reaps would keep it so for good).
  static func forgeIsGone(_ state: StateFile) -> Bool {
    guard let found = stateAndStart(of: state.forgePID) else { return true }
    return found.state == "Z" || found.start != state.forgeStart
  }

  /// The recorded groups that still have members, counted only when the group's leader (if it
  /// is there) has the recorded start time and every member started no earlier: a reused pid
  /// is never taken for a leftover.
  static func find(_ state: StateFile) -> [Leftover] {
    let groups = Dictionary(state.entries.map { ($0.group, $0) }, uniquingKeysWith: { a, _ in a })
    var members: [Int32: [(Int32, String, UInt64)]] = [:]
    for pid in Files.processIDs() {
      guard let stat = try? Files.read("/proc/\(pid)/stat"),
        let fields = ProcessStats.fields(of: stat), fields.count > 19, let group = Int32(fields[2]),
        groups[group] != nil, fields[0] != "Z", let start = UInt64(fields[19])
      else { continue }
      let open = stat.firstIndex(of: UInt8(ascii: "(")) ?? 0
      let close = stat.lastIndex(of: UInt8(ascii: ")")) ?? 0
      let command = open < close ? String(decoding: stat[(open + 1)..<close], as: UTF8.self) : "?"
      members[group, default: []].append((pid, command, start))
    }
    var found: [Leftover] = []
    for entry in state.entries {
      guard let list = members[entry.group], !list.isEmpty else { continue }
      if let leader = list.first(where: { $0.0 == entry.group }), leader.2 != entry.start { continue }
      guard list.allSatisfy({ $0.2 >= entry.start }) else { continue }
      found.append(Leftover(entry: entry, processes: list.sorted { $0.0 < $1.0 }.map { ($0.0, $0.1) }))
    }
    return found
  }

  /// Stops them: each group's stop signal and SIGCONT, up to `grace`, then SIGKILL and up to
  /// 5 s more. Returns what was still there after that.
  static func stop(_ leftovers: [Leftover], grace: Double) -> [Leftover] {
    for leftover in leftovers {
      _ = signalProcessGroup(leftover.entry.group, leftover.entry.stopSignal)
      _ = signalProcessGroup(leftover.entry.group, SIGCONT)
    }
    var alive = waitGone(leftovers, seconds: grace)
    for leftover in alive { _ = signalProcessGroup(leftover.entry.group, SIGKILL) }
    alive = waitGone(alive, seconds: 5)
    return alive
  }

  private static func waitGone(_ leftovers: [Leftover], seconds: Double) -> [Leftover] {
    var alive = leftovers
    let until = Clock.now() &+ Clock.nanoseconds(seconds: seconds)
    while !alive.isEmpty {
      _ = reapExitedChildren { _, _ in }  // as subreaper, some may be ours to reap
      alive = alive.filter { signalProcessGroup($0.entry.group, 0) != .empty }
      if alive.isEmpty || Clock.now() >= until { break }
      usleep(20_000)
    }
    return alive
  }

  static func read(_ path: String) -> StateFile? {
    guard let bytes = try? Files.read(path) else { return nil }
    return StateFile.decode(bytes)
  }

  /// Replaces the state file atomically (a temporary file renamed over it), mode 0600.
  static func write(_ state: StateFile, to path: String) {
    let temporary = path + ".tmp"
    guard (try? Files.write(temporary, Array(state.encoded().utf8), mode: 0o600)) != nil else { return }
    _ = rename(temporary, path)
  }

  static func remove(_ path: String) { _ = unlink(path) }
}
