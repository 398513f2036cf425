/// Spawns, exits, the restart policy, and the teardown of process groups.
extension FormationMachine {
  mutating func startFormation(_ counts: [Int], now: Deadline) {
    for (typeIndex, count) in counts.enumerated() where typeIndex < activeCounts.count {
      activeCounts[typeIndex] = count
      for number in stride(from: 1, through: count, by: 1) {
        addInstance(InstanceID(typeIndex: typeIndex, number: number), now: now)
      }
    }
  }

  mutating func addInstance(_ id: InstanceID, now: Deadline) {
    instances[id] = Instance(id: id, state: .exited(nil))
    setState(id, .waiting(until: now, isRestart: false))
    markDirty(id)
  }

  mutating func spawned(_ id: InstanceID, pid: Int32, now: Deadline) {
    // A group record under this number is stale: the kernel reuses a process group id only
    // once the group is empty.
    if groups[pid] != nil { groupEmpty(pid) }
    guard let instance = instances[id], instance.state == .spawning else { return }
    byPid[pid] = id
    groups[pid] = Group(owner: id)
    childrenMayRemain = true
    instances[id]?.pid = pid
    instances[id]?.startedAt = now
    setState(id, .running(pid: pid))
    instances[id]?.release = rules.release
    if haltedReplacement == id { haltedReplacement = nil }
    announce(id, "started with pid \(pid)")
    event("started", id, [("pid", String(pid), true)])
    // Once per replacement, for a reload and for a requested restart alike; a crash of the
    // replacement that the policy restarts is not another one.
    if instance.replacing {
      instances[id]?.replacing = false
      if rollout != nil && rollingCurrent == id { announce(id, "replaced (release \(rules.release))") }
      event("replaced", id)
    }
    beginReadiness(id, now: now)
    markDirty(id)  // a stop or scale-down may have come while it was being spawned
  }

  /// A failed spawn is reported on the instance's line and handled like an exit with 127.
  mutating func spawnFailed(_ id: InstanceID, reason: String, now: Deadline) {
    guard let instance = instances[id], instance.state == .spawning else { return }
    announce(id, "failed to start: \(reason)")
    instances[id]?.startedAt = now
    instances[id]?.lastStatus = .exited(127)
    setState(id, .exited(.exited(127)))
    if phase == .running && instance.want == .up { applyPolicy(id, status: .exited(127), now: now) }
    markDirty(id)
  }

  mutating func reaped(_ pid: Int32, status: WaitStatus, now: Deadline) {
    guard status.isTermination else { return }  // a stop or continue report
    guard let id = byPid.removeValue(forKey: pid) else {
      // An orphan reparented to forge, or a member of a group whose leader is gone: such a
      // group may just have emptied.
      if !leaderless.isEmpty { output.append(.probe(leaderless.sorted())) }
      return
    }
    if groups[pid] != nil {
      groups[pid]?.leaderRunning = false
      leaderless.insert(pid)
    }
    output.append(.collectOutput(group: pid))
    announce(id, status.summary)
    event("exited", id, [("status", String(status.shellStatus), true), ("summary", status.summary, false)])
    instances[id]?.lastStatus = status
    switch instances[id]?.state {
    case .running(pid)?:
      // The leader exited on its own. Background children of its group are asked to stop
      // too, and the group is torn down apart from the instance, which may start again in a
      // new group meanwhile.
      beginTeardown(of: pid, now: now)
      setState(id, .exited(status))
      if phase == .running && instances[id]?.want == .up { applyPolicy(id, status: status, now: now) }
    case .stopping(pid, nil)?:
      setState(id, .stopping(group: pid, leader: status))
      output.append(.probe([pid]))
    default:
      break
    }
    markDirty(id)
  }

