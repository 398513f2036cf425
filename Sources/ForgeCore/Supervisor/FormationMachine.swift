/// The engine's rules as a value: inputs in, actions out, the time handed in, no system calls.
///
/// Each instance has what is wanted of it (`Want`, runit's `want`) apart from what it is
/// (`State`), and every `handle` ends in one reconcile step that brings the touched instances
/// from one to the other and then asks whether the formation as a whole has anything left to
/// wait for. Process groups are tracked apart from instances, because a group outlives its
/// leader when background children stay behind, while the instance may already run again in a
/// new group. Every timer lives in one heap, so a wake-up costs O(log n), not O(formation).
///
/// The driver (`Supervisor`) turns epoll events into inputs, performs the actions in order, and
/// feeds back what they found (a spawned pid, an empty group, a refused signal).
struct FormationMachine {
  struct InstanceID: Hashable, Comparable, Sendable {
    let typeIndex: Int
    let number: Int

    static func < (a: Self, b: Self) -> Bool { (a.typeIndex, a.number) < (b.typeIndex, b.number) }
  }

  struct ProcessType: Equatable, Sendable {
    let name: String
    let restart: RestartPolicy.Mode
    let teardown: Teardown
    /// nil: ready as soon as it has started.
    var readiness: Probe? = nil
    var readyTimeout: Deadline = 60_000_000_000
    var health: Probe? = nil
    var healthInterval: Deadline = 10_000_000_000
    /// Types that must be ready (or done) before this one starts.
    var gates: [Gate] = []
    /// Types whose gates name this one.
    var dependents: [Int] = []
    /// Another type waits for it to finish: its clean exit does not end the formation.
    var isTask = false
    /// Stopped in this stage: dependents first (0), then what they depend on.
    var stopStage = 0
    /// Its place in the Procfile, which gives its ports.
    var position = 0
    /// No longer in the Procfile (removed by a reload).
    var removed = false
  }

  struct Gate: Equatable, Sendable {
    let typeIndex: Int
    let condition: StartOrder.Condition
  }

  struct Rules: Equatable, Sendable {
    var types: [ProcessType]
    var restart = RestartPolicy()
    /// How processes left behind outside the formation's groups are stopped at the end.
    var orphanTeardown: Teardown
    /// How often groups whose leader has exited are looked at: such a group can empty without
    /// a SIGCHLD reaching forge (its last member's parent left with setsid and reaped it).
    var groupRecheck: Deadline = 250_000_000
    /// For the port in readiness messages ("port 5000").
    var basePort = 5000
    /// The release new processes are started from.
    var release = ""
  }

  struct TypeCount: Equatable, Sendable {
    let typeIndex: Int
    let count: Int
  }

  enum Want: Equatable, Sendable {
    case up
    /// `forge restart`: stop it, then start it again with the same number and port.
    case cycle
    /// Scaled away: stop it, then forget it.
    case gone
    /// It failed without exiting (not ready in time): stop it, then apply the restart policy
    /// as for an exit with status 1.
    case recover
  }

  enum State: Equatable, Sendable {
    /// Spawned at `until`; `isRestart` when a restart policy brings it back (counted then).
    case waiting(until: Deadline, isRestart: Bool)
    /// A spawn action is out; `spawned` or `spawnFailed` comes next.
    case spawning
    case running(pid: Int32)
    /// Its group was asked to stop; `leader` is the leader's status once reaped.
    case stopping(group: Int32, leader: WaitStatus?)
    /// Ended and not started again; the status of its last process, if it ever ran.
    case exited(WaitStatus?)
  }

  struct Instance: Sendable {
    let id: InstanceID
    var want = Want.up
    var state: State
    var restarts = 0
    var pid: Int32 = 0
    var startedAt: Deadline = 0
    /// How its last process ended.
    var lastStatus: WaitStatus?
    /// When its current process became ready (nil: not yet).
    var readyAt: Deadline?
    /// The next readiness or health probe, and the readiness deadline.
    var nextProbeAt: Deadline?
    var probeInterval: Deadline = 0
    var readyDeadline: Deadline?
    var healthFailures = 0
    var healthy: Bool?
    /// `STATUS=` from sd_notify.
    var statusText: String?
    /// "waiting for redis (ready)" was said for the current wait.
    var toldWaiting = false
    /// The release its current (or last) process was started from.
    var release = ""
    /// Stopped by a restart or reload to be replaced: its next spawn is the replacement.
    var replacing = false
    /// Times of recent exits that led to a restart, for the give-up window.
    var failures: [Deadline] = []
    var backoffSeconds = 0.0
  }

  struct Group: Sendable {
    let owner: InstanceID
    var leaderRunning = true
    var stage: Teardown.Stage?
    var refused = false
  }

  enum Phase: Equatable, Sendable {
    case running
    /// Every group is being torn down.
    case stopping
    /// The groups are gone; children left outside them are being torn down.
    case sweeping(Teardown.Stage)
    /// Everything is gone; the pipes are read out (a SIGINT or SIGTERM now skips the rest).
    case draining
    case finished(Int32)
  }

