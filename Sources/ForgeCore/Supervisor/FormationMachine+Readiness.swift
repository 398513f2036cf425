/// Readiness, start order and health: when an instance counts as ready, when a type may
/// start, and what a failing health check does.
extension FormationMachine {
  /// A new process: ready at once without a readiness probe; otherwise probed (every 100 ms,
  /// backing off to 1 s, for the polled kinds) until ready or the readiness timeout.
  mutating func beginReadiness(_ id: InstanceID, now: Deadline) {
    instances[id]?.readyAt = nil
    instances[id]?.healthFailures = 0
    instances[id]?.healthy = nil
    instances[id]?.statusText = nil
    instances[id]?.nextProbeAt = nil
    instances[id]?.readyDeadline = nil
    let type = rules.types[id.typeIndex]
    guard let probe = type.readiness else {
      markReady(id, now: now)
      return
    }
    let deadline = now &+ type.readyTimeout
    instances[id]?.readyDeadline = deadline
    timers.push(deadline, .readyTimeout(id))
    if probe.isPolled { scheduleProbe(id, after: Self.firstProbeDelay, now: now) }
  }

  static let firstProbeDelay: Deadline = 100_000_000
  static let longestProbeDelay: Deadline = 1_000_000_000

  private mutating func scheduleProbe(_ id: InstanceID, after delay: Deadline, now: Deadline) {
    instances[id]?.probeInterval = delay
    instances[id]?.nextProbeAt = now &+ delay
    timers.push(now &+ delay, .probe(id))
  }

  func port(of id: InstanceID) -> Int {
    PortPlan.port(base: rules.basePort, typeIndex: rules.types[id.typeIndex].position, instance: id.number)
  }

  private mutating func markReady(_ id: InstanceID, now: Deadline) {
    guard let instance = instances[id] else { return }
    instances[id]?.readyAt = now
    instances[id]?.readyDeadline = nil
    instances[id]?.nextProbeAt = nil
    let type = rules.types[id.typeIndex]
    if let probe = type.readiness {
      let seconds = Double(now &- instance.startedAt) / 1e9
      announce(id, "ready after \(formatHundredths(seconds)) s (\(probe.label(port: port(of: id))))")
    }
    event("ready", id)
    if type.health != nil {
      instances[id]?.healthy = true
      scheduleProbe(id, after: type.healthInterval, now: now)
    }
    markDependents(of: id.typeIndex)
  }

  /// Ready, or done: what `forge wait`, `/readyz` and `forge_process_ready` count. An instance
  /// that exited with status 0 and that nothing starts again (a task, or a type whose restart
  /// policy is `on-failure` or `never`) has done what it was there for; with `always` it is
  /// only between two runs (or the formation is stopping).
  func isReadyOrDone(_ instance: Instance) -> Bool {
    switch instance.state {
    case .running: return instance.readyAt != nil
    case .exited(.exited(0)?):
      let type = rules.types[instance.id.typeIndex]
      return instance.want == .up && (type.isTask || type.restart != .always)
    default: return false
    }
  }

  /// Instances of the types that wait for this one look at their gates again.
  mutating func markDependents(of typeIndex: Int) {
    for dependent in rules.types[typeIndex].dependents {
      for number in stride(from: 1, through: activeCounts[dependent], by: 1) {
        markDirty(InstanceID(typeIndex: dependent, number: number))
      }
    }
  }

  /// Whether every type this instance's type waits for is there; says once what it waits for.
  mutating func gatesOpen(for id: InstanceID) -> Bool {
    let gates = rules.types[id.typeIndex].gates
    guard !gates.isEmpty else { return true }
    let closed = gates.filter { !isOpen($0) }
    guard !closed.isEmpty else { return true }
    if instances[id]?.toldWaiting == false {
      instances[id]?.toldWaiting = true
      let names = closed.map { "\(rules.types[$0.typeIndex].name) (\($0.condition.rawValue))" }
      announce(id, "waiting for " + names.joined(separator: ", "))
    }
    return false
  }

