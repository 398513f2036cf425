/// The control protocol: one JSON object per line each way over the control socket
/// (docs/control-protocol.md). Pure: bytes in, values out.
enum ControlRequest: Equatable, Sendable {
  /// Sets counts (`counts`) and changes them by a signed amount (`deltas`); both empty asks
  /// for the current formation.
  /// With `wait`, the reply comes once the new instances are ready.
  case scale(counts: [(String, Int)], deltas: [(String, Int)], wait: Bool)
  case ps
  /// A type, an instance (`web.2`), or everything when nil; one instance at a time, the next
  /// once the previous is ready again. With `wait`, the reply comes once the last one is.
  case restart(target: String?, wait: Bool)
  case stop
  case env
  /// Replies once every instance of `types` (all types when empty) is ready, or with an error
  /// naming what is not after `timeout` seconds or when forge stops.
  case wait(types: [String], timeout: Double)
  /// Reads the files again and rolls out the new release; `dryRun` only tells the plan.
  case reload(dryRun: Bool)
  /// Sends a signal to the process groups of the targets (types or instances; all when empty).
  case signal(signal: String, targets: [String])
  /// The last `lines` lines of the targets (all when empty), then with `follow` live ones.
  /// `timestamps`: the viewer's choice; nil (absent) is the running forge's own setting.
  case logs(targets: [String], lines: Int, follow: Bool, json: Bool, timestamps: Bool?, pipe: Bool = false)
  /// Lifecycle events, live.
  case events(json: Bool)
  /// The caller's terminal to an instance's (`web` means `web.1`); frames follow the reply.
  case attach(target: String, rows: Int, columns: Int, steal: Bool)

  static func == (a: ControlRequest, b: ControlRequest) -> Bool {
    a.encoded() == b.encoded()
  }

  /// The largest request accepted; anything longer is refused.
  static let maximumSize = 64 * 1024

  static func decode(_ line: [UInt8]) throws(ControlError) -> ControlRequest {
    let value: JSONValue
    do {
      value = try JSONValue.parse(line)
    } catch {
      throw ControlError("invalid JSON at byte \(error.offset): \(error.message)")
    }
    guard case .object = value else { throw ControlError("expected a JSON object") }
    guard let command = value["command"]?.string else { throw ControlError("missing \"command\"") }
    switch command {
    case "ps": return .ps
    case "stop": return .stop
    case "env": return .env
    case "restart":
      let wait = try flag(value["wait"], "wait")
      switch value["target"] {
      case nil, .null?: return .restart(target: nil, wait: wait)
      case .string(let target)?: return .restart(target: target, wait: wait)
      default: throw ControlError("\"target\" must be a string")
      }
    case "scale":
      return .scale(
        counts: try counts(value["counts"], "counts"), deltas: try counts(value["deltas"], "deltas"),
        wait: try flag(value["wait"], "wait"))
    case "wait":
      var types: [String] = []
      switch value["types"] {
      case nil, .null?: break
      case .array(let items)?:
        for item in items {
          guard let type = item.string else { throw ControlError("\"types\" must hold strings") }
          types.append(type)
        }
      default: throw ControlError("\"types\" must be an array")
      }
      var timeout = 60.0
      if let given = value["timeout"], given != .null {
        guard let seconds = given.number, seconds >= 0, seconds <= 1_000_000 else {
          throw ControlError("\"timeout\" must be seconds")
        }
        timeout = seconds
      }
      return .wait(types: types, timeout: timeout)
    case "reload":
      return .reload(dryRun: try flag(value["dry_run"], "dry_run"))
    case "logs":
      var lines = 100
      if let given = value["lines"], given != .null {
        guard let n = given.integer, n >= 0, n <= 1_000_000 else { throw ControlError("\"lines\" must be a count") }
        lines = n
      }
      var timestamps: Bool?
      if let given = value["timestamps"], given != .null { timestamps = try flag(given, "timestamps") }
      return .logs(
        targets: try strings(value["targets"], "targets"), lines: lines, follow: try flag(value["follow"], "follow"),
        json: try flag(value["json"], "json"), timestamps: timestamps, pipe: try flag(value["pipe"], "pipe"))
    case "events":
      return .events(json: try flag(value["json"], "json"))
    case "attach":
      guard let target = value["target"]?.string else { throw ControlError("missing \"target\"") }
      return .attach(
        target: target, rows: min(max(value["rows"]?.integer ?? 24, 1), 1000),
        columns: min(max(value["columns"]?.integer ?? 80, 1), 1000), steal: try flag(value["steal"], "steal"))
    case "signal":
      guard let signal = value["signal"]?.string else { throw ControlError("missing \"signal\"") }
      return .signal(signal: signal, targets: try strings(value["targets"], "targets"))
    default:
      throw ControlError("unknown command \"\(command)\"")
    }
  }

