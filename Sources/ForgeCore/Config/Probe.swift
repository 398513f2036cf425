/// How forge learns that an instance is ready (`--ready web=port`) or healthy
/// (`--health web=http:/healthz`).
enum Probe: Equatable, Sendable {
  /// Something listens on the instance's `$PORT` (read from /proc/net/tcp and tcp6).
  case port
  /// `GET http://127.0.0.1:$PORT/PATH` answers 2xx or 3xx within 1 s.
  case http(path: String)
  /// `/bin/sh -c COMMAND` exits 0 within 5 s, with the instance's environment.
  case exec(command: String)
  /// A line of the instance's output contains TEXT.
  case log(text: String)
  /// `READY=1` over `$NOTIFY_SOCKET` (systemd's protocol).
  case notify

  /// Whether forge asks on a schedule (the others tell forge when they happen).
  var isPolled: Bool {
    switch self {
    case .port, .http, .exec: return true
    case .log, .notify: return false
    }
  }

  /// `port`, `http:/healthz`, `exec:./check`, `log:Listening`, `notify`: as written.
  var spec: String {
    switch self {
    case .port: return "port"
    case .http(let path): return "http:" + path
    case .exec(let command): return "exec:" + command
    case .log(let text): return "log:" + text
    case .notify: return "notify"
    }
  }

  /// What the log says it waited for: "port 5000", "http:/healthz".
  func label(port: Int) -> String {
    self == .port ? "port \(port)" : spec
  }

  /// nil for `none`. `health` allows only the probes that can be asked again and again.
  static func parse(_ text: String, source: String, health: Bool = false) throws(ConfigError) -> Probe? {
    let (kind, argument): (Substring, Substring) = {
      guard let colon = text.firstIndex(of: ":") else { return (Substring(text), "") }
      return (text[..<colon], text[text.index(after: colon)...])
    }()
    let expected =
      health
      ? "expected port, http:PATH or exec:COMMAND" : "expected port, http:PATH, exec:COMMAND, log:TEXT, notify or none"
    switch (kind, argument.isEmpty) {
    case ("none", true) where !health: return nil
    case ("port", true): return .port
    case ("notify", true) where !health: return .notify
    case ("http", false):
      return .http(path: argument.hasPrefix("/") ? String(argument) : "/" + argument)
    case ("exec", false): return .exec(command: String(argument))
    case ("log", false) where !health: return .log(text: String(argument))
    default: throw ConfigError(path: source, line: 0, message: "\(expected), got \"\(text)\"")
    }
  }
}

/// `--ready web=port,worker=log:started` (or `--health`): a probe per type, repeatable.
struct ProbeSettings: Equatable, Sendable {
  private(set) var perType: [String: Probe] = [:]
  private(set) var named: [String] = []

  func probe(for type: String) -> Probe? { perType[type] }

  mutating func apply(_ spec: String, source: String, health: Bool = false) throws(ConfigError) {
    for item in spec.split(separator: ",").map({ $0.trimmingBlanks() }) where !item.isEmpty {
      guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
        throw ConfigError(path: source, line: 0, message: "expected TYPE=PROBE, got \"\(item)\"")
      }
      let type = String(item[..<eq])
      perType[type] = try Probe.parse(String(item[item.index(after: eq)...]), source: source, health: health)
      named.append(type)
    }
  }
}
