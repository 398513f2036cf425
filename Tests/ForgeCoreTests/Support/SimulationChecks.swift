@testable import ForgeCore

/// What must hold whatever happens, checked around each input the machine handles. It learns
/// from the inputs and actions (and reads the machine's state for timers, gates and the
/// instance an input was about), and keeps the first thing that went wrong in `failure`.
struct SimulationChecks {
  typealias ID = FormationMachine.InstanceID
  typealias Action = FormationMachine.Action

  /// What ended the formation, and so what forge must exit with.
  enum End: Equatable {
    case requested
    case status(Int32)
  }

  let rules: FormationMachine.Rules
  private(set) var failure: String?
  /// When the formation began to end (a stop request or an exit), and how far the clock jumped since.
  private(set) var endAt: Deadline?
  private(set) var jumpedSinceEnd: Deadline = 0
  /// Inputs after which `nextDeadline` was earlier than any armed timer (a wake-up for nothing).
  private(set) var spuriousDeadlines = 0

  var end: End?
  var phaseBefore = FormationMachine.Phase.running
  var leaders: [Int32: ID] = [:]
  var unreaped: Set<Int32> = []
  var emptied: Set<Int32> = []
  /// Groups spawned and not yet seen empty or given up on.
  var live: Set<Int32> = []
  var abandoned: Set<Int32> = []
  var abandonedOrphans: Set<String> = []
  var askedAt: [Int32: Deadline] = [:]
  var escalated = false
  var forced = false
  var unkillable = false
  var completion = false
  /// The instance whose leader this input reaped, if it was running as wanted (its exit is the policy's).
  var policyExit: ID?
  /// Not ready in time: stopped, then the policy as for an exit with 1. Those stopping before this input.
  var recovering: Set<ID> = []
  var recoveringBefore: Set<ID> = []
  var startedAt: [ID: Deadline] = [:]
  var backoff: [ID: Double] = [:]
  var earliestRespawn: [ID: Deadline] = [:]
  var failures: [ID: [Deadline]] = [:]
  /// The instance a restart was under way for before this input, and those `forge restart` took
  /// and that have not been spawned again yet (at once, backoff or not).
  var rollingBefore: ID?
  var cycled: Set<ID> = []
  /// Instances ready (or done, exited with 0) as of the action being checked: from the state
  /// before the input, moved on by the actions, since a gate may open and close again within
  /// one input (a restart moves on to the next instance at once).
  var readyNow: Set<ID> = []
  var doneNow: Set<ID> = []
  var giveUps = 0

  /// Whether any type waits for another (the gate checks cost something in a debug build).
  let ordered: Bool

  init(rules: FormationMachine.Rules) {
    self.rules = rules
    ordered = rules.types.contains { !$0.gates.isEmpty }
  }

  mutating func fail(_ message: String) { if failure == nil { failure = message } }

  func name(_ id: ID) -> String { "\(rules.types[id.typeIndex].name).\(id.number)" }

  mutating func jumped(_ amount: Deadline) { if endAt != nil { jumpedSinceEnd += amount } }

  // MARK: - Around each input