  private static func strings(_ value: JSONValue?, _ key: String) throws(ControlError) -> [String] {
    switch value {
    case nil, .null?: return []
    case .array(let items)?:
      var result: [String] = []
      for item in items {
        guard let text = item.string else { throw ControlError("\"\(key)\" must hold strings") }
        result.append(text)
      }
      return result
    default: throw ControlError("\"\(key)\" must be an array")
    }
  }

  private static func flag(_ value: JSONValue?, _ key: String) throws(ControlError) -> Bool {
    switch value {
    case nil, .null?: return false
    case .bool(let on)?: return on
    default: throw ControlError("\"\(key)\" must be true or false")
    }
  }

  private static func counts(_ value: JSONValue?, _ key: String) throws(ControlError) -> [(String, Int)] {
    guard let value, value != .null else { return [] }
    guard case .object(let members) = value else { throw ControlError("\"\(key)\" must be an object") }
    var result: [(String, Int)] = []
    for (name, count) in members {
      guard let n = count.integer, abs(n) <= 100_000 else {
        throw ControlError("\"\(key)\".\(name) must be a whole number")
      }
      result.append((name, n))
    }
    return result
  }

  func encoded() -> String {
    let value: JSONValue
    switch self {
    case .ps: value = .object([("command", .string("ps"))])
    case .stop: value = .object([("command", .string("stop"))])
    case .env: value = .object([("command", .string("env"))])
    case .restart(let target, let wait):
      var fields: [(String, JSONValue)] = [
        ("command", .string("restart")), ("target", target.map(JSONValue.string) ?? .null),
      ]
      if wait { fields.append(("wait", .bool(true))) }
      value = .object(fields)
    case .scale(let counts, let deltas, let wait):
      var fields: [(String, JSONValue)] = [
        ("command", .string("scale")),
        ("counts", .object(counts.map { ($0.0, .number(Double($0.1))) })),
        ("deltas", .object(deltas.map { ($0.0, .number(Double($0.1))) })),
      ]
      if wait { fields.append(("wait", .bool(true))) }
      value = .object(fields)
    case .reload(let dryRun):
      value = .object([("command", .string("reload")), ("dry_run", .bool(dryRun))])
    case .logs(let targets, let lines, let follow, let json, let timestamps, let pipe):
      value = .object([
        ("command", .string("logs")), ("targets", .array(targets.map(JSONValue.string))),
        ("lines", .number(Double(lines))), ("follow", .bool(follow)), ("json", .bool(json)),
        ("timestamps", timestamps.map(JSONValue.bool) ?? .null), ("pipe", .bool(pipe)),
      ])
    case .events(let json):
      value = .object([("command", .string("events")), ("json", .bool(json))])
    case .attach(let target, let rows, let columns, let steal):
      value = .object([
        ("command", .string("attach")), ("target", .string(target)), ("rows", .number(Double(rows))),
        ("columns", .number(Double(columns))), ("steal", .bool(steal)),
      ])
    case .signal(let signal, let targets):
      value = .object([
        ("command", .string("signal")), ("signal", .string(signal)), ("targets", .array(targets.map(JSONValue.string))),
      ])
    case .wait(let types, let timeout):
      value = .object([
        ("command", .string("wait")), ("types", .array(types.map(JSONValue.string))), ("timeout", .number(timeout)),
      ])
    }
    return value.render()
  }
}

/// A request forge refuses, with the reason sent back as `{"ok":false,"error":…}`.
struct ControlError: Error, Equatable {
  let message: String
  init(_ message: String) { self.message = message }
}

enum ControlReply {
  static func success(_ fields: [(String, JSONValue)]) -> String {
    JSONValue.object([("ok", .bool(true))] + fields).render() + "\n"
  }

  static func failure(_ message: String, fields: [(String, JSONValue)] = []) -> String {
    JSONValue.object([("ok", .bool(false)), ("error", .string(message))] + fields).render() + "\n"
  }
}
