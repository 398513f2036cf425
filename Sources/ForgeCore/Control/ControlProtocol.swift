/// The control protocol: one JSON object per line each way over the control socket
/// (docs/control-protocol.md). Pure: bytes in, values out.
enum ControlRequest: Equatable, Sendable {
  /// Sets counts (`counts`) and changes them by a signed amount (`deltas`); both empty asks
  /// for the current formation.
  case scale(counts: [(String, Int)], deltas: [(String, Int)])
  case ps
  /// A type, an instance (`web.2`), or everything when nil.
  case restart(target: String?)
  case stop
  case env

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
      switch value["target"] {
      case nil, .null?: return .restart(target: nil)
      case .string(let target)?: return .restart(target: target)
      default: throw ControlError("\"target\" must be a string")
      }
    case "scale":
      return .scale(counts: try counts(value["counts"], "counts"), deltas: try counts(value["deltas"], "deltas"))
    default:
      throw ControlError("unknown command \"\(command)\"")
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
    case .restart(let target):
      value = .object([("command", .string("restart")), ("target", target.map(JSONValue.string) ?? .null)])
    case .scale(let counts, let deltas):
      value = .object([
        ("command", .string("scale")),
        ("counts", .object(counts.map { ($0.0, .number(Double($0.1))) })),
        ("deltas", .object(deltas.map { ($0.0, .number(Double($0.1))) })),
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

  static func failure(_ message: String) -> String {
    JSONValue.object([("ok", .bool(false)), ("error", .string(message))]).render() + "\n"
  }
}