  mutating func willHandle(_ input: FormationMachine.Input, machine: FormationMachine, now: Deadline) {
    phaseBefore = machine.phase
    rollingBefore = machine.rollingCurrent
    if ordered {
      readyNow.removeAll(keepingCapacity: true)
      doneNow.removeAll(keepingCapacity: true)
      for (id, instance) in machine.instances {
        if Self.isThere(instance, .ready) { readyNow.insert(id) }
        if Self.isThere(instance, .done) { doneNow.insert(id) }
      }
    }
    recoveringBefore = recovering.isEmpty ? [] : Self.stopping(recovering, machine)
    policyExit = nil
    switch input {
    case .spawned(let id, let pid):
      emptied.remove(pid)
      abandoned.remove(pid)
      askedAt[pid] = nil
      live.insert(pid)
      leaders[pid] = id
      unreaped.insert(pid)
      startedAt[id] = now
    case .spawnFailed(let id, _):
      startedAt[id] = now
      if machine.phase == .running && machine.instances[id]?.want == .up { policyExit = id }
    case .reaped(let pid, let status):
      guard let id = leaders[pid], unreaped.remove(pid) != nil else { break }
      guard machine.phase == .running, machine.instances[id]?.state == .running(pid: pid),
        machine.instances[id]?.want == .up
      else { break }
      policyExit = id
      let type = rules.types[id.typeIndex]
      if (type.restart == .onFailure || type.isTask) && status.isSuccess { completion = true }
    case .groupEmpty(let pgid):
      emptied.insert(pgid)
      live.remove(pgid)
    case .stop(_, let escalates):
      if escalates && (machine.phase == .stopping || { if case .sweeping = machine.phase { true } else { false } }()) {
        escalated = true
      }
    case .orphans(9, let found):
      if !found.isEmpty, case .sweeping(.killed) = machine.phase { forced = true }
    default:
      break
    }
  }

  mutating func didHandle(
    _ input: FormationMachine.Input, _ actions: [Action], machine: FormationMachine, now: Deadline
  ) {
    if let current = machine.rollingCurrent, current != rollingBefore { cycled.insert(current) }
    for action in actions { check(action, machine: machine, now: now) }
    if phaseBefore == .running && machine.phase != .running && endAt == nil {
      endAt = now
      end = cause(of: input, actions, machine: machine)
    }
    if input == .timer, let next = machine.nextDeadline, next < now {
      fail("nextDeadline \(next) is in the past after a timer at \(now)")
    }
    let live = MachineBench.earliestLiveDeadline(machine, now: now)
    if let live, live < machine.nextDeadline ?? .max {
      fail("a timer is lost: the earliest armed deadline is \(live), nextDeadline \(machine.nextDeadline ?? 0)")
    }
    if live != machine.nextDeadline { spuriousDeadlines += 1 }
    guard machine.phase == .running else { return }
    if completion && machine.instances.values.allSatisfy({ if case .exited = $0.state { true } else { false } }) {
      fail("idle: an on-failure instance or a task finished and nothing else is left, but the formation goes on")
    }
    for (id, instance) in machine.instances where ordered && instance.want == .up {
      guard !rules.types[id.typeIndex].gates.isEmpty, gatesOpen(id.typeIndex, machine) else { continue }
      // Due, free to start, and no wake-up left that could start it: it waits for nothing.
      if case .waiting(let until, _) = instance.state, until <= now, until < machine.nextDeadline ?? .max {
        fail("\(name(id)) waits although its time has come and what it waits for is there")
      }
    }
    for id in startedAt.keys where machine.instances[id] == nil {  // scaled away: a new one starts afresh
      (startedAt[id], backoff[id], earliestRespawn[id], failures[id]) = (nil, nil, nil, nil)
    }
    if !recovering.isEmpty { recovering = Self.stopping(recovering, machine) }
  }