  /// Decides what follows an exit nobody asked for: a restart after the backoff, the end of
  /// this instance (`on-failure` after success), or the end of the formation.
  mutating func applyPolicy(_ id: InstanceID, status: WaitStatus, now: Deadline) {
    guard var instance = instances[id] else { return }
    let policy = rules.restart
    let type = rules.types[id.typeIndex]
    let replacing = (rollout != nil && rollingCurrent == id) || haltedReplacement == id
    if replacing && instance.release == rules.release && type.restart == .never {
      // A replacement of a reload that fails halts the rollout (see advanceRollingRestart);
      // it does not end the formation, whose other instances run the previous release.
      return
    }
    let restarts: Bool
    switch type.restart {
    case .never: restarts = false
    case .onFailure: restarts = !status.isSuccess
    case .always: restarts = true
    }
    if type.isTask && status.isSuccess {
      // A task is done: what waits for it may start, and nothing else changes.
      completed = true
      markDependents(of: id.typeIndex)
      return
    }
    guard restarts else {
      if type.restart == .onFailure && status.isSuccess {
        completed = true  // done; the formation ends when nothing else is left
      } else {
        endFormation(status: status.shellStatus, now: now)
      }
      return
    }
    // The give-up window counts each instance's exits: one crash-looping instance fails its
    // type, while a type of many instances that each fail once (a burst of EMFILE) does not.
    let window = Clock.nanoseconds(seconds: policy.windowSeconds)
    instance.failures.append(now)
    instance.failures.removeAll { now &- $0 > window }
    instances[id]?.failures = instance.failures
    if policy.givesUp(failures: instance.failures, now: now) {
      announce(
        nil,
        "\(type.name) failed: \(name(of: id)) exited \(instance.failures.count) times within "
          + "\(formatSeconds(policy.windowSeconds)) s; giving up")
      event("gave up", id, [("exits", String(instance.failures.count), true)])
      endFormation(status: status.isSuccess ? 1 : status.shellStatus, now: now)
      return
    }
    let uptime = Double(now &- instance.startedAt) / 1_000_000_000
    let backoff = RestartPolicy.nextBackoff(current: instance.backoffSeconds, uptimeSeconds: uptime)
    instances[id]?.backoffSeconds = backoff
    setState(id, .waiting(until: now &+ Clock.nanoseconds(seconds: backoff), isRestart: true))
    announce(id, "restarting in \(formatSeconds(backoff)) s")
    event("restarting", id, [("delay", formatSeconds(backoff), true)])
  }

  mutating func groupEmpty(_ pgid: Int32) {
    guard let group = groups.removeValue(forKey: pgid) else { return }
    leaderless.remove(pgid)
    // A leader not yet reaped stays in `byPid`: its exit, when it comes, is still its instance's.
    output.append(.collectOutput(group: pgid))
    markDirty(group.owner)
  }

  mutating func signalRefused(_ pgid: Int32) {
    guard let group = groups[pgid], !group.refused else { return }
    groups[pgid]?.refused = true
    announce(nil, "cannot signal \(name(of: group.owner)) (process group \(pgid)): permission denied")
  }

  mutating func childrenGone() {
    childrenMayRemain = false
  }

  /// Asks a group to stop with its type's stop signal; SIGKILL follows after the grace period.
  /// A group already being stopped keeps its deadline.
  mutating func beginTeardown(of pgid: Int32, now: Deadline) {
    guard let group = groups[pgid], group.stage == nil else { return }
    enter(rules.types[group.owner.typeIndex].teardown.begin(now: now), of: pgid)
  }

  /// Moves a group to the next stage of its teardown, sending that stage's signals.
  private mutating func enter(_ step: (signals: [Int32], stage: Teardown.Stage), of pgid: Int32) {
    groups[pgid]?.stage = step.stage
    if let deadline = step.stage.deadline { timers.push(deadline, .group(pgid)) }
    output.append(.signal(group: pgid, signals: step.signals))
  }

  /// SIGKILL now for a group that is being stopped (or was never asked: a second stop request).
  mutating func killGroup(_ pgid: Int32, now: Deadline) {
    guard let group = groups[pgid] else { return }
    switch group.stage {
    case .killed?, .abandoned?: return
    case .asked?, nil: break
    }
    if phase != .running { forcedKill = true }
    let who = name(of: group.owner)
    // The instance's own group is named by the instance; the leftover group of an earlier
    // process of it (the instance may run again meanwhile) by what it is.
    let current: Bool
    switch instances[group.owner]?.state {
    case .running(pgid)?, .stopping(pgid, _)?: current = true
    default: current = false
    }
    announce(
      nil,
      current
        ? "sending SIGKILL to \(who) (pid \(pgid))"
        : "sending SIGKILL to what is left of \(who) (process group \(pgid))")
    enter(rules.types[group.owner.typeIndex].teardown.escalate(now: now), of: pgid)
  }

  mutating func teardownDeadline(of pgid: Int32, now: Deadline) {
    guard let group = groups[pgid] else { return }
    switch group.stage {
    case .asked?:
      killGroup(pgid, now: now)
    case .killed?:
      // SIGKILL did not end it: another user's process, or one in uninterruptible sleep.
      // Named, counted, and no longer waited for.
      unkillable = true
      announce(nil, "\(name(of: group.owner)) (process group \(pgid)) is still there after SIGKILL; giving up on it")
      abandonedGroups.insert(pgid)
      groups[pgid] = nil
      leaderless.remove(pgid)
      if group.leaderRunning { byPid[pgid] = nil }
      markDirty(group.owner)
    case .abandoned?, nil:
      break
    }
  }
}
