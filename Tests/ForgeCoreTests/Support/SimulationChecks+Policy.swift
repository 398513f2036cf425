@testable import ForgeCore

/// The restart policy, what ended the formation, and the end itself.
extension SimulationChecks {
  /// What forge said about an instance.
  mutating func announced(_ id: ID, _ text: String, now: Deadline) {
    if text.hasPrefix("restarting in ") {
      guard let started = startedAt[id] else { return fail("\(name(id)) restarting but never started") }
      if rules.types[id.typeIndex].restart == .never { fail("\(name(id)) of a never type restarting") }
      let expected = RestartPolicy.nextBackoff(
        current: backoff[id] ?? 0, uptimeSeconds: Double(now - started) / 1_000_000_000)
      if text != "restarting in \(formatSeconds(expected)) s" {
        fail("\(name(id)): \"\(text)\", expected \(expected) s")
      }
      backoff[id] = expected
      earliestRespawn[id] = now + nanos(expected)
      if recentFailures(id, now: now) > rules.restart.maxRestarts {
        fail("\(name(id)) restarting after more than \(rules.restart.maxRestarts) failures in a minute")
      }
    } else if text.hasPrefix("unhealthy (") {
      earliestRespawn[id] = nil  // started again as soon as it is gone, no backoff
      _ = recentFailures(id, now: now)
    } else if text.hasPrefix("not ready after ") {
      recovering.insert(id)
    }
  }

  /// What forge said about the formation.
  mutating func announced(_ text: String, now: Deadline) {
    if text.hasSuffix("; giving up") {
      giveUps += 1
      if giveUps > 1 { fail("giving up announced twice") }
      guard let from = text.range(of: "failed: "), let to = text.range(of: " times within "),
        let space = text[from.upperBound..<to.lowerBound].firstIndex(of: " "),
        let dot = text[from.upperBound..<space].lastIndex(of: "."),
        let typeIndex = rules.types.firstIndex(where: { $0.name == text[from.upperBound..<dot] }),
        let number = Int(text[text.index(after: dot)..<space])
      else { return fail("cannot read \"\(text)\"") }
      let id = ID(typeIndex: typeIndex, number: number)
      let count = failures[id]?.last == now ? failures[id]!.count : recentFailures(id, now: now)
      if count <= rules.restart.maxRestarts { fail("gave up on \(name(id)) after \(count) failures") }
    } else if text.hasSuffix("is still there after SIGKILL; giving up on it") {
      unkillable = true
      if let range = text.range(of: "(process group "), let pgid = Int32(text[range.upperBound...].prefix { $0 != ")" })
      {
        abandoned.insert(pgid)
        live.remove(pgid)
      }
    } else if text.hasPrefix("still there after SIGKILL, giving up on them: ") {
      unkillable = true
      let list = text.dropFirst("still there after SIGKILL, giving up on them: ".count)
      for label in list.split(separator: ",") { abandonedOrphans.insert(String(label.drop { $0 == " " })) }
    }
  }

  /// Failures of the instance within the give-up window, this one (at `now`) counted.
  mutating func recentFailures(_ id: ID, now: Deadline) -> Int {
    failures[id, default: []].append(now)
    let window = nanos(rules.restart.windowSeconds)
    return failures[id, default: []].filter { now - $0 <= window }.count
  }

  /// What the input that ended the formation says forge's status is (the README's table).
  mutating func cause(of input: FormationMachine.Input, _ actions: [Action], machine: FormationMachine) -> End {
    if case .stop = input { return .requested }
    let gaveUp = actions.contains {
      if case .announce(nil, let text) = $0 { text.hasSuffix("; giving up") } else { false }
    }
    if case .probeResult = input, gaveUp { return .status(1) }  // unhealthy too often
    let status: WaitStatus
    switch input {
    case .reaped(_, let reaped): status = reaped
    case .spawnFailed: status = .exited(127)
    default: status = .exited(0)
    }
    guard let id = policyExit else {
      // A failed start is an exit with 1 once the instance is stopped (unless scaled away meanwhile).
      let recovered = recoveringBefore.contains { id in
        machine.instances[id].map { if case .stopping = $0.state { false } else { true } } ?? false
      }
      if recovered { return .status(1) }
      if !completion { fail("the formation ended on \(input) without a cause") }
      return .status(0)
    }
    let type = rules.types[id.typeIndex]
    if gaveUp { return .status(status.isSuccess ? 1 : status.shellStatus) }
    if type.isTask && status.isSuccess { return .status(0) }
    switch type.restart {
    case .never: return .status(status.shellStatus)
    case .onFailure: return .status(status.isSuccess ? 0 : status.shellStatus)
    case .always:
      fail("an always type ended the formation without giving up")
      return .status(status.shellStatus)
    }
  }

  /// forge exits: with the status the README's table gives, and with every process it started
  /// either reaped or named as given up on.
  mutating func finished(_ status: Int32, world: FakeProcessTable) {
    guard let end else { return fail("exit(\(status)) but the formation never began to end") }
    let expected: Int32
    switch end {
    case .status(let code): expected = code
    case .requested: expected = unkillable ? 1 : forced ? 137 : 0
    }
    if status != expected {
      fail("exit(\(status)), expected \(expected) (\(end), forced \(forced), unkillable \(unkillable))")
    }
    func named(_ pid: Int32) -> Bool {
      abandoned.contains(pid) || abandonedOrphans.contains { $0.hasPrefix("\(pid) (") }
    }
    // Alive and not named is fine for what an unkillable process named at the end started: forge
    // could not see it then, and the leader's children are its own business.
    func accounted(_ pid: Int32, depth: Int = 0) -> Bool {
      guard let process = world.processes[pid], depth < 8 else { return false }
      if abandoned.contains(process.group) || named(pid) || process.spawner.map(named) == true { return true }
      return process.parent != FakeProcessTable.forge && world.isAlive(process.parent)
        && accounted(process.parent, depth: depth + 1)
    }
    for pid in unreaped.sorted() where !named(pid) {
      fail("leader \(pid) was neither reaped nor named as given up on")
    }
    for pid in world.processes.keys.sorted() where world.isAlive(pid) && !accounted(pid) {
      fail("forge exits while \(pid) (\(world.processes[pid]!.command)) lives on, never named")
    }
  }
}
