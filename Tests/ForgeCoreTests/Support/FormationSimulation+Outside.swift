@testable import ForgeCore

/// What the world outside forge asks of it during a simulation, and the trace.
extension FormationSimulation {
  /// One random outside input: while running, live control (about as `forge` validates it)
  /// until the stop comes; while stopping, more stop requests and signals.
  mutating func outside() {
    let roll = random.below(100)
    guard machine.phase == .running else {
      switch roll {
      case 0..<8: feed(.stop(reason: random.pick(["SIGINT", "SIGTERM"]), escalates: true))
      case 8..<14: feed(.stop(reason: "stop request", escalates: false))
      case 14..<22: feed(.forward(signal: random.pick([1, 10, 12])))
      case 22..<32: feed(.timer)
      case 32..<36: jump()
      default: break
      }
      return
    }
    outsideLeft -= 1
    if outsideLeft < 0 || now > nanos(1000) {
      let signal = random.pick(["SIGINT", "SIGTERM", "SIGQUIT", "stop request"])
      return feed(.stop(reason: signal, escalates: signal != "stop request"))
    }
    let types = machine.rules.types.count
    let active = machine.activeCounts.enumerated().flatMap { index, count in
      (0..<count).map { ID(typeIndex: index, number: $0 + 1) }
    }
    switch roll {
    case 0..<18:
      var targets: [FormationMachine.TypeCount] = []
      for _ in 0...random.below(2) {
        let index = random.below(types)
        targets.removeAll { $0.typeIndex == index }
        targets.append(FormationMachine.TypeCount(typeIndex: index, count: random.below(5)))
      }
      feed(.scale(targets))
    case 18..<30 where !active.isEmpty:
      let one = random.pick(active)
      feed(.restart(random.percent(50) ? [one] : active.filter { $0.typeIndex == one.typeIndex }))
    case 30..<34 where !active.isEmpty:
      feed(.restartAll)
    case 34..<42:
      feed(.forward(signal: random.pick([1, 10, 12])))
    case 42..<50:
      feed(.timer)  // a wake-up for something else
    case 50..<53:
      jump()
    case 53..<57 where !active.isEmpty:  // `forge signal`
      feed(.signal(random.pick([1, 2, 10, 12, 15]), active.filter { _ in random.percent(50) }))
    default:
      break
    }
  }

  /// The machine was not scheduled for a while (a suspended VM): time moved on at once.
  mutating func jump() {
    let amount = random.seconds(5, 90)
    note(.text("clock jumps \(amount / 1_000_000) ms"))
    now += amount
    checks.jumped(amount)
  }

  // MARK: - Trace

  enum Entry {
    case input(Input)
    case action(Action)
    case text(String)
  }

  mutating func note(_ entry: Entry) {
    if verbose { return print(format(entry, at: now)) }
    if recent.count < 60 {
      recent.append((now, entry))
    } else {
      recent[recentNext] = (now, entry)  // a ring: the oldest goes
    }
    recentNext = (recentNext + 1) % 60
  }

  /// The last lines of the trace, oldest first.
  var lastSteps: String {
    let ordered = recent.count < 60 ? recent : Array(recent[recentNext...] + recent[..<recentNext])
    return ordered.map { format($1, at: $0) }.joined(separator: "\n")
  }

  func format(_ entry: Entry, at time: Deadline) -> String {
    let text: String
    switch entry {
    case .input(let input): text = describe(input)
    case .action(let action): text = "    " + describe(action)
    case .text(let note): text = note
    }
    return ascii("  [\(time / 1_000_000) ms] \(text)")
  }

  /// `swift test` drops a test's whole output when a multi-byte character straddles one of its
  /// reads: what is printed stays ASCII.
  func ascii(_ text: String) -> String {
    String(String.UnicodeScalarView(text.unicodeScalars.map { $0.isASCII ? $0 : "?" }))
  }

  func name(_ id: ID) -> String { checks.name(id) }

  private func describe(_ input: Input) -> String {
    switch input {
    case .spawned(let id, let pid): "spawned \(name(id)) pid \(pid)"
    case .spawnFailed(let id, _): "spawnFailed \(name(id))"
    case .reaped(let pid, let status): "reaped \(pid): \(status.summary)"
    case .scale(let targets):
      "scale " + targets.map { "\(machine.rules.types[$0.typeIndex].name)=\($0.count)" }.joined(separator: " ")
    case .restart(let ids): "restart " + ids.map(name).joined(separator: " ")
    case .forward(let signal): "forward \(Signal.name(signal))"
    case .probeResult(let id, let pid, let purpose, let ok, _): "\(purpose) of \(name(id)) (pid \(pid)): \(ok)"
    default: "\(input)"
    }
  }

  private func describe(_ action: Action) -> String {
    switch action {
    case .spawn(let id): "-> spawn \(name(id))"
    case .signal(let group, let signals): "-> signal \(group) " + signals.map(Signal.name).joined(separator: ",")
    case .announce(let id, let text): "-> [\(id.map(name) ?? "forge")] \(text)"
    case .runProbe(let id, let pid, let purpose): "-> probe \(purpose) of \(name(id)) (pid \(pid))"
    default: "-> \(action)"
    }
  }
}
