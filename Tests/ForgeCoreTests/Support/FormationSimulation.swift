@testable import ForgeCore

/// One seeded run of the formation machine against a fake process table, driven the way
/// `Supervisor` drives it (inputs found while performing actions are handled after them, reaps
/// before timers, `port` probes answered at once and `exec:` ones later, READY=1 when a
/// process says it), with random outside inputs (scale, restart, stop, forwarded signals, stray
/// timers, clock jumps) until forge exits or a check fails.
struct FormationSimulation {
  typealias Input = FormationMachine.Input
  typealias Action = FormationMachine.Action
  typealias ID = FormationMachine.InstanceID

  /// A probe of one instance for one purpose: the driver runs one at a time.
  struct ProbeKey: Hashable {
    let id: ID
    let health: Bool
  }

  /// Something the outside world tells the driver later: a probe's answer, a READY=1.
  struct Pending {
    let at: Deadline
    let id: ID
    let pid: Int32
    let health: Bool
    let pushed: Bool
  }

  static let maximumDrain = nanos(2)

  let seed: UInt64
  let scenario: SimulationScenario
  let verbose: Bool
  var machine: FormationMachine
  var checks: SimulationChecks
  var now: Deadline = nanos(100)
  var handled = 0
  var random: SimRandom
  var world: FakeProcessTable
  var inputs: [Input] = []
  var feeding = false
  var drainAt: Deadline?
  var pending: [Pending] = []
  var probing: Set<ProbeKey> = []
  var nextOutside: Deadline
  var outsideLeft: Int
  var step = 0
  /// The last lines of the trace, for a failure message; all of it is printed when `verbose`.
  var recent: [(Deadline, Entry)] = []
  var recentNext = 0

  init(seed: UInt64, verbose: Bool = false) {
    self.seed = seed
    self.verbose = verbose
    var random = SimRandom(seed: seed)
    scenario = SimulationScenario(&random)
    machine = FormationMachine(rules: scenario.rules)
    checks = SimulationChecks(rules: scenario.rules)
    world = FakeProcessTable(random: random.split())
    outsideLeft = 3 + random.below(60)
    nextOutside = now + random.seconds(0, 3)
    self.random = random
  }

  /// Runs to forge's exit; returns what went wrong first, if anything.
  mutating func run() -> String? {
    note(.text("seed \(seed): \(scenario.summary)"))
    feed(.start(counts: scenario.counts))
    while checks.failure == nil {
      if case .finished = machine.phase { break }
      step += 1
      if step > 200_000 { return failure("no exit after \(step) steps") }
      if machine.phase != .running && machine.nextDeadline == nil && world.nextEvent == nil && drainAt == nil
        && pending.isEmpty
      {
        return failure("idle in \(machine.phase): no timer, and nothing left to happen")
      }
      if let endAt = checks.endAt, now > endAt + scenario.stopAllowance + checks.jumpedSinceEnd {
        return failure("still \(machine.phase) \((now - endAt) / 1_000_000) ms after the end began")
      }
      var next = nextOutside
      for candidate in [world.nextEvent, machine.nextDeadline, drainAt, pending.map(\.at).min()] {
        if let at = candidate, at < next { next = at }
      }
      now = max(now, next)
      world.advance(to: now)
      if let at = world.sigchldAt, at <= now { reapChildren() }
      deliverPending()
      if let at = drainAt, at <= now {
        drainAt = nil
        if case .draining = machine.phase { feed(.outputDrained) }
      }
      if nextOutside <= now {
        outside()
        nextOutside = now + (random.percent(10) ? 0 : random.seconds(0, random.percent(75) ? 3 : 25))
      }
      if let due = machine.nextDeadline, due <= now {
        reapChildren()
        feed(.timer)
      }
    }
    return checks.failure.map { failure($0) }
  }

  func failure(_ message: String) -> String {
    let trace = verbose ? "" : "\n  last steps:\n" + lastSteps
    let instances = machine.orderedInstances.map { "\(name($0.id)) \($0.want) \($0.state)" }.joined(separator: "; ")
    let state =
      "\n  machine: \(machine.phase), unfinished \(machine.unfinished), groups \(machine.groups.keys.sorted()), "
      + "children may remain \(machine.childrenMayRemain), instances: \(instances)"
    return ascii(
      "seed \(seed), step \(step), t=\(Double(now) / 1e9) s: \(message)\(state)\(trace)\n  replay with: make sim SEED=\(seed)"
    )
  }

