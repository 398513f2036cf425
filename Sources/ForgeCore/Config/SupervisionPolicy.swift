/// When an exited process is started again, and when forge gives up.
///
/// `--restart never|on-failure|always` sets the default; `--restart web=always,migrate=never`
/// sets types (both forms may be combined: `always,migrate=never`). Backoff between spawns of
/// one instance starts at 1 s and doubles up to 30 s; it resets once the instance stayed up
/// 10 s. More than `maxRestarts` exits within `window` seconds mark the type failed and end
/// the formation.
struct RestartPolicy: Equatable, Sendable {
  enum Mode: String, Sendable {
    case never
    case onFailure = "on-failure"
    case always
  }

  var defaultMode: Mode = .never
  var perType: [String: Mode] = [:]
  var maxRestarts = 5
  var windowSeconds = 60.0

  static let initialBackoff = 1.0
  static let maximumBackoff = 30.0
  static let stableAfter = 10.0

  func mode(for type: String) -> Mode { perType[type] ?? defaultMode }

  /// Whether an exit with `status` is followed by a restart.
  func restarts(_ type: String, after status: WaitStatus) -> Bool {
    switch mode(for: type) {
    case .never: return false
    case .onFailure: return !status.isSuccess
    case .always: return true
    }
  }

  /// The delay before the next spawn, given the current one and how long the process ran.
  static func nextBackoff(current: Double, uptimeSeconds: Double) -> Double {
    if uptimeSeconds >= stableAfter || current <= 0 { return initialBackoff }
    return min(current * 2, maximumBackoff)
  }

  /// Whether `failures` (monotonic nanosecond times, the newest last) exceed the limit within
  /// the window ending at `now`.
  func givesUp(failures: [UInt64], now: UInt64) -> Bool {
    let window = UInt64(windowSeconds * 1_000_000_000)
    let recent = failures.filter { now &- $0 <= window }.count
    return recent > maxRestarts
  }

  mutating func apply(_ spec: String, source: String) throws(ConfigError) {
    for item in spec.split(separator: ",").map({ $0.trimmingBlanks() }) where !item.isEmpty {
      if let eq = item.firstIndex(of: "=") {
        let type = String(item[..<eq])
        guard let mode = Mode(rawValue: String(item[item.index(after: eq)...])) else {
          throw ConfigError(path: source, line: 0, message: "expected never, on-failure or always in \"\(item)\"")
        }
        perType[type] = mode
      } else {
        guard let mode = Mode(rawValue: item) else {
          throw ConfigError(path: source, line: 0, message: "expected never, on-failure or always, got \"\(item)\"")
        }
        defaultMode = mode
      }
    }
  }
}

/// The signal that asks each type to stop: SIGTERM unless `--stop-signal` says otherwise
/// (`SIGQUIT`, or per type `web=SIGINT,nginx=SIGQUIT`). SIGCONT always follows, so a stopped
/// process group can act on it.
struct StopSignals: Equatable, Sendable {
  var defaultSignal: Int32 = 15
  var perType: [String: Int32] = [:]

  func signal(for type: String) -> Int32 { perType[type] ?? defaultSignal }

  mutating func apply(_ spec: String, source: String) throws(ConfigError) {
    for item in spec.split(separator: ",").map({ $0.trimmingBlanks() }) where !item.isEmpty {
      let type: String?
      let name: String
      if let eq = item.firstIndex(of: "=") {
        type = String(item[..<eq])
        name = String(item[item.index(after: eq)...])
      } else {
        type = nil
        name = item
      }
      guard let number = Signal.number(named: name) else {
        throw ConfigError(path: source, line: 0, message: "unknown signal \"\(name)\"")
      }
      if let type { perType[type] = number } else { defaultSignal = number }
    }
  }
}

/// Seconds as the log says them: "1", "0.5", "2.5".
func formatSeconds(_ value: Double) -> String {
  let tenths = Int((value * 10).rounded())
  return tenths % 10 == 0 ? String(tenths / 10) : "\(tenths / 10).\(tenths % 10)"
}
