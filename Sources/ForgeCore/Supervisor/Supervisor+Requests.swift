/// What the control requests ask: validated here against the formation, then handed to the
/// machine as inputs; the reply describes the state after it has acted.
extension Supervisor {
  typealias InstanceID = FormationMachine.InstanceID

  /// The reply, or nil when it waits for the formation (`Supervisor+Waiting`).
  func respond(to request: ControlRequest, from client: ControlConnection) throws(ControlError) -> String? {
    switch request {
    case .ps:
      // CPU% needs two samples: the last one if recent enough, else one now and one shortly.
      let now = Clock.now()
      let due = resources.canCompare(now: now) ? now : now &+ ResourceSampler.shortestInterval
      sampleResources(now: now)
      return later(client, .processes, until: due)
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
        ("secret_keys", .array(project.secretKeys.sorted().map(JSONValue.string))),
        ("secrets_dir", project.settings.secrets.directory.map(JSONValue.string) ?? .null),
        ("file_refs", .bool(project.settings.secrets.fileReferences)),
      ])
    case .stop:
      client.waitsForExit = true
      if machine.phase == .running { announce("stop (requested by \(client.peer))") }
      feed(.stop(reason: "stop request", escalates: false))
      return ControlReply.success([("stopping", .bool(true))])
    case .restart(let target, let wait):
      let (input, names) = try restartPlan(target)
      let what = "restart \(target ?? "everything")"
      announce("\(what) (requested by \(client.peer))")
      feed(input)
      track { machine in
        if machine.isRestarting { return nil }
        // A stop ends a restart midway: what was not replaced must not be said to be.
        guard machine.phase == .running else { return "\(what): interrupted, forge is stopping" }
        return "\(what): " + names.map { "\($0) replaced" }.joined(separator: ", ")
      }
      let reply = ControlReply.success([("restarting", .array(names.map(JSONValue.string)))])
      guard wait else { return reply }
      return later(client, .restart(reply: reply), until: nil)
    case .scale(let counts, let deltas, let wait):
      let targets = try scaleTargets(counts: counts, deltas: deltas)
      let types = targets.map(\.typeIndex)
      if !types.isEmpty {
        let asked = counts.map { "\($0.0)=\($0.1)" } + deltas.map { "\($0.0)\($0.1 < 0 ? "" : "+")\($0.1)" }
        let what = "scale " + asked.joined(separator: " ")
        announce("\(what) (requested by \(client.peer))")
        track { [unowned self] machine in
          let settled = machine.instances.values.allSatisfy { instance in
            guard types.contains(instance.id.typeIndex) else { return true }
            switch instance.state {
            case .running, .exited: return instance.want == .up
            case .waiting(_, let isRestart): return isRestart
            default: return false
            }
          }
          return settled ? "\(what): done, " + ClientCommands.formationLine(self.formation()) : nil
        }
      }
      // Before the instances it starts or stops say so: the same object as the reply's
      // `formation`; `web=3 worker=1` as text. Only when the counts change (the protocol's
      // `scaled`: "a scale request changed the counts").
      if !targets.isEmpty, formation(after: targets) != formation() {
        let counts = formation(after: targets)
        publish("scaled", details: [("formation", counts, ClientCommands.formationLine(counts))])
      }
      feed(.scale(targets))
      guard wait else { return ControlReply.success([("formation", formation())]) }
      return later(client, .ready(types: types, scaled: true), until: nil)
    case .reload(let dryRun):
      if !dryRun { announce("reload (requested by \(client.peer))") }
      return reload(for: client, dryRun: dryRun)
    case .logs(let targets, let lines, let follow, let json, let timestamps, let pipe):
      // The live stream's format: JSON lines if forge prints them (`--log-format json`).
      return try streamLogs(
        client, targets: targets, lines: lines, follow: follow, json: json || project.settings.logFormat == .json,
        timestamps: timestamps ?? options.timestamps, pipe: pipe)
    case .events(let json):
      return streamEvents(client, json: json)
    case .attach(let target, let rows, let columns, let steal):
      return try attach(client, target: target, rows: rows, columns: columns, steal: steal)
    case .signal(let name, let targets):
      guard let number = Signal.number(named: name) else { throw ControlError("unknown signal \"\(name)\"") }
      let ids = try instances(named: targets)
      let what = targets.isEmpty ? "everything" : targets.joined(separator: " ")
      announce("signal \(name) \(what) (requested by \(client.peer))")
      announce("sending \(Signal.name(number)) to " + ids.map(self.name).joined(separator: ", "))
      feed(.signal(number, ids))
      return ControlReply.success([("signalled", .array(ids.map { .string(self.name($0)) }))])
    case .wait(let names, let timeout):
      var types: [Int] = []
      for name in names { types.append(try typeIndex(name)) }
      if types.isEmpty { types = typeNames.indices.filter { !machine.rules.types[$0].removed } }
      return later(
        client, .ready(types: types, scaled: false), until: Clock.now() &+ Clock.nanoseconds(seconds: timeout))
    }
  }

  /// The current count per type, in Procfile order: instances not being scaled away.
  /// The formation: each type's count, as it is or as `targets` will make it.
  func formation(after targets: [FormationMachine.TypeCount] = []) -> JSONValue {
    .object(
      project.procfile.names.compactMap { name in
        typeNames.firstIndex(of: name).map { index in
          (name, .number(Double(targets.last { $0.typeIndex == index }?.count ?? machine.activeCounts[index])))
        }
      })
  }

  func name(_ id: InstanceID) -> String { "\(typeName(id.typeIndex)).\(id.number)" }

  /// Samples the process groups of every instance (and forge).
  func sampleResources(now: Deadline) {
    var groups: Set<Int32> = []
    for instance in machine.instances.values {
      switch instance.state {
      case .running(let pid), .stopping(let pid, _): groups.insert(pid)
      default: break
      }
    }
    resources.sample(groups: groups, now: now)
  }

  /// The `forge ps` reply.
  func processes(now: Deadline) -> String {
    let own = resources.latest?.own ?? ProcessStats.own()
    return ControlReply.success([
      ("processes", .array(machine.orderedInstances.map { describe($0, now: now) })),
      (
        "forge",
        .object([
          ("pid", .number(Double(Files.processID()))), ("release", .string(project.releaseID)),
          ("cpu_percent", resources.ownCPUPercent.map(JSONValue.number) ?? .null),
          ("rss_bytes", .number(Double(own.residentBytes))),
        ])
      ),
    ])
  }

  private func describe(_ instance: FormationMachine.Instance, now: Deadline) -> JSONValue {
    let id = instance.id
    var pid: Int32?
    var state = "starting"
    var up = false
    var retry: Deadline?
    var status: WaitStatus?
    switch instance.state {
    case .waiting(let until, let isRestart):
      if isRestart { retry = until > now ? until - now : 0 }
    case .spawning:
      break
    case .running(let leader):
      (pid, state, up) = (leader, "running", true)
    case .stopping(let group, let leader):
      (pid, state, up) = (leader == nil ? group : nil, "stopping", true)
    case .exited(let last):
      (state, status) = ("exited", last)
    }
    let port = PortPlan.port(base: project.basePort, typeIndex: position(id.typeIndex), instance: id.number)
    var fields: [(String, JSONValue)] = [
      ("name", .string(name(id))),
      ("type", .string(typeName(id.typeIndex))),
      ("pid", pid.map { .number(Double($0)) } ?? .null),
      ("state", .string(state)),
      ("uptime", up ? .number(Double((now &- instance.startedAt) / 1_000_000) / 1000) : .null),
      ("restarts", .number(Double(instance.restarts))),
      ("port", .number(Double(port))),
      ("next_retry", retry.map { .number(Double($0 / 1_000_000) / 1000) } ?? .null),
    ]
    if let status { fields.append(("exit_status", .number(Double(status.shellStatus)))) }
    fields.append(("release", instance.release.isEmpty ? .null : .string(instance.release)))
    var group: Int32?
    switch instance.state {
    case .running(let pid), .stopping(let pid, _): group = pid
    default: group = nil
    }
    let usage = group.flatMap(resources.usage(of:))
    fields.append(("cpu_percent", group.flatMap(resources.cpuPercent(of:)).map(JSONValue.number) ?? .null))
    fields.append(("rss_bytes", usage.map { .number(Double($0.residentBytes)) } ?? .null))
    fields.append(("cpu_seconds", usage.map { .number(($0.cpuSeconds * 100).rounded() / 100) } ?? .null))
    fields.append(("threads", usage.map { .number(Double($0.threads)) } ?? .null))
    let ready = pid != nil && instance.readyAt != nil
    fields.append(("ready", .bool(ready)))
    fields.append(("ready_at", ready ? instance.readyAt.map { .string(wallTime(of: $0, now: now)) } ?? .null : .null))
    fields.append(("healthy", instance.healthy.map(JSONValue.bool) ?? .null))
    fields.append(("status_text", instance.statusText.map { .string(redacted($0)) } ?? .null))
    return .object(fields)
  }

  // MARK: - Scale

  /// Validates everything first, so an unknown type changes nothing.
  private func scaleTargets(
    counts: [(String, Int)], deltas: [(String, Int)]
  ) throws(ControlError) -> [FormationMachine.TypeCount] {
    guard machine.phase == .running else { throw ControlError("forge is stopping") }
    var targets: [FormationMachine.TypeCount] = []
    func current(_ index: Int) -> Int {
      targets.last { $0.typeIndex == index }?.count ?? machine.activeCounts[index]
    }
    func set(_ index: Int, _ count: Int, _ name: String) throws(ControlError) {
      guard count <= Formation.maximumCount else {
        throw ControlError("count for \(name) is above \(Formation.maximumCount)")
      }
      let port = PortPlan.port(base: project.basePort, typeIndex: position(index), instance: max(count, 1))
      guard port <= PortPlan.highest else {
        throw ControlError("\(name).\(count) would get PORT \(port), above \(PortPlan.highest)")
      }
      targets.removeAll { $0.typeIndex == index }
      targets.append(FormationMachine.TypeCount(typeIndex: index, count: count))
    }
    // Absolute counts first, then deltas on top of them (`web=2 web+1` gives 3).
    for (name, value) in counts {
      let index = try typeIndex(name)
      guard value >= 0 else { throw ControlError("count for \(name) must not be negative") }
      try set(index, value, name)
    }
    for (name, value) in deltas {
      let index = try typeIndex(name)
      try set(index, max(0, current(index) + value), name)
    }
    // Two instances must never share a PORT: the formation stays as it is.
    let names = project.procfile.names
    let counts = names.map { name in typeNames.firstIndex(of: name).map(current) ?? 0 }
    if let clash = PortPlan.collision(counts: counts, names: names, base: project.basePort) {
      throw ControlError(clash)
    }
    let needed = DescriptorLimit.needed(instances: counts.reduce(0, +))
    guard DescriptorLimit.raise(to: needed) else {
      throw ControlError(
        "the formation would need about \(needed) descriptors, above the hard limit of "
          + "\(DescriptorLimit.current().hard) (ulimit -Hn); nothing changed")
    }
    return targets
  }

  func typeIndex(_ name: String) throws(ControlError) -> Int {
    guard project.procfile.index(of: name) != nil, let index = typeNames.firstIndex(of: name) else {
      throw ControlError("unknown process type \"\(name)\" (known: \(project.procfile.names.joined(separator: ", ")))")
    }
    return index
  }

  /// Types and instances by name (everything when empty), in formation order.
  private func instances(named targets: [String]) throws(ControlError) -> [InstanceID] {
    let active = machine.activeCounts.enumerated().flatMap { index, count in
      (0..<count).map { InstanceID(typeIndex: index, number: $0 + 1) }
    }
    guard !targets.isEmpty else { return active }
    var chosen: [InstanceID] = []
    for target in targets {
      let matching = active.filter { typeName($0.typeIndex) == target || name($0) == target }
      guard !matching.isEmpty else { throw ControlError("no process type or instance named \"\(target)\"") }
      chosen += matching.filter { !chosen.contains($0) }
    }
    return chosen
  }

  // MARK: - Restart

  /// What `forge restart TARGET` restarts: the machine's input and the instances' names.
  private func restartPlan(_ target: String?) throws(ControlError) -> (FormationMachine.Input, [String]) {
    guard machine.phase == .running else { throw ControlError("forge is stopping") }
    let active = machine.activeCounts.enumerated().flatMap { index, count in
      (0..<count).map { InstanceID(typeIndex: index, number: $0 + 1) }
    }
    guard let target else {
      // Rolling: one type at a time, the next once the previous is running again.
      guard !active.isEmpty else { throw ControlError("nothing to restart: the formation has no instances") }
      return (.restartAll, active.map(name))
    }
    let chosen: [InstanceID]
    if project.procfile.index(of: target) != nil, let index = typeNames.firstIndex(of: target) {
      chosen = active.filter { $0.typeIndex == index }
      guard !chosen.isEmpty else { throw ControlError("\(target) has no instances (scaled to 0)") }
    } else if let id = active.first(where: { name($0) == target }) {
      chosen = [id]
    } else {
      throw ControlError("no process type or instance named \"\(target)\"")
    }
    return (.restart(chosen), chosen.map(name))
  }

  /// A monotonic time as RFC 3339 wall-clock time (UTC, milliseconds).
  private func wallTime(of time: Deadline, now: Deadline) -> String {
    let wall = Clock.wall()
    let milliseconds = wall.seconds * 1000 + wall.milliseconds - Int((now &- time) / 1_000_000)
    return WallTime.rfc3339(milliseconds / 1000, milliseconds % 1000)
  }
}
