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

  /// Stops each instance and starts it again with the same number and port. One already on its
  /// way back is left alone.
  mutating func restart(_ ids: [InstanceID]) {
    guard phase == .running else { return }
    for id in ids {
      guard let instance = instances[id], instance.want == .up else { continue }
      instances[id]?.want = .cycle
      instances[id]?.restarts += 1
      markDirty(id)
    }
  }

  /// One type at a time, in Procfile order: the next type once every instance of the
  /// previous one has been spawned again.
  mutating func restartAll() {
    guard phase == .running else { return }
    rollingQueue = activeCounts.indices.filter { activeCounts[$0] > 0 }
    rollingPending = []
    advanceRollingRestart()
  }

  mutating func advanceRollingRestart() {
    while phase == .running && rollingPending.isEmpty, let typeIndex = rollingQueue.first {
      rollingQueue.removeFirst()
      let ids = (1...max(1, activeCounts[typeIndex])).map { InstanceID(typeIndex: typeIndex, number: $0) }
        .filter { instances[$0]?.want == .up }
      restart(ids)
      rollingPending = Set(ids)
    }
  }

  /// SIGHUP, SIGUSR1, SIGUSR2: for the processes, not for forge.
  mutating func forward(_ signal: Int32) {
    announce(nil, "forwarding \(Signal.name(signal)) to all processes")
    for id in instances.keys.sorted() {
      switch instances[id]?.state {
      case .running(let pid)?, .stopping(let pid, _)?:
        if groups[pid] != nil { output.append(.signal(group: pid, signals: [signal])) }
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