  enum TimerKey: Hashable, Sendable {
    case spawn(InstanceID)
    case group(Int32)
    case sweep
    case recheck
    case probe(InstanceID)
    case readyTimeout(InstanceID)
  }

  /// Replaced by a reload; types keep their index for good (removed ones stay, unused).
  var rules: Rules
  var phase = Phase.running
  var instances: [InstanceID: Instance] = [:]
  var groups: [Int32: Group] = [:]
  /// Per type: instances 1…n are wanted (the formation); higher numbers are leaving.
  var activeCounts: [Int]
  /// Leaders not yet reaped.
  var byPid: [Int32: InstanceID] = [:]
  /// Groups whose leader is reaped but which are not yet seen empty.
  var leaderless: Set<Int32> = []
  var timers = DeadlineHeap<TimerKey>()
  var recheckAt: Deadline?
  /// Instances not `exited`: when none are left and one finished, the formation is done.
  var unfinished = 0
  /// An instance finished successfully and is not restarted (`on-failure` and code 0).
  var completed = false
  /// The first status that ended the formation.
  var decidedStatus: Int32?
  var forcedKill = false
  var unkillable = false
  var childrenMayRemain = false
  /// Groups given up on after SIGKILL: their processes (still forge's children) are no
  /// "processes left outside the formation" to stop all over again.
  var abandonedGroups: Set<Int32> = []
  /// A rolling restart: the instances still to restart, one at a time, and the one under way
  /// (the next goes once it is ready again).
  var rollingQueue: [InstanceID] = []
  var rollingCurrent: InstanceID?
  /// The reload being rolled out, if any; `lastRollout` says how the last one ended.
  var rollout: Rollout?
  var lastRollout: RolloutResult?
  /// The replacement that halted the last rollout: its failure does not end the formation.
  var haltedReplacement: InstanceID?
  /// While stopping: the stage being stopped (dependents first), and the last one.
  var stopStage = 0
  var lastStopStage = 0
  var dirty: [InstanceID] = []
  var output: [Action] = []

  init(rules: Rules) {
    self.rules = rules
    activeCounts = Array(repeating: 0, count: rules.types.count)
    lastStopStage = rules.types.map(\.stopStage).max() ?? 0
    for (index, _) in rules.types.enumerated() where self.rules.types[index].position == 0 && index > 0 {
      self.rules.types[index].position = index  // rules built without positions: Procfile order
    }
  }

  /// When the machine next needs a `timer` input, if ever.
  var nextDeadline: Deadline? { timers.top?.deadline }

  /// The status forge exits with (the README's table), once the formation has ended.
  var exitStatus: Int32 { decidedStatus ?? (unkillable ? 1 : forcedKill ? 137 : 0) }

  mutating func handle(_ input: Input, now: Deadline) -> [Action] {
    switch input {
    case .start(let counts): startFormation(counts, now: now)
    case .spawned(let id, let pid): spawned(id, pid: pid, now: now)
    case .spawnFailed(let id, let reason): spawnFailed(id, reason: reason, now: now)
    case .reaped(let pid, let status): reaped(pid, status: status, now: now)
    case .childrenGone: childrenGone()
    case .groupEmpty(let pgid): groupEmpty(pgid)
    case .signalRefused(let pgid): signalRefused(pgid)
    case .orphans(let signal, let found): orphansSignalled(signal, found: found, now: now)
    case .timer: fireTimers(now: now)
    case .stop(let reason, let escalates): requestStop(reason, escalates: escalates, now: now)
    case .scale(let targets): scale(targets, now: now)
    case .restart(let ids): restart(ids)
    case .restartAll: restartAll()
    case .forward(let signal): forward(signal)
    case .outputDrained: outputDrained()
    case .probeResult(let id, let pid, let purpose, let ok, let detail):
      probeResult(id, pid: pid, purpose: purpose, ok: ok, detail: detail, now: now)
    case .statusText(let id, let pid, let text):
      if case .running(pid)? = instances[id]?.state { instances[id]?.statusText = text }
    case .reload(let plan): reload(plan, now: now)
    case .signal(let number, let ids): signal(number, to: ids)
    }
    reconcile(now: now)
    let actions = output
    output = []
    return actions
  }

  // MARK: - Reconcile

  private mutating func reconcile(now: Deadline) {
    // The formation-wide steps can touch instances again (the next type of a rolling restart,
    // the end of the formation): round again until nothing is left to do.
    var before: Phase
    repeat {
      before = phase
      var index = 0
      while index < dirty.count {
        reconcile(dirty[index], now: now)
        index += 1
      }
      dirty.removeAll(keepingCapacity: true)
      advanceRollingRestart()
      advancePhase(now: now)
    } while !dirty.isEmpty || phase != before
    if leaderless.isEmpty {
      recheckAt = nil  // nothing to look at: its timer entry is stale from now on
    } else if recheckAt == nil {
      recheckAt = now &+ rules.groupRecheck
      timers.push(now &+ rules.groupRecheck, .recheck)
    }
    dropStaleTimers()
  }