  private mutating func check(_ action: Action, machine: FormationMachine, now: Deadline) {
    switch action {
    case .signal(let group, let signals):
      checkStillThere(group, "signalled")
      let type = leaders[group].map { rules.types[$0.typeIndex] }
      if signals == [Teardown.sigkill] {
        if phaseBefore != .running { forced = true }
        if let asked = askedAt[group], let type, now < asked + type.teardown.grace, !escalated {
          fail("SIGKILL to group \(group) \(now - asked) ns after asking it to stop, within the grace period")
        } else if askedAt[group] == nil && !escalated {
          fail("SIGKILL to group \(group) that was never asked to stop")
        }
      } else if signals.count == 2 {
        if let type, signals != [type.teardown.stopSignal, Teardown.sigcont] {
          fail("group \(group) of type \(type.name) asked with \(signals), not its stop signal and SIGCONT")
        }
        if let id = leaders[group], unreaped.contains(group) { readyNow.remove(id) }  // stopping: not ready
        if askedAt[group] != nil { fail("group \(group) asked to stop twice") }
        askedAt[group] = now
        if machine.phase != .running && !escalated && unreaped.contains(group), let type {
          // Stop stages: dependents first; what they depend on once they are gone. (The leftover
          // group of a leader that exited on its own is asked at once, whatever its stage.)
          let earlier = self.live.filter { $0 != group && stage(of: $0) < type.stopStage }
          if let other = earlier.min() {
            fail("group \(group) asked to stop while \(other) of an earlier stage is there")
          }
        }
      }
    case .probe(let groups):
      for group in groups { checkStillThere(group, "probed") }
    case .runProbe(let id, let pid, _):
      if leaders[pid] != id || !unreaped.contains(pid) { fail("probe of \(name(id)) for pid \(pid), not its process") }
    case .spawn(let id):
      if phaseBefore != .running { fail("\(name(id)) spawned while the formation ends") }
      if !gatesOpen(id.typeIndex, machine, orNow: true) {
        fail("\(name(id)) spawned before what it waits for is there")
      }
      if let at = earliestRespawn[id], now < at, !cycled.contains(id) {
        fail("\(name(id)) spawned \(at - now) ns before its backoff ended")
      }
      earliestRespawn[id] = nil
      cycled.remove(id)
    case .sweep:
      if let group = live.min() { fail("sweep for orphans while group \(group) is still there") }
    case .announce(let id?, let text):
      if text.hasPrefix("started with pid") && rules.types[id.typeIndex].readiness == nil
        || text.hasPrefix("ready after")
      {
        readyNow.insert(id)
      } else if text.hasPrefix("started with pid") || text.hasPrefix("terminated by") || text.hasPrefix("exited with") {
        readyNow.remove(id)
      }
      if text == "exited with code 0" {
        doneNow.insert(id)
      } else if text.hasPrefix("started with") {
        doneNow.remove(id)
      }
      announced(id, text, now: now)
    case .announce(nil, let text):
      announced(text, now: now)
    default:
      break
    }
  }

  private mutating func checkStillThere(_ group: Int32, _ what: String) {
    if emptied.contains(group) { fail("group \(group) \(what) after the machine was told it is empty") }
    if abandoned.contains(group) { fail("group \(group) \(what) after it was given up on") }
  }

  private func stage(of group: Int32) -> Int { leaders[group].map { rules.types[$0.typeIndex].stopStage } ?? 0 }

  /// Whether every type `typeIndex` waits for is there: each instance ready, or done (with
  /// `orNow`, an instance that is so as of the action being checked counts too).
  func gatesOpen(_ typeIndex: Int, _ machine: FormationMachine, orNow: Bool = false) -> Bool {
    for gate in rules.types[typeIndex].gates {
      for number in stride(from: 1, through: machine.activeCounts[gate.typeIndex], by: 1) {
        let id = ID(typeIndex: gate.typeIndex, number: number)
        if Self.isThere(machine.instances[id], gate.condition) { continue }
        if orNow && (gate.condition == .ready ? readyNow : doneNow).contains(id) { continue }
        return false
      }
    }
    return true
  }

  /// Those of `ids` whose instance is being stopped.
  static func stopping(_ ids: Set<ID>, _ machine: FormationMachine) -> Set<ID> {
    var found: Set<ID> = []
    for id in ids {
      if case .stopping? = machine.instances[id]?.state { found.insert(id) }
    }
    return found
  }

  /// Running and ready (`:ready`), or exited with 0 (`:done`).
  private static func isThere(_ instance: FormationMachine.Instance?, _ condition: StartOrder.Condition) -> Bool {
    switch (condition, instance?.state) {
    case (.ready, .running?): return instance?.readyAt != nil
    case (.done, .exited(.exited(0))?): return true
    default: return false
    }
  }
}
