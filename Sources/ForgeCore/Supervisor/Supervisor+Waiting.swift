/// Control requests whose reply waits for the formation: `forge restart` (until the last
/// instance is ready again), `forge scale --wait` and `forge wait` (until the types are ready).
extension Supervisor {
  enum WaitFor {
    case restart(reply: String)
    /// The rollout of a reload: success once it completed, failure if it halted.
    case reload(plan: String)
    /// `forge ps`, once a second resource sample can be taken (`until`).
    case processes
    /// Every instance of the types ready or done (`FormationMachine.isReadyOrDone`).
    case ready(types: [Int], scaled: Bool)
  }

  struct Waiter {
    let client: ControlConnection
    let waitFor: WaitFor
    let until: Deadline?
    let since: Deadline
  }

  /// Registers the client and answers at once if there is nothing to wait for.
  func later(_ client: ControlConnection, _ waitFor: WaitFor, until: Deadline?) -> String? {
    let now = Clock.now()
    let waiter = Waiter(client: client, waitFor: waitFor, until: until, since: now)
    if let reply = answer(waiter, now: now) { return reply }
    waiters.append(waiter)
    return nil
  }

  /// Says in the log when a requested change has completed (`check` gives the line).
  func track(_ check: @escaping (FormationMachine) -> String?) {
    pendingActions.append(check)
  }

  /// After each pass of the loop: replies to the waiters that can have theirs. A change that
  /// completed as the formation ended (its last instance gone) is still told.
  func serveWaiters(now: Deadline) {
    if !pendingActions.isEmpty {
      pendingActions.removeAll { check in
        guard let line = check(machine) else { return false }
        announce(line)
        return true
      }
    }
    startQueuedReload()
    guard !waiters.isEmpty else { return }
    waiters.removeAll { waiter in
      guard let reply = answer(waiter, now: now) else { return false }
      control?.answer(waiter.client, reply)
      return true
    }
  }

  var waitersDeadline: Deadline? { waiters.compactMap(\.until).min() }

  private func answer(_ waiter: Waiter, now: Deadline) -> String? {
    let stopping = machine.phase != .running
    switch waiter.waitFor {
    case .restart(let reply):
      if stopping { return ControlReply.failure("forge is stopping") }
      return machine.isRestarting ? nil : reply
    case .processes:
      guard let until = waiter.until, until > now else {
        if waiter.until != nil && waiter.since != now { sampleResources(now: now) }
        return processes(now: now)
      }
      return nil
    case .reload(let plan):
      if stopping { return ControlReply.failure("forge is stopping") }
      guard machine.rollout == nil else { return nil }
      switch machine.lastRollout {
      case .halted(_, let reason)?:
        return ControlReply.failure("reload halted: \(reason)", fields: [("plan", .string(plan))])
      default:
        return ControlReply.success([("plan", .string(plan)), ("release", .string(project.releaseID))])
      }
    case .ready(let types, let scaled):
      let missing = notReady(types)
      if missing.isEmpty {
        if scaled { return ControlReply.success([("formation", formation())]) }
        return ControlReply.success([("ready", .array(readyNames(types).map(JSONValue.string)))])
      }
      let list = missing.joined(separator: ", ")
      if stopping { return ControlReply.failure("forge is stopping; not ready: \(list)") }
      if let until = waiter.until, until <= now {
        // The deadline was set just before the waiter was registered: with --timeout 0 it is
        // a little earlier than `since`.
        let seconds = formatSeconds(until > waiter.since ? Double(until - waiter.since) / 1e9 : 0)
        return ControlReply.failure("not ready after \(seconds) s: \(list)")
      }
      return nil
    }
  }

  private func instances(of types: [Int]) -> [FormationMachine.Instance] {
    types.flatMap { type in
      (0..<machine.activeCounts[type]).compactMap {
        machine.instances[FormationMachine.InstanceID(typeIndex: type, number: $0 + 1)]
      }
    }
  }

  private func notReady(_ types: [Int]) -> [String] {
    instances(of: types).filter { !machine.isReadyOrDone($0) }.map { name($0.id) }
  }

  private func readyNames(_ types: [Int]) -> [String] {
    instances(of: types).map { name($0.id) }
  }

  /// A detached forge tells the `forge start --detach` that started it once every process has
  /// started (or is ready, for types with `--ready`); from then on stderr goes to the log.
  func reportIfUp() {
    guard machine.phase == .running else { return }
    for instance in machine.instances.values where instance.want != .gone {
      let type = machine.rules.types[instance.id.typeIndex]
      if case .exited(.exited(0)?) = instance.state { continue }
      if type.readiness == nil ? instance.pid == 0 : instance.readyAt == nil { return }
    }
    writeRaw(2, StartCommand.readyWord + "\(Files.processID())\n")
    redirectStandardError(to: options.logFile)
    options.reportReady = false
  }

  /// A detached forge that ends before it was up: its last lines, for the caller's terminal.
  func reportFailure(_ status: Int32) {
    let out = OutputBuffer(capacity: 4096)
    let rendering = LogRendering(json: false, timestamps: false, width: nameWidth)
    let render = { (name: String, record: LineRing.Record, line: UnsafeRawBufferPointer) in
      rendering.render(name: name, millis: record.millis, line: line, to: out)
    }
    pump.history.last(20, matching: { _ in true }, render: render)
    writeRaw(2, "forge: the formation ended (status \(status)) before it was up; its last lines:\n")
    writeRaw(2, bytes: Array(out.bytes))
  }
}