  /// Brings one instance from what it is towards what is wanted of it.
  private mutating func reconcile(_ id: InstanceID, now: Deadline) {
    guard let instance = instances[id] else { return }
    let stopping = phase != .running
    switch instance.state {
    case .waiting(let until, let isRestart):
      if instance.want == .gone {
        remove(id)
      } else if stopping {
        setState(id, .exited(instance.lastStatus))
      } else if instance.want == .cycle {
        instances[id]?.want = .up
        setState(id, .waiting(until: now, isRestart: false))
        reconcile(id, now: now)
      } else if until <= now && gatesOpen(for: id) {
        if isRestart { instances[id]?.restarts += 1 }  // counted when it happens, as `docker ps` does
        instances[id]?.toldWaiting = false
        setState(id, .spawning)
        output.append(.spawn(id))
      }
    case .running(let pid):
      if (stopping && rules.types[id.typeIndex].stopStage <= stopStage) || instance.want != .up {
        setState(id, .stopping(group: pid, leader: nil))
        beginTeardown(of: pid, now: now)
      }
    case .stopping(let group, _):
      // Still there, unless the number now belongs to a newer group (the pid was reused).
      if let current = groups[group], current.owner == id { return }
      if stopping {
        setState(id, .exited(instance.lastStatus))
        return
      }
      switch instance.want {
      case .gone:
        remove(id)
      case .cycle, .up:
        instances[id]?.want = .up
        setState(id, .waiting(until: now, isRestart: false))
        reconcile(id, now: now)
      case .recover:
        instances[id]?.want = .up
        instances[id]?.lastStatus = .exited(1)
        setState(id, .exited(.exited(1)))
        applyPolicy(id, status: .exited(1), now: now)
        if case .waiting? = instances[id]?.state { reconcile(id, now: now) }
      }
    case .exited:
      if instance.want == .gone {
        remove(id)
      } else if (instance.want == .cycle || instance.want == .recover) && !stopping {
        instances[id]?.want = .up
        setState(id, .waiting(until: now, isRestart: false))
        reconcile(id, now: now)
      }
    case .spawning:
      break
    }
  }

  /// Every state change goes through here, so the count of unfinished instances stays true.
  mutating func setState(_ id: InstanceID, _ state: State) {
    guard let old = instances[id]?.state else { return }
    if case .exited = old { unfinished += 1 }
    if case .exited = state { unfinished -= 1 }
    instances[id]?.state = state
    if case .running = state {
    } else {
      // Probes and the readiness deadline are for a running process: disarmed with it, so the
      // loop is not woken for nothing.
      instances[id]?.nextProbeAt = nil
      instances[id]?.readyDeadline = nil
    }
    if case .waiting(let until, _) = state { timers.push(until, .spawn(id)) }
  }

  mutating func remove(_ id: InstanceID) {
    guard let instance = instances.removeValue(forKey: id) else { return }
    if case .exited = instance.state {} else { unfinished -= 1 }
    markDependents(of: id.typeIndex)
  }

  mutating func markDirty(_ id: InstanceID) { dirty.append(id) }

  func name(of id: InstanceID) -> String { "\(rules.types[id.typeIndex].name).\(id.number)" }

  mutating func announce(_ id: InstanceID?, _ message: String) { output.append(.announce(id, message)) }

  mutating func event(_ kind: String, _ id: InstanceID?, _ details: [(String, String, Bool)] = []) {
    let release = id.flatMap { instances[$0]?.release }.flatMap { $0.isEmpty ? nil : $0 } ?? rules.release
    output.append(
      .event(
        Event(
          kind: kind, instance: id, release: release,
          details: details.map { Event.Detail(key: $0.0, value: $0.1, isNumber: $0.2) })))
  }

  // MARK: - Timers

  private mutating func fireTimers(now: Deadline) {
    while let entry = timers.top, entry.deadline <= now {
      timers.pop()
      guard isLive(entry) else { continue }
      switch entry.key {
      case .spawn(let id): markDirty(id)
      case .group(let pgid): teardownDeadline(of: pgid, now: now)
      case .sweep: sweepDeadline(now: now)
      case .recheck:
        recheckAt = nil
        if !leaderless.isEmpty { output.append(.probe(leaderless.sorted())) }
      case .probe(let id): probeDue(id, now: now)
      case .readyTimeout(let id): readyTimedOut(id, now: now)
      }
    }
  }

  private func isLive(_ entry: DeadlineHeap<TimerKey>.Entry) -> Bool {
    switch entry.key {
    case .spawn(let id):
      guard case .waiting(let until, _) = instances[id]?.state else { return false }
      return until == entry.deadline
    case .group(let pgid):
      return groups[pgid]?.stage?.deadline == entry.deadline
    case .sweep:
      guard case .sweeping(let stage) = phase else { return false }
      return stage.deadline == entry.deadline
    case .recheck:
      return recheckAt == entry.deadline
    case .probe(let id):
      return instances[id]?.nextProbeAt == entry.deadline
    case .readyTimeout(let id):
      return instances[id]?.readyDeadline == entry.deadline
    }
  }

  /// Keeps the heap's top live, so `nextDeadline` never wakes the loop for nothing.
  private mutating func dropStaleTimers() {
    while let entry = timers.top, !isLive(entry) { timers.pop() }
  }
}
