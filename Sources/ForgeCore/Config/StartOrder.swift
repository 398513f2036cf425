/// `--after web=redis,web=migrate:done`: which types start only once others are ready (or have
/// finished). Validated against the Procfile: unknown types, a type waiting on itself and
/// cycles are bad input.
struct StartOrder: Equatable, Sendable {
  enum Condition: String, Equatable, Sendable {
    /// Every instance of the dependency is ready.
    case ready
    /// Every instance of the dependency has exited with status 0: the dependency is a task.
    case done
  }

  struct Dependency: Equatable, Sendable {
    let type: String
    let on: String
    let condition: Condition
  }

  private(set) var dependencies: [Dependency] = []

  var isEmpty: Bool { dependencies.isEmpty }

  mutating func apply(_ spec: String, source: String) throws(ConfigError) {
    for item in spec.split(separator: ",").map({ $0.trimmingBlanks() }) where !item.isEmpty {
      guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
        throw ConfigError(path: source, line: 0, message: "expected TYPE=DEPENDENCY[:ready|:done], got \"\(item)\"")
      }
      let type = String(item[..<eq])
      var target = String(item[item.index(after: eq)...])
      var condition = Condition.ready
      if let colon = target.firstIndex(of: ":") {
        guard let parsed = Condition(rawValue: String(target[target.index(after: colon)...])) else {
          throw ConfigError(path: source, line: 0, message: "expected :ready or :done in \"\(item)\"")
        }
        condition = parsed
        target = String(target[..<colon])
      }
      guard !target.isEmpty else {
        throw ConfigError(path: source, line: 0, message: "expected a process type after = in \"\(item)\"")
      }
      guard target != type else {
        throw ConfigError(path: source, line: 0, message: "\(type) cannot wait for itself")
      }
      dependencies.removeAll { $0.type == type && $0.on == target }
      dependencies.append(Dependency(type: type, on: target, condition: condition))
    }
  }

  /// Every type named must be in the Procfile, and the order must have no cycle.
  func validate(types: [String], source: String) throws(ConfigError) {
    for dependency in dependencies {
      for name in [dependency.type, dependency.on] where !types.contains(name) {
        throw ConfigError(path: source, line: 0, message: "unknown process type \"\(name)\"")
      }
    }
    if let cycle = findCycle(types: types) {
      throw ConfigError(path: source, line: 0, message: "start order has a cycle: " + cycle.joined(separator: " → "))
    }
  }

  /// Types that another waits on with `:done`: their clean exit does not end the formation.
  var tasks: Set<String> { Set(dependencies.filter { $0.condition == .done }.map(\.on)) }

  func dependencies(of type: String) -> [Dependency] { dependencies.filter { $0.type == type } }

  /// The stage each type stops in: dependents first (0), then what they depend on.
  func stopStages(types: [String]) -> [Int] {
    var stage = [String: Int]()
    func depth(_ type: String, _ seen: Set<String>) -> Int {
      if let known = stage[type] { return known }
      let dependents = dependencies.filter { $0.on == type && !seen.contains($0.type) }.map(\.type)
      let value = dependents.map { depth($0, seen.union([type])) + 1 }.max() ?? 0
      stage[type] = value
      return value
    }
    return types.map { depth($0, []) }
  }

  private func findCycle(types: [String]) -> [String]? {
    var state: [String: Int] = [:]  // 1: on the path, 2: done
    var path: [String] = []
    func visit(_ type: String) -> [String]? {
      if state[type] == 2 { return nil }
      if state[type] == 1, let start = path.firstIndex(of: type) { return Array(path[start...]) + [type] }
      state[type] = 1
      path.append(type)
      for dependency in dependencies where dependency.type == type {
        if let cycle = visit(dependency.on) { return cycle }
      }
      path.removeLast()
      state[type] = 2
      return nil
    }
    for type in types {
      if let cycle = visit(type) { return cycle }
    }
    return nil
  }
}
