/// What the control socket and forwarded signals ask of the formation.
extension FormationMachine {
  /// Sets the counts of some types (validated by the caller). Scaling down stops the
  /// highest-numbered instances; scaling up starts the next numbers, or keeps one that was
  /// still leaving. Instances of other types are not touched.
  mutating func scale(_ targets: [TypeCount], now: Deadline) {
    guard phase == .running else { return }
    var added = false
    for target in targets where target.typeIndex < activeCounts.count {
      let active = activeCounts[target.typeIndex]
      activeCounts[target.typeIndex] = target.count
      markDependents(of: target.typeIndex)  // their gates look at a different count now
      if target.count < active {
        for number in (target.count + 1)...active {
          let id = InstanceID(typeIndex: target.typeIndex, number: number)
          instances[id]?.want = .gone
          markDirty(id)
        }
      } else if target.count > active {
        for number in (active + 1)...target.count {
          let id = InstanceID(typeIndex: target.typeIndex, number: number)
          if instances[id] != nil {
            instances[id]?.want = .up  // still stopping: it comes back once it is gone
            markDirty(id)
          } else {
            addInstance(id, now: now)
            added = true
          }
        }
      }
    }
    if added { output.append(.instancesAdded) }
  }

  /// Stops each instance and starts it again with the same number and port, one at a time:
  /// the next once the previous is ready again, so a type of two or more always has one
  /// serving. Instances already queued or on their way back are left alone.
  mutating func restart(_ ids: [InstanceID]) {
    guard phase == .running else { return }
    for id in ids where id != rollingCurrent && !rollingQueue.contains(id) { rollingQueue.append(id) }
    advanceRollingRestart()
  }

  /// Every instance of the formation, in Procfile order.
  mutating func restartAll() {
    restart(instances.keys.sorted().filter { $0.number <= activeCounts[$0.typeIndex] })
  }

  /// Whether a restart asked for is still under way.
  var isRestarting: Bool { rollingCurrent != nil || !rollingQueue.isEmpty }

  mutating func advanceRollingRestart() {
    guard phase == .running else {
      rollingQueue = []
      rollingCurrent = nil
      return
    }
    if let current = rollingCurrent {
      guard let instance = instances[current], instance.want != .gone else {
        rollingCurrent = nil
        return advanceRollingRestart()
      }
      if rollout != nil, let failure = replacementFailure(instance) {
        haltRollout(current, failure)
        return
      }
      switch instance.state {
      case .running where instance.readyAt != nil, .exited:
        rollingCurrent = nil
      default:
        return  // still on its way back
      }
    }
    while rollingCurrent == nil, !rollingQueue.isEmpty {
      let id = rollingQueue.removeFirst()
      guard let instance = instances[id], instance.want == .up else { continue }
      instances[id]?.want = .cycle
      instances[id]?.replacing = true
      instances[id]?.restarts += 1
      rollingCurrent = id
      markDirty(id)
    }
    if rollingCurrent == nil, let done = rollout {
      rollout = nil
      lastRollout = .completed(release: done.release)
      announce(nil, "release \(done.release) running")
    }
  }

  /// `forge signal`: the signal to each named instance's process group.
  mutating func signal(_ signal: Int32, to ids: [InstanceID]) {
    for id in ids {
      switch instances[id]?.state {
      case .running(let pid)?, .stopping(let pid, _)?:
        if groups[pid]?.owner == id { output.append(.signal(group: pid, signals: [signal])) }
      default:
        break
      }
    }
  }

  /// SIGHUP, SIGUSR1, SIGUSR2: for the processes, not for forge.
  mutating func forward(_ signal: Int32) {
    announce(nil, "forwarding \(Signal.name(signal)) to all processes")
    for id in instances.keys.sorted() {
      switch instances[id]?.state {
      case .running(let pid)?, .stopping(let pid, _)?:
        if groups[pid]?.owner == id { output.append(.signal(group: pid, signals: [signal])) }
      default:
        break
      }
    }
  }

  /// Instances of the formation, and those still leaving it, in order.
  var orderedInstances: [Instance] { instances.keys.sorted().compactMap { instances[$0] } }

  /// The longest instance name there is, for the width of prefixes.
  var longestName: Int {
    var longest = 0
    for (typeIndex, type) in rules.types.enumerated() {
      let highest = instances.keys.lazy.filter { $0.typeIndex == typeIndex }.map(\.number).max() ?? 0
      if highest > 0 { longest = max(longest, type.name.utf8.count + 1 + String(highest).utf8.count) }
    }
    return longest
  }
}
