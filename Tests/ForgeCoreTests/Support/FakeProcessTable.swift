@testable import ForgeCore

/// SplitMix64: one seed, one sequence, on every platform and in every run.
struct SimRandom {
  private var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// 0 ..< n.
  mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }

  mutating func percent(_ chance: Int) -> Bool { below(100) < chance }

  /// A time between `low` and `high` seconds, to the millisecond.
  mutating func seconds(_ low: Double, _ high: Double) -> Deadline {
    let span = UInt64(((high - low) * 1000).rounded())
    return nanos(low) + (span == 0 ? 0 : next() % (span + 1)) * 1_000_000
  }

  mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

  /// A generator of its own (for one process), so events in another order do not shift the rest.
  mutating func split() -> SimRandom { SimRandom(seed: next()) }
}

/// The kernel's process table as far as forge can see it: process groups led by the spawned
/// leaders, background children that outlive them, children that escape into a group of their
/// own, zombies until forge reaps them, and processes that ignore SIGTERM, survive SIGKILL or
/// belong to another user (EPERM). forge is a child subreaper: orphans become its children.
struct FakeProcessTable {
  enum Reaction: Equatable {
    /// Dies some time after a stop signal (SIGTERM, SIGINT, SIGQUIT).
    case polite
    /// Ignores everything but SIGKILL.
    case stubborn
    /// Survives even SIGKILL (uninterruptible sleep).
    case unkillable
    /// Another user's: kill(2) answers EPERM.
    case foreign
  }

  struct Process {
    let pid: Int32
    let group: Int32
    var parent: Int32
    /// The leader that started it, for a child in the leader's group or one that left it.
    let spawner: Int32?
    let command: String
    let reaction: Reaction
    let stopDelay: Deadline
    let exitsCleanly: Bool
    let diesOnForward: Bool
    /// How long its SIGCHLD takes to reach forge (drawn with the rest of it, so that the order
    /// in which processes die at one instant does not change what happens next).
    let reapDelay: Deadline
    /// When it starts to listen (answers a readiness probe, says READY=1); nil: never.
    let readyAt: Deadline?
    /// When it stops answering health probes; nil: never.
    let unhealthyAt: Deadline?
    var deathAt: Deadline?
    var deathStatus = WaitStatus.exited(0)
    /// Dead and not reaped yet: still in its group, still forge's child.
    var zombie: WaitStatus?
  }

  static let forge: Int32 = 1

  private(set) var processes: [Int32: Process] = [:]
  private(set) var sigchldAt: Deadline?
  private var random: SimRandom
  private var nextPid: Int32 = 1000
  /// Pids given back to the kernel, reused now and then (the lowest free one).
  private var retired: [Int32] = []

  init(random: SimRandom) { self.random = random }

  /// When something next happens on its own: a death, or a SIGCHLD reaching forge.
  var nextEvent: Deadline? {
    var earliest = sigchldAt
    for process in processes.values {
      if let at = process.deathAt, at < earliest ?? .max { earliest = at }
    }
    return earliest
  }

  var hasChildren: Bool { processes.values.contains { $0.parent == Self.forge } }

  func isAlive(_ pid: Int32) -> Bool { processes[pid].map { $0.zombie == nil } ?? false }

  /// What a readiness or health probe of the process finds now.
  func answers(_ pid: Int32, health: Bool, now: Deadline) -> Bool {
    guard let process = processes[pid], process.zombie == nil, let ready = process.readyAt, ready <= now else {
      return false
    }
    return !health || now < process.unhealthyAt ?? .max
  }

  // MARK: - fork

  /// A new leader of its own group (setsid), perhaps with background children in it and a
  /// child that leaves it.
  mutating func spawn(now: Deadline) -> Int32 {
    var own = random.split()
    let leader = allocatePid(reusing: true)
    let reaction = own.below(100)
    add(
      leader, group: leader, parent: Self.forge, command: "sh",
      reaction: reaction < 2 ? .unkillable : reaction < 6 ? .foreign : reaction < 22 ? .stubborn : .polite,
      random: &own, now: now)
    if own.percent(20) {
      for _ in 0...own.below(2) {
        let kind = own.below(100)
        add(
          allocatePid(reusing: false), group: leader, parent: leader, command: "worker",
          reaction: kind < 3 ? .unkillable : kind < 30 ? .stubborn : .polite, random: &own, now: now)
      }
    }
    if own.percent(8) {
      let pid = allocatePid(reusing: false)
      add(
        pid, group: pid, parent: leader, command: "daemon", reaction: own.percent(30) ? .stubborn : .polite,
        random: &own, now: now)
    }
    return leader
  }

  /// Only leaders get a pid again: a stale group record of forge's is then dropped on `spawned`
  /// (an orphan that took over a group id forge still watches is a race no supervisor can see).
  private mutating func allocatePid(reusing: Bool) -> Int32 {
    if reusing, random.percent(15),
      let index = retired.indices.filter({ isFree(retired[$0]) }).min(by: { retired[$0] < retired[$1] })
    {
      return retired.remove(at: index)
    }
    nextPid += 1
    return nextPid
  }

  private mutating func retire(_ pid: Int32) {
    retired.append(pid)
    if retired.count > 64 { retired.removeFirst() }
  }

  /// The kernel hands out a pid again only once no process has it as its id or its group.
  private func isFree(_ pid: Int32) -> Bool { !processes.values.contains { $0.pid == pid || $0.group == pid } }

