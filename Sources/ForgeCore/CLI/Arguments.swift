/// A hand-written command-line parser: short (`-f X`, `-fX`) and long (`--procfile X`,
/// `--procfile=X`) options, `--` to end options, clear errors with a usage hint.
struct OptionSpec: Sendable {
  let long: String
  let short: Character?
  let takesValue: Bool
  let help: String
  /// The value's placeholder in help.
  let placeholder: String

  init(_ long: String, short: Character? = nil, value placeholder: String? = nil, _ help: String) {
    self.long = long
    self.short = short
    self.takesValue = placeholder != nil
    self.placeholder = placeholder ?? ""
    self.help = help
  }
}

struct UsageError: Error, Equatable {
  let message: String
  let command: String?

  init(_ message: String, command: String? = nil) {
    self.message = message
    self.command = command
  }
}

struct ParsedArguments {
  var options = OptionValues()
  var positionals: [String] = []
}

enum ArgumentParser {
  /// Parses `arguments` against `specs`. With `stopAtFirstPositional` (for `forge run`),
  /// everything from the first positional on is left for the command.
  static func parse(
    _ arguments: [String], specs: [OptionSpec], command: String, stopAtFirstPositional: Bool = false
  ) throws(UsageError) -> ParsedArguments {
    var parsed = ParsedArguments()
    var i = 0
    func value(for spec: OptionSpec, attached: String?) throws(UsageError) -> String {
      if let attached { return attached }
      i += 1
      guard i < arguments.count else {
        throw UsageError("option --\(spec.long) needs a value (\(spec.placeholder))", command: command)
      }
      return arguments[i]
    }
    while i < arguments.count {
      let argument = arguments[i]
      if argument == "--" {
        parsed.positionals.append(contentsOf: arguments[(i + 1)...])
        break
      }
      if argument.hasPrefix("--") {
        let body = argument.dropFirst(2)
        let name: String
        var attached: String? = nil
        if let eq = body.firstIndex(of: "=") {
          name = String(body[..<eq])
          attached = String(body[body.index(after: eq)...])
        } else {
          name = String(body)
        }
        guard let spec = specs.first(where: { $0.long == name }) else {
          throw UsageError("unknown option --\(name)", command: command)
        }
        if spec.takesValue {
          parsed.options.add(spec.long, try value(for: spec, attached: attached))
        } else {
          guard attached == nil else { throw UsageError("option --\(name) takes no value", command: command) }
          parsed.options.add(spec.long, "")
        }
      } else if argument.hasPrefix("-") && argument.count > 1 {
        var rest = Substring(argument.dropFirst())
        while let letter = rest.first {
          rest = rest.dropFirst()
          guard let spec = specs.first(where: { $0.short == letter }) else {
            throw UsageError("unknown option -\(letter)", command: command)
          }
          if spec.takesValue {
            parsed.options.add(spec.long, try value(for: spec, attached: rest.isEmpty ? nil : String(rest)))
            break
          }
          parsed.options.add(spec.long, "")
        }
      } else {
        if stopAtFirstPositional {
          parsed.positionals.append(contentsOf: arguments[i...])
          break
        }
        parsed.positionals.append(argument)
      }
      i += 1
    }
    return parsed
  }
}

