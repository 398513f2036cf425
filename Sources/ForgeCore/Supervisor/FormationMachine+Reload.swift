/// A new release while running: unchanged types are untouched, changed ones are replaced one
/// instance at a time (each once the previous replacement is ready), removed ones stopped, new
/// ones started. A replacement that does not become ready, or crashes, halts the rollout: the
/// instances not yet replaced keep running the previous release.
extension FormationMachine {
  mutating func reload(_ plan: ReloadPlan, now: Deadline) {
    guard phase == .running else { return }
    let previous = rules.release
    rules = plan.rules
    while activeCounts.count < rules.types.count { activeCounts.append(0) }
    lastStopStage = rules.types.map(\.stopStage).max() ?? 0
    for typeIndex in plan.removed where typeIndex < activeCounts.count {
      for number in stride(from: 1, through: activeCounts[typeIndex], by: 1) {
        let id = InstanceID(typeIndex: typeIndex, number: number)
        guard instances[id] != nil else { continue }
        announce(id, "removed in release \(rules.release), stopping")
        instances[id]?.want = .gone
        markDirty(id)
      }
      activeCounts[typeIndex] = 0
    }
    var added = false
    for target in plan.added where target.typeIndex < activeCounts.count {
      activeCounts[target.typeIndex] = target.count
      for number in stride(from: 1, through: target.count, by: 1) {
        addInstance(InstanceID(typeIndex: target.typeIndex, number: number), now: now)
        added = true
      }
    }
    if added { output.append(.instancesAdded) }
    for id in instances.keys.sorted() { markDirty(id) }  // gates may have changed
    let replaced = plan.changed.flatMap { typeIndex in
      (0..<activeCounts[typeIndex]).map { InstanceID(typeIndex: typeIndex, number: $0 + 1) }
    }.filter { instances[$0]?.want == .up }
    rollout = Rollout(release: rules.release, previous: previous)
    lastRollout = nil
    restart(replaced)
  }

  /// Why the replacement under way failed, if it did: not ready in time, or it crashed.
  func replacementFailure(_ instance: Instance) -> String? {
    let name = name(of: instance.id)
    let type = rules.types[instance.id.typeIndex]
    if instance.want == .recover, let probe = type.readiness {
      return "\(name) of release \(rules.release) not ready after "
        + "\(formatSeconds(Double(type.readyTimeout) / 1e9)) s (\(probe.label(port: port(of: instance.id))))"
    }
    guard let status = instance.lastStatus, instance.release == rules.release else { return nil }
    switch instance.state {
    case .exited, .waiting(_, isRestart: true):
      return "\(name) of release \(rules.release) \(status.summary)"
    default:
      return nil
    }
  }

  /// Stops the rollout: what was not replaced yet keeps running its release.
  mutating func haltRollout(_ current: InstanceID, _ reason: String) {
    let left = rollingQueue.compactMap { id in
      instances[id].map { "\(name(of: id)) still runs release \($0.release)" }
    }
    announce(nil, "reload halted: " + ([reason] + left).joined(separator: "; "))
    event("halted", current, [("reason", reason, false)])
    lastRollout = .halted(release: rules.release, reason: reason)
    haltedReplacement = current
    rollout = nil
    rollingQueue = []
    rollingCurrent = nil
  }
}