  private mutating func add(
    _ pid: Int32, group: Int32, parent: Int32, command: String, reaction: Reaction, random own: inout SimRandom,
    now: Deadline
  ) {
    var process = Process(
      pid: pid, group: group, parent: parent, spawner: parent == Self.forge ? nil : parent, command: command,
      reaction: reaction,
      stopDelay: own.percent(10) ? 0 : own.seconds(0, own.percent(80) ? 1 : 12),
      exitsCleanly: own.percent(40), diesOnForward: own.percent(15), reapDelay: own.seconds(0, 0.5),
      readyAt: own.percent(85) ? now + own.seconds(0, 6) : nil,
      unhealthyAt: own.percent(30) ? now + own.seconds(2, 120) : nil)
    let life = own.below(100)
    if life < 25 {
      process.deathAt = now + own.seconds(0, 0.5)  // crashes at once
    } else if life < 60 {
      process.deathAt = now + own.seconds(0.5, 40)
    }
    process.deathStatus = own.pick([.exited(0), .exited(0), .exited(1), .exited(3), .signaled(11), .signaled(6)])
    processes[pid] = process
  }

  // MARK: - kill

  /// kill(-pgid, signal): ESRCH when nobody is in the group (zombies count), EPERM when no
  /// member may be signalled.
  mutating func signalGroup(_ pgid: Int32, _ signal: Int32, now: Deadline) -> GroupSignalResult {
    let members = processes.values.filter { $0.group == pgid }.map(\.pid).sorted()
    guard !members.isEmpty else { return .empty }
    let allowed = members.filter { processes[$0]?.reaction != .foreign }
    guard !allowed.isEmpty else { return .refused }
    for pid in allowed { deliver(signal, to: pid, now: now) }
    return .delivered
  }

  func groupIsEmpty(_ pgid: Int32) -> Bool { !processes.values.contains { $0.group == pgid } }

  private mutating func deliver(_ signal: Int32, to pid: Int32, now: Deadline) {
    guard let process = processes[pid], process.zombie == nil, process.reaction != .foreign else { return }
    switch signal {
    case 0, 18:
      break
    case 9:
      if process.reaction != .unkillable { die(pid, .signaled(9), now: now) }
    case 2, 3, 15:
      guard process.reaction == .polite else { return }
      let at = now + process.stopDelay
      if at < process.deathAt ?? .max {
        processes[pid]?.deathAt = at
        processes[pid]?.deathStatus = process.exitsCleanly ? .exited(0) : .signaled(signal)
      }
      if at <= now { die(pid, processes[pid]!.deathStatus, now: now) }
    default:  // SIGHUP, SIGUSR1, SIGUSR2: the default action ends a process that does not catch it
      if process.diesOnForward && process.reaction != .unkillable { die(pid, .signaled(signal), now: now) }
    }
  }

  /// What the driver's sweep does: forge's living children, each signalled (its group if it
  /// leads one), SIGCONT after all but SIGKILL. Returns their labels.
  mutating func sweep(_ signal: Int32, now: Deadline) -> [String] {
    let children = processes.values.filter { $0.parent == Self.forge && $0.zombie == nil }.map(\.pid).sorted()
    if signal != 0 {
      for pid in children {
        for each in signal == 9 ? [signal] : [signal, 18] {
          if processes[pid]?.group == pid && signalGroup(pid, each, now: now) == .delivered { continue }
          deliver(each, to: pid, now: now)
        }
      }
    }
    return children.map { "\($0) (\(processes[$0]?.command ?? "?"))" }
  }

  // MARK: - Time and wait

  /// Lets every death due by `now` happen, in order.
  mutating func advance(to now: Deadline) {
    while true {
      var due: (at: Deadline, pid: Int32)?
      for process in processes.values {
        guard let at = process.deathAt, at <= now else { continue }
        if let current = due, (current.at, current.pid) < (at, process.pid) { continue }
        due = (at, process.pid)
      }
      guard let due else { return }
      die(due.pid, processes[due.pid]!.deathStatus, now: now)
    }
  }

  private mutating func die(_ pid: Int32, _ status: WaitStatus, now: Deadline) {
    guard let process = processes[pid], process.zombie == nil else { return }
    // Its children are forge's now (child subreaper).
    for child in processes.values where child.parent == pid { processes[child.pid]?.parent = Self.forge }
    if process.parent == Self.forge {
      processes[pid]?.zombie = status
      processes[pid]?.deathAt = nil
      if now + process.reapDelay < sigchldAt ?? .max { sigchldAt = now + process.reapDelay }
    } else {
      processes[pid] = nil  // its living parent reaps it
      retire(pid)
    }
  }

  /// One waitpid(-1, WNOHANG): the lowest zombie, or none and whether forge has no children
  /// (for a driver that feeds each exit before it reaps the next one).
  mutating func reapOne() -> (exit: (pid: Int32, status: WaitStatus)?, none: Bool) {
    sigchldAt = nil
    for pid in processes.keys.sorted() {
      guard let process = processes[pid], process.parent == Self.forge, let status = process.zombie else { continue }
      processes[pid] = nil
      retire(pid)
      return ((pid, status), false)
    }
    return (nil, !hasChildren)
  }

  /// waitpid(-1, WNOHANG) until nothing is left to reap; `none` when forge has no children (ECHILD).
  mutating func reap() -> (exits: [(pid: Int32, status: WaitStatus)], none: Bool) {
    sigchldAt = nil
    var exits: [(pid: Int32, status: WaitStatus)] = []
    for pid in processes.keys.sorted() {
      guard let process = processes[pid], process.parent == Self.forge, let status = process.zombie else { continue }
      processes[pid] = nil
      retire(pid)
      exits.append((pid, status))
    }
    return (exits, !hasChildren)
  }
}
