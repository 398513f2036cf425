/// What the control requests do to the formation.
extension Supervisor {
  func handle(_ request: ControlRequest, client: ControlConnection) throws(ControlError) -> String {
    switch request {
    case .ps:
      return ControlReply.success([("processes", .array(instances.map(describe)))])
    case .env:
      return ControlReply.success([
        ("release", .string(project.releaseID)),
        ("files", .string(project.filesDigest)),
        ("procfile_digest", .string(project.procfileDigest)),
        ("env_digest", .string(project.envDigest)),
        ("procfile_path", .string(project.settings.absoluteProcfilePath)),
        ("env_paths", .array(project.settings.absoluteEnvPaths.map(JSONValue.string))),
        ("processes", .object(project.procfile.entries.map { ($0.name, .string($0.command)) })),
        ("port", .number(Double(project.basePort))),
        ("env", .object(project.environment.map { ($0.key, .string($0.value)) })),
      ])
    case .stop:
      client.waitsForExit = true
      requestStop(because: "stop request", escalates: false)
      return ControlReply.success([("stopping", .bool(true))])
    case .restart(let target):
      let names = try restart(target)
      return ControlReply.success([("restarting", .array(names.map(JSONValue.string)))])
    case .scale(let counts, let deltas):
      try scale(counts: counts, deltas: deltas)
      return ControlReply.success([("formation", formation())])
    }
  }

  /// The current count per type, in Procfile order: instances not being scaled away.
  func formation() -> JSONValue {
    .object(
      project.procfile.entries.map { entry in
        (entry.name, .number(Double(activeInstances(of: entry.name).count)))
      })
  }

  func activeInstances(of type: String) -> [Instance] {
    instances.filter { $0.type == type && $0.afterExit != .retire }
  }

  private func describe(_ instance: Instance) -> JSONValue {
    let now = Clock.now()
    let running = instance.state == .running || instance.state == .stopping
    var fields: [(String, JSONValue)] = [
      ("name", .string(instance.name)),
      ("type", .string(instance.type)),
      ("pid", instance.pid > 0 && running ? .number(Double(instance.pid)) : .null),
      ("state", .string(instance.state.rawValue)),
      ("uptime", running ? .number(Double((now &- instance.startedAt) / 1_000_000) / 1000) : .null),
      ("restarts", .number(Double(instance.restarts))),
      ("port", .number(Double(instance.port))),
    ]
    if let next = instance.nextStartAt {
      fields.append(("next_retry", .number(Double(next > now ? (next - now) / 1_000_000 : 0) / 1000)))
    } else {
      fields.append(("next_retry", .null))
    }
    if let status = instance.status, instance.state == .exited {
      fields.append(("exit_status", .number(Double(status.shellStatus))))
    }
    return .object(fields)
  }

  // MARK: - Scale

  /// Validates everything first, so an unknown type changes nothing.
  private func scale(counts: [(String, Int)], deltas: [(String, Int)]) throws(ControlError) {
    guard phase == .running else { throw ControlError("forge is stopping") }
    var targets: [(typeIndex: Int, count: Int)] = []
    func current(_ index: Int, _ name: String) -> Int {
      targets.last { $0.typeIndex == index }?.count ?? activeInstances(of: name).count
    }
    func set(_ index: Int, _ count: Int, _ name: String) throws(ControlError) {
      guard count <= Formation.maximumCount else {
        throw ControlError("count for \(name) is above \(Formation.maximumCount)")
      }
      let port = PortPlan.port(base: project.basePort, typeIndex: index, instance: max(count, 1))
      guard port <= PortPlan.highest else {
        throw ControlError("\(name).\(count) would get PORT \(port), above \(PortPlan.highest)")
      }
      targets.removeAll { $0.typeIndex == index }
      targets.append((index, count))
    }
    // Absolute counts first, then deltas on top of them (`web=2 web+1` gives 3).
    for (name, value) in counts {
      let index = try typeIndex(name)
      guard value >= 0 else { throw ControlError("count for \(name) must not be negative") }
      try set(index, value, name)
    }
    for (name, value) in deltas {
      let index = try typeIndex(name)
      try set(index, max(0, current(index, name) + value), name)
    }
    for (index, count) in targets { scale(typeIndex: index, to: count) }
    refreshPrefixes()
  }

  private func typeIndex(_ name: String) throws(ControlError) -> Int {
    guard let index = project.procfile.index(of: name) else {
      throw ControlError("unknown process type \"\(name)\" (known: \(project.procfile.names.joined(separator: ", ")))")
    }
    return index
  }

  private func scale(typeIndex: Int, to count: Int) {
    let type = project.procfile.entries[typeIndex].name
    let active = activeInstances(of: type).sorted { $0.number < $1.number }
    if active.count > count {
      // The highest-numbered go; every other instance is left untouched.
      for instance in active[count...] { stop(instance, then: .retire) }
      return
    }
    for number in (active.count + 1)...max(active.count + 1, count) where number <= count {
      if let leaving = instances.first(where: { $0.type == type && $0.number == number }) {
        // Still stopping after an earlier scale-down: it comes back once it is gone.
        leaving.afterExit = .respawn
        settleStoppedInstances()
        continue
      }
      let instance = makeInstance(typeIndex: typeIndex, number: number)
      let position = instances.firstIndex { ($0.typeIndex, $0.number) > (typeIndex, number) } ?? instances.count
      instances.insert(instance, at: position)
      refreshPrefixes()
      start(instance)
    }
  }

  // MARK: - Restart

  private func restart(_ target: String?) throws(ControlError) -> [String] {
    guard phase == .running else { throw ControlError("forge is stopping") }
    guard let target else {
      // Rolling: one type at a time, the next once the previous is running again.
      restartQueue = project.procfile.names.filter { !activeInstances(of: $0).isEmpty }
      rollingRestartActive = false
      let names = instances.filter { $0.afterExit != .retire }.map(\.name)
      guard !names.isEmpty else { throw ControlError("nothing to restart: the formation has no instances") }
      advanceRestartQueue()
      return names
    }
    let chosen: [Instance]
    if project.procfile.index(of: target) != nil {
      chosen = activeInstances(of: target)
    } else if let instance = instances.first(where: { $0.name == target && $0.afterExit != .retire }) {
      chosen = [instance]
    } else {
      throw ControlError("no process type or instance named \"\(target)\"")
    }
    guard !chosen.isEmpty else { throw ControlError("\(target) has no instances (scaled to 0)") }
    for instance in chosen { restartInstance(instance) }
    return chosen.map(\.name)
  }

  private func restartInstance(_ instance: Instance) {
    if instance.afterExit == .respawn { return }  // already on its way back
    instance.restarts += 1
    if instance.state == .starting || instance.state == .exited && !instance.isAlive {
      instance.nextStartAt = nil
      start(instance)
    } else {
      stop(instance, then: .respawn)
    }
  }

  /// Moves a rolling restart on: the next type starts once the previous one is back up.
  func advanceRestartQueue() {
    while phase == .running, let type = restartQueue.first {
      let group = activeInstances(of: type)
      if rollingRestartActive {
        if group.contains(where: { $0.afterExit == .respawn }) { return }  // still restarting
        rollingRestartActive = false
        restartQueue.removeFirst()
        continue
      }
      rollingRestartActive = true
      for instance in group { restartInstance(instance) }
    }
  }
}