/// The option sets each command accepts.
enum Options {
  static let procfile = OptionSpec(
    "procfile", short: "f", value: "FILE", "Procfile to read (default: Procfile in the root)")
  static let procfileLongOnly = OptionSpec(
    "procfile", value: "FILE", "Procfile to read (default: Procfile in the root)")
  static let env = OptionSpec(
    "env", short: "e", value: "FILES", "env files, comma-separated (default: .env in the root)")
  static let root = OptionSpec("root", short: "d", value: "DIR", "app root (default: the Procfile's directory)")
  static let formation = OptionSpec(
    "formation", short: "m", value: "SPEC", "how many of each type: web=2,worker=1 or all=N (default: all=1)")
  static let concurrency = OptionSpec("concurrency", short: "c", value: "SPEC", "same as --formation (honcho)")
  static let port = OptionSpec("port", short: "p", value: "PORT", "base port (default: $PORT, else 5000)")
  static let timeout = OptionSpec(
    "timeout", short: "t", value: "SECONDS", "grace period before SIGKILL on stop (default: 5)")
  static let envOverride = OptionSpec(
    "env-override", "env files win over forge's own environment (foreman's behaviour)")
  static let color = OptionSpec("color", "colour the output (default: when stdout is a terminal)")
  static let noColor = OptionSpec("no-color", "never colour the output")
  static let timestamp = OptionSpec("timestamp", "prefix lines with HH:MM:SS (default: on a terminal)")
  static let noTimestamp = OptionSpec("no-timestamp", "no timestamps")
  static let arrivalTime = OptionSpec(
    "timestamp", "prefix lines with the time they arrived (default: as forge's stream)")
  static let logFormat = OptionSpec("log-format", value: "FORMAT", "text or json (one object per line)")
  static let tty = OptionSpec("tty", value: "TYPES", "give these types a pseudo-terminal (line-buffered, colours kept)")
  static let interactive = OptionSpec(
    "interactive", value: "TYPES", "as --tty, and the terminal is their stdin too: type into them with forge attach")
  static let socket = OptionSpec("socket", value: "PATH", "control socket (default: .forge.sock in the root)")
  static let restart = OptionSpec(
    "restart", value: "POLICY", "never, on-failure or always; per type: web=always,migrate=never")
  static let maxRestarts = OptionSpec(
    "max-restarts", value: "N", "exits within the window before giving up (default: 5)")
  static let restartWindow = OptionSpec(
    "restart-window", value: "SECONDS", "the give-up window (default: 60)")
  static let stopSignal = OptionSpec(
    "stop-signal", value: "SIGNAL", "signal that asks processes to stop (default: SIGTERM); per type: web=SIGINT")
  static let json = OptionSpec("json", "output JSON")
  static let waitReady = OptionSpec("wait", "return once the new instances are ready")
  static let dryRun = OptionSpec("dry-run", "print the plan and change nothing")
  static let detachKeys = OptionSpec("detach-keys", value: "KEY", "the key that detaches (default: ctrl-])")
  static let steal = OptionSpec("steal", "take the terminal over from the caller attached to it")
  static let follow = OptionSpec("follow", short: "f", "follow live output until Ctrl-C or until forge stops")
  static let lineCount = OptionSpec("lines", short: "n", value: "N", "how many recent lines (default: 100)")
  static let logBuffer = OptionSpec(
    "log-buffer", value: "LINES", "recent lines kept per instance for forge logs (default: 1000, at most 256 KiB)")
  static let hup = OptionSpec(
    "hup", value: "MEANING", "what SIGHUP does: forward (to every process, the default) or reload")
  static let noWait = OptionSpec("no-wait", "return at once, not when the last instance is ready again")
  static let waitTimeout = OptionSpec("timeout", value: "SECONDS", "give up after this long (default: 60)")
  static let ready = OptionSpec(
    "ready", value: "TYPE=PROBE", "readiness: port, http:PATH, exec:COMMAND, log:TEXT, notify or none")
  static let readyTimeout = OptionSpec(
    "ready-timeout", value: "SECONDS", "a start not ready by then has failed (default: 60)")
  static let after = OptionSpec(
    "after", value: "TYPE=DEP[:ready|:done]", "start TYPE once DEP is ready, or has finished (:done)")
  static let health = OptionSpec("health", value: "TYPE=PROBE", "health check: port, http:PATH or exec:COMMAND")
  static let healthInterval = OptionSpec(
    "health-interval", value: "SECONDS", "time between health checks (default: 10)")
  static let fresh = OptionSpec("fresh", "use the files on disk even when a forge is running")
  static let help = OptionSpec("help", short: "h", "show help")
  static let app = OptionSpec("app", short: "a", value: "NAME", "application name (default: the root directory's name)")
  static let user = OptionSpec("user", short: "u", value: "USER", "user to run processes as")
  static let image = OptionSpec("image", value: "IMAGE", "container image (kubernetes, compose)")
  static let expose = OptionSpec("expose", value: "TYPES", "types that get a Service (default: web)")

  static let common = [procfile, env, root, help]
  static let secrets = OptionSpec(
    "secrets", value: "DIR", "each file in DIR is a secret variable (default: $CREDENTIALS_DIRECTORY)")
  static let fileRefs = OptionSpec("file-refs", "resolve X_FILE=/path into X, the file's content, and drop X_FILE")
  static let redact = OptionSpec(
    "redact", value: "PATTERNS",
    "keys whose values are secret, replacing the default *PASSWORD*,*SECRET*,*TOKEN*,*_KEY,*CREDENTIALS*")
  static let noRedact = OptionSpec("no-redact", "show secret values in the log (for debugging: they leak)")
  static let reveal = OptionSpec("reveal", "show secret values instead of [redacted]")
  /// Every command that resolves the environment.
  static let secretHandling = [secrets, fileRefs, redact, noRedact]
  static let output = [color, noColor, timestamp, noTimestamp, logFormat]
  static let supervision = [restart, maxRestarts, restartWindow, stopSignal]
  static let watch = OptionSpec(
    "watch", value: "TYPE=PATTERNS", "restart TYPE when files matching PATTERNS (a:b, with *, ** and ?) change")
  static let metrics = OptionSpec(
    "metrics", value: "ADDRESS", "serve Prometheus metrics at 127.0.0.1:9100, [::1]:9100 or unix:PATH")
  static let detach = OptionSpec("detach", short: "D", "run in the background (see forge logs, forge stop)")
  static let logFile = OptionSpec(
    "log-file", value: "FILE", "with --detach: also append the log stream to FILE, rotated to FILE.1")
  static let logFileSize = OptionSpec(
    "log-file-size", value: "BYTES", "rotate the log file at this size (default: 10 MiB)")
  static let keepLeftovers = OptionSpec(
    "keep-leftovers", "refuse to start while processes a dead forge left are running, rather than stop them")
  static let readiness = [
    ready, readyTimeout, after, health, healthInterval, hup, watch, metrics, logBuffer, detach, logFile, logFileSize,
    keepLeftovers,
  ]
}