  private func isOpen(_ gate: Gate) -> Bool {
    for number in stride(from: 1, through: activeCounts[gate.typeIndex], by: 1) {
      let instance = instances[InstanceID(typeIndex: gate.typeIndex, number: number)]
      switch (gate.condition, instance?.state) {
      case (.ready, .running?) where instance?.readyAt != nil: continue
      case (.done, .exited(.exited(0))?): continue
      default: return false
      }
    }
    return true
  }

  mutating func probeDue(_ id: InstanceID, now: Deadline) {
    guard phase == .running, let instance = instances[id], case .running(let pid) = instance.state else { return }
    let type = rules.types[id.typeIndex]
    if instance.readyAt == nil {
      output.append(.runProbe(id, pid: pid, purpose: .readiness))
      scheduleProbe(id, after: min(instance.probeInterval * 2, Self.longestProbeDelay), now: now)
    } else if type.health != nil {
      output.append(.runProbe(id, pid: pid, purpose: .health))
      scheduleProbe(id, after: type.healthInterval, now: now)
    }
  }

  /// Not ready in time: a failed start. It is stopped, then the restart policy applies.
  mutating func readyTimedOut(_ id: InstanceID, now: Deadline) {
    guard phase == .running, let instance = instances[id], case .running = instance.state, instance.readyAt == nil,
      instance.want == .up, let probe = rules.types[id.typeIndex].readiness
    else { return }
    let seconds = Double(rules.types[id.typeIndex].readyTimeout) / 1e9
    announce(id, "not ready after \(formatSeconds(seconds)) s (\(probe.label(port: port(of: id))))")
    instances[id]?.want = .recover
    instances[id]?.nextProbeAt = nil
    markDirty(id)
  }

  mutating func probeResult(
    _ id: InstanceID, pid: Int32, purpose: ProbePurpose, ok: Bool, detail: String, now: Deadline
  ) {
    guard let instance = instances[id], case .running(pid) = instance.state, instance.want == .up else { return }
    // While stopping, readiness still counts (a dependent may wait for it) but health does not.
    if purpose == .health && phase != .running { return }
    switch purpose {
    case .readiness:
      if ok && instance.readyAt == nil { markReady(id, now: now) }
    case .health:
      guard instance.readyAt != nil, let probe = rules.types[id.typeIndex].health else { return }
      if ok {
        instances[id]?.healthFailures = 0
        instances[id]?.healthy = true
        return
      }
      let failures = instance.healthFailures + 1
      instances[id]?.healthFailures = failures
      guard failures >= Self.healthFailuresAllowed else { return }
      instances[id]?.healthy = false
      announce(id, "unhealthy (\(probe.spec): \(detail), \(failures) times), restarting")
      event("unhealthy", id, [("probe", probe.spec, false), ("detail", detail, false)])
      unhealthy(id, now: now)
    }
  }

  static let healthFailuresAllowed = 3

  /// Stopped gracefully and started again; counts toward the restart give-up window.
  private mutating func unhealthy(_ id: InstanceID, now: Deadline) {
    let policy = rules.restart
    var failures = instances[id]?.failures ?? []
    failures.append(now)
    failures.removeAll { now &- $0 > Clock.nanoseconds(seconds: policy.windowSeconds) }
    instances[id]?.failures = failures
    if policy.givesUp(failures: failures, now: now) {
      announce(
        nil,
        "\(rules.types[id.typeIndex].name) failed: \(name(of: id)) failed \(failures.count) times within "
          + "\(formatSeconds(policy.windowSeconds)) s; giving up")
      event("gave up", id, [("exits", String(failures.count), true)])
      endFormation(status: 1, now: now)
      return
    }
    instances[id]?.want = .cycle
    instances[id]?.restarts += 1
    // Started again as soon as it has stopped: no backoff, as `forge restart`.
    event("restarting", id, [("delay", "0", true)])
    markDirty(id)
  }
}

/// Seconds with two decimals: "0.84".
func formatHundredths(_ value: Double) -> String {
  let hundredths = Int((value * 100).rounded())
  let fraction = hundredths % 100
  return "\(hundredths / 100)." + (fraction < 10 ? "0" : "") + String(fraction)
}
