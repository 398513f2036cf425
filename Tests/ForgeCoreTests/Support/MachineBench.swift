@testable import ForgeCore

/// `seconds` as the machine's nanoseconds.
func nanos(_ seconds: Double) -> Deadline { Deadline((seconds * 1_000_000_000).rounded()) }

/// A formation machine, the time handed to it, and a few ways to feed it for table tests.
/// Instance `type.number` runs as pid `100 * (type + 1) + number` (a.1 is 101, b.1 is 201).
struct MachineBench {
  typealias Action = FormationMachine.Action
  typealias Input = FormationMachine.Input
  typealias ID = FormationMachine.InstanceID

  var machine: FormationMachine
  var now: Deadline = nanos(1000)

  /// One `(name, restart, stop signal)` per type; one grace period and bound for all, as forge sets them.
  /// `configure` may add readiness, health and a start order (`dependents` are filled in after it).
  init(
    _ types: [(String, RestartPolicy.Mode, Int32)], grace: Double = 5, bound: Deadline = Teardown.defaultBound,
    configure: (inout [FormationMachine.ProcessType]) -> Void = { _ in }
  ) {
    var types = types.map { name, restart, stop in
      FormationMachine.ProcessType(
        name: name, restart: restart, teardown: Teardown(stopSignal: stop, grace: nanos(grace), bound: bound))
    }
    configure(&types)
    for index in types.indices {
      for gate in types[index].gates { types[gate.typeIndex].dependents.append(index) }
    }
    machine = FormationMachine(
      rules: FormationMachine.Rules(
        types: types, orphanTeardown: Teardown(stopSignal: 15, grace: nanos(grace), bound: bound)))
  }

  static func id(_ type: Int, _ number: Int) -> ID { ID(typeIndex: type, number: number) }
  static func pid(_ type: Int, _ number: Int) -> Int32 { Int32(100 * (type + 1) + number) }

  /// The actions for `input`, without `event`s (lifecycle events for `forge events`, a side channel).
  @discardableResult
  mutating func send(_ input: Input) -> [Action] {
    machine.handle(input, now: now).filter { if case .event = $0 { false } else { true } }
  }

  /// Moves the clock on by `seconds` and delivers a timer, as the driver does when a deadline passes.
  @discardableResult
  mutating func wait(_ seconds: Double) -> [Action] {
    now += nanos(seconds)
    return send(.timer)
  }

  /// Starts the formation and answers every spawn with the instance's pid.
  mutating func start(_ counts: [Int]) {
    for action in send(.start(counts: counts)) {
      guard case .spawn(let id) = action else { continue }
      send(.spawned(id, pid: Self.pid(id.typeIndex, id.number)))
    }
  }

  /// Feeds `input` and answers what the machine asks the way the driver would, given which
  /// groups are empty and which orphans a sweep finds. Returns every action, in order.
  @discardableResult
  mutating func drive(_ input: Input, empty: Set<Int32> = [], orphans: [String] = []) -> [Action] {
    var queue = [input]
    var all: [Action] = []
    while !queue.isEmpty {
      let actions = send(queue.removeFirst())
      all += actions
      for action in actions {
        switch action {
        case .signal(let group, _) where empty.contains(group): queue.append(.groupEmpty(group))
        case .probe(let groups): queue += groups.filter { empty.contains($0) }.map { .groupEmpty($0) }
        case .sweep(let signal): queue.append(.orphans(signal: signal, found: orphans))
        case .beginDrain: queue.append(.outputDrained)
        default: break
        }
      }
    }
    return all
  }

  /// A leader ended and its group with it (nothing else was left in it).
  @discardableResult
  mutating func end(_ pid: Int32, _ status: WaitStatus, orphans: [String] = []) -> [Action] {
    var all = drive(.reaped(pid: pid, status: status), empty: [pid], orphans: orphans)
    if machine.groups[pid] != nil { all += drive(.groupEmpty(pid), empty: [pid], orphans: orphans) }
    return all
  }

  /// The status of the `exit` action among `actions`, if there is one.
  static func exit(in actions: [Action]) -> Int32? {
    for case .exit(let status) in actions { return status }
    return nil
  }

  /// Every group signalled among `actions`, with the signals, in order.
  static func signals(in actions: [Action]) -> [Int32: [Int32]] {
    var found: [Int32: [Int32]] = [:]
    for case .signal(let group, let signals) in actions { found[group, default: []] += signals }
    return found
  }

  /// What forge said about the formation (`announce` without an instance) and about instances.
  static func messages(in actions: [Action]) -> [String] {
    actions.compactMap { action in
      guard case .announce(let id, let text) = action else { return nil }
      return id.map { "\($0.typeIndex).\($0.number): \(text)" } ?? text
    }
  }

  /// The deadline of the earliest timer the machine's state says is armed, worked out from
  /// the state rather than the heap: `nextDeadline` must equal it. Deadlines of probes and of
  /// waiting instances that are due by `now` do not count: the timer fired, and an instance that
  /// waits for other types (`--after`) past its time is woken by their readiness instead.
  static func earliestLiveDeadline(_ machine: FormationMachine, now: Deadline = 0) -> Deadline? {
    var earliest: Deadline?
    func consider(_ deadline: Deadline?) {
      if let deadline, deadline < earliest ?? .max { earliest = deadline }
    }
    for (id, instance) in machine.instances {
      if case .waiting(let until, _) = instance.state, until > now || machine.rules.types[id.typeIndex].gates.isEmpty {
        consider(until)
      }
      // These stay set once their timer has fired (the instance left `running` meanwhile).
      for deadline in [instance.nextProbeAt, instance.readyDeadline] where deadline ?? 0 > now { consider(deadline) }
    }
    for group in machine.groups.values { consider(group.stage?.deadline) }
    if case .sweeping(let stage) = machine.phase { consider(stage.deadline) }
    if !machine.leaderless.isEmpty { consider(machine.recheckAt) }  // nothing to look at otherwise
    return earliest
  }
}