  // MARK: - The driver

  mutating func feed(_ input: Input) {
    inputs.append(input)
    guard !feeding else { return }
    feeding = true
    var next = 0
    while next < inputs.count && checks.failure == nil {
      let input = inputs[next]
      next += 1
      note(.input(input))
      checks.willHandle(input, machine: machine, now: now)
      let actions = machine.handle(input, now: now)
      handled += 1
      checks.didHandle(input, actions, machine: machine, now: now)
      for action in actions {
        note(.action(action))
        perform(action)
      }
    }
    inputs.removeAll(keepingCapacity: true)
    feeding = false
  }

  private mutating func perform(_ action: Action) {
    switch action {
    case .spawn(let id):
      guard !random.percent(2) else {
        return inputs.append(.spawnFailed(id, reason: "Resource temporarily unavailable"))
      }
      let pid = world.spawn(now: now)
      inputs.append(.spawned(id, pid: pid))
      if machine.rules.types[id.typeIndex].readiness == .notify, let at = world.processes[pid]?.readyAt {
        pending.append(Pending(at: at, id: id, pid: pid, health: false, pushed: true))
      }
    case .signal(let group, let signals):
      for signal in signals {
        switch world.signalGroup(group, signal, now: now) {
        case .delivered: continue
        case .empty: inputs.append(.groupEmpty(group))
        case .refused: inputs.append(.signalRefused(group))
        }
        break
      }
    case .probe(let groups):
      for group in groups where world.groupIsEmpty(group) { inputs.append(.groupEmpty(group)) }
    case .sweep(let signal):
      inputs.append(.orphans(signal: signal, found: world.sweep(signal, now: now)))
      reapChildren()
    case .runProbe(let id, let pid, let purpose):
      let type = machine.rules.types[id.typeIndex]
      let key = ProbeKey(id: id, health: purpose == .health)
      guard let probe = key.health ? type.health : type.readiness, !probing.contains(key) else { return }
      if probe == .port {
        inputs.append(answer(id, pid: pid, health: key.health))  // read from /proc at once
      } else {
        probing.insert(key)
        pending.append(Pending(at: now + random.seconds(0, 1), id: id, pid: pid, health: key.health, pushed: false))
      }
    case .beginDrain:
      drainAt = now + (random.percent(20) ? 0 : random.seconds(0, Double(Self.maximumDrain) / 1e9))
    case .exit(let status):
      checks.finished(status, world: world)
    case .collectOutput, .announce, .warn, .instancesAdded, .event:
      break
    }
  }

  private func answer(_ id: ID, pid: Int32, health: Bool) -> Input {
    let ok = world.answers(pid, health: health, now: now)
    return .probeResult(
      id, pid: pid, purpose: health ? .health : .readiness, ok: ok, detail: ok ? "" : "nothing answers")
  }

  /// Probe answers and READY=1 messages that are due, in order.
  private mutating func deliverPending() {
    while let index = pending.indices.filter({ pending[$0].at <= now }).min(by: { pending[$0].at < pending[$1].at }) {
      let due = pending.remove(at: index)
      if due.pushed {
        if world.isAlive(due.pid) {
          feed(.probeResult(due.id, pid: due.pid, purpose: .readiness, ok: true, detail: ""))
        }
      } else {
        probing.remove(ProbeKey(id: due.id, health: due.health))
        feed(answer(due.id, pid: due.pid, health: due.health))
      }
    }
  }

  /// As `Supervisor.reapChildren`: each exit is handled before the next waitpid (handling it
  /// may spawn, and a pid is reused only once reaped), then "no children" on ECHILD.
  mutating func reapChildren() {
    while true {
      let (exit, none) = world.reapOne()
      guard let exit else {
        if none { feed(.childrenGone) }
        return
      }
      feed(.reaped(pid: exit.pid, status: exit.status))
    }
  }
}
