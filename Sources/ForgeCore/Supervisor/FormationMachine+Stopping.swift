/// Ending the formation: stop requests, the teardown of every group, the sweep of what was
/// left outside them, draining the pipes, and the exit status.
extension FormationMachine {
  /// A process exit ended the formation; the first such status becomes forge's.
  mutating func endFormation(status: Int32, now: Deadline) {
    if decidedStatus == nil { decidedStatus = status }
    beginShutdown(now: now)
  }

  /// A stop asked for by a signal or by `forge stop`. A second escalating request during the
  /// grace period kills at once; a repeated `forge stop` lets the graceful stop go on.
  mutating func requestStop(_ reason: String, escalates: Bool, now: Deadline) {
    switch phase {
    case .running:
      announce(nil, "\(reason) received, stopping")
      beginShutdown(now: now)
    case .stopping, .sweeping:
      guard escalates else { return }
      announce(nil, "\(reason) received again, killing")
      killEverything(now: now)
    case .draining:
      // Everything has stopped; only output is still being written, at stdout's pace. A signal
      // now (a further Ctrl-C, a second `docker stop`) means: leave it.
      guard escalates else { return }
      output.append(.warn("\(reason) received, leaving the rest of the output unwritten"))
      finish()
    case .finished:
      break
    }
  }

  mutating func beginShutdown(now: Deadline) {
    guard phase == .running else { return }
    phase = .stopping
    event("stopping", nil)
    stopStage = 0
    rollingQueue = []
    rollingCurrent = nil
    if lastStopStage == 0 {
      announce(nil, "sending \(stopSignalNames()) to all processes")
    } else {
      announce(nil, "stopping in order: " + stageNames().joined(separator: ", then "))
    }
    for id in instances.keys.sorted() { markDirty(id) }  // reconcile stops each
    tearDownLeftovers(upTo: stopStage, now: now)
  }

  /// The types of each stop stage: "web and worker", "redis".
  private func stageNames() -> [String] {
    (0...lastStopStage).map { stage in
      rules.types.filter { $0.stopStage == stage }.map(\.name).joined(separator: " and ")
    }.filter { !$0.isEmpty }
  }

  /// Leftover groups (of exited processes) of the stages being stopped.
  private mutating func tearDownLeftovers(upTo stage: Int, now: Deadline) {
    for pgid in groups.keys.sorted() {
      guard let group = groups[pgid], group.stage == nil, rules.types[group.owner.typeIndex].stopStage <= stage else {
        continue
      }
      beginTeardown(of: pgid, now: now)
    }
  }

  /// Whether everything of the stages up to `stage` is gone.
  private func stagesGone(upTo stage: Int) -> Bool {
    for group in groups.values where rules.types[group.owner.typeIndex].stopStage <= stage { return false }
    for instance in instances.values where rules.types[instance.id.typeIndex].stopStage <= stage {
      if case .exited = instance.state { continue }
      return false
    }
    return true
  }

  /// "SIGTERM", or each type's signal where they differ ("SIGINT to web, SIGTERM to worker").
  private func stopSignalNames() -> String {
    let signals = rules.types.map(\.teardown.stopSignal)
    guard let first = signals.first, signals.contains(where: { $0 != first }) else {
      return Signal.name(signals.first ?? rules.orphanTeardown.stopSignal)
    }
    let each = rules.types.map { "\(Signal.name($0.teardown.stopSignal)) to \($0.name)" }
    return "stop signals (" + each.joined(separator: ", ") + ")"
  }

  private mutating func killEverything(now: Deadline) {
    if phase == .stopping && stopStage < lastStopStage {
      // Every stage at once: what was waiting for its turn is stopped now too.
      stopStage = lastStopStage
      for id in instances.keys.sorted() {
        guard case .running(let pid)? = instances[id]?.state else { continue }
        setState(id, .stopping(group: pid, leader: nil))
        beginTeardown(of: pid, now: now)
      }
    }
    if phase == .stopping {
      // Instances not yet asked (a spawn answered during this stop) are asked and killed.
      for pgid in groups.keys.sorted() { beginTeardown(of: pgid, now: now) }
    }
    for pgid in groups.keys.sorted() { killGroup(pgid, now: now) }
    if case .sweeping(.asked) = phase { escalateSweep(now: now) }
  }

  /// After every input: moves the end of the formation on once what it waits for is gone.
  mutating func advancePhase(now: Deadline) {
    switch phase {
    case .running:
      if completed && unfinished == 0 { endFormation(status: 0, now: now) }
    case .stopping:
      while stopStage < lastStopStage && stagesGone(upTo: stopStage) {
        stopStage += 1
        for id in instances.keys.sorted() where rules.types[id.typeIndex].stopStage == stopStage { markDirty(id) }
        tearDownLeftovers(upTo: stopStage, now: now)
      }
      guard unfinished == 0 && groups.isEmpty else { return }
      if childrenMayRemain {
        // Children outside the formation's groups: orphans that left their group (setpgid,
        // setsid) and were adopted by forge, the child subreaper.
        let (signals, stage) = rules.orphanTeardown.begin(now: now)
        phase = .sweeping(stage)
        if let deadline = stage.deadline { timers.push(deadline, .sweep) }
        output.append(.sweep(signal: signals[0]))
      } else {
        beginDrain()
      }
    case .sweeping:
      if !childrenMayRemain { beginDrain() }
    case .draining, .finished:
      break
    }
  }

  private mutating func beginDrain() {
    phase = .draining
    output.append(.beginDrain)
  }

  mutating func orphansSignalled(_ signal: Int32, found: [String], now: Deadline) {
    guard case .sweeping(let stage) = phase else { return }
    guard !found.isEmpty else {
      childrenMayRemain = false
      return
    }
    let list = found.joined(separator: ", ")
    switch stage {
    case .asked:
      announce(nil, "sending \(Signal.name(signal)) to processes left outside the formation: \(list)")
    case .killed:
      forcedKill = true
      announce(nil, "sending SIGKILL to processes left outside the formation: \(list)")
    case .abandoned:
      unkillable = true
      announce(nil, "still there after SIGKILL, giving up on them: \(list)")
      childrenMayRemain = false
    }
  }

  mutating func sweepDeadline(now: Deadline) {
    guard case .sweeping(let stage) = phase else { return }
    switch stage {
    case .asked:
      escalateSweep(now: now)
    case .killed:
      phase = .sweeping(.abandoned)
      output.append(.sweep(signal: 0))
    case .abandoned:
      break
    }
  }

  private mutating func escalateSweep(now: Deadline) {
    let (signals, stage) = rules.orphanTeardown.escalate(now: now)
    phase = .sweeping(stage)
    if let deadline = stage.deadline { timers.push(deadline, .sweep) }
    output.append(.sweep(signal: signals[0]))
  }

  mutating func outputDrained() {
    guard case .draining = phase else { return }
    finish()
  }

  private mutating func finish() {
    let status = exitStatus
    event("stopped", nil, [("status", String(status), true)])
    phase = .finished(status)
    output.append(.exit(status))
  }
}
