@testable import ForgeCore

/// A random formation for one seed, built the way `Supervisor.rules` builds forge's: types with
/// restart policies and stop signals, a start order (`--after`) with its tasks and stop
/// stages, readiness and health probes, one grace period.
struct SimulationScenario {
  let rules: FormationMachine.Rules
  let counts: [Int]
  let grace: Deadline

  init(_ random: inout SimRandom) {
    let names = ["web", "worker", "clock", "migrate"]
    let modes: [RestartPolicy.Mode] = [.never, .onFailure, .onFailure, .always, .always, .always]
    grace = nanos(random.pick([0, 0.3, 1, 2, 3, 5, 5, 10]))
    let typeCount = 1 + random.below(random.percent(30) ? 4 : 3)
    var order = StartOrder()
    for index in 1..<max(typeCount, 1) where random.percent(30) {
      let on = names[random.below(index)]
      try! order.apply("\(names[index])=\(on):\(random.percent(70) ? "ready" : "done")", source: "--after")
    }
    let used = Array(names.prefix(typeCount))
    let stages = order.stopStages(types: used)
    let readyTimeout = nanos(random.pick([2, 5, 20]))
    let healthInterval = nanos(random.pick([1, 3, 10]))
    var types: [FormationMachine.ProcessType] = []
    var counts: [Int] = []
    for (index, name) in used.enumerated() {
      let stop = Teardown(stopSignal: random.pick([15, 15, 15, 15, 2, 3]), grace: grace, bound: Teardown.defaultBound)
      var type = FormationMachine.ProcessType(name: name, restart: random.pick(modes), teardown: stop)
      let readiness = random.below(100)
      type.readiness =
        readiness < 50 ? nil : readiness < 75 ? .port : readiness < 90 ? .notify : .exec(command: "check")
      type.readyTimeout = readyTimeout
      type.health = random.percent(20) ? .port : nil
      type.healthInterval = healthInterval
      type.isTask = order.tasks.contains(name)
      type.stopStage = stages[index]
      type.gates = order.dependencies(of: name).compactMap { dependency in
        used.firstIndex(of: dependency.on).map { FormationMachine.Gate(typeIndex: $0, condition: dependency.condition) }
      }
      types.append(type)
      counts.append(random.below(4))
    }
    for index in types.indices {
      for gate in types[index].gates where !types[gate.typeIndex].dependents.contains(index) {
        types[gate.typeIndex].dependents.append(index)
      }
    }
    self.counts = counts
    rules = FormationMachine.Rules(
      types: types, orphanTeardown: Teardown(stopSignal: 15, grace: grace, bound: Teardown.defaultBound))
  }

  /// The longest a stop may take once the formation began to end: each stop stage its grace
  /// period and bound, the sweep as much again, the drain, and a second for reaping.
  var stopAllowance: Deadline {
    let stages = Deadline((rules.types.map(\.stopStage).max() ?? 0) + 2)
    return stages * (grace + Teardown.defaultBound) + FormationSimulation.maximumDrain + nanos(1)
  }

  /// "web=2 always SIGTERM ready port, worker=1 never SIGINT after web:ready", for the trace.
  var summary: String {
    let types = rules.types.enumerated().map { index, type in
      var text = "\(type.name)=\(counts[index]) \(type.restart) \(Signal.name(type.teardown.stopSignal))"
      if let probe = type.readiness { text += " ready \(probe.spec)" }
      if let probe = type.health { text += " health \(probe.spec)" }
      for gate in type.gates { text += " after \(rules.types[gate.typeIndex].name):\(gate.condition.rawValue)" }
      if type.isTask { text += " task" }
      if type.stopStage > 0 { text += " stage \(type.stopStage)" }
      return text
    }
    return types.joined(separator: ", ") + ", grace \(Double(grace) / 1e9) s"
  }
}
