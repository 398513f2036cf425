/// `forge completion bash|zsh|fish`: prints a completion script. The scripts are generated
/// from each command's `specs`, so a new option is completed without anyone touching them.
enum CompletionCommand {
  static let specs = [Options.help]

  static func run(_ arguments: [String]) throws -> Int32 {
    guard let invocation = try Invocation.parse(arguments, command: "completion", specs: specs) else { return 0 }
    let positionals = invocation.parsed.positionals
    guard let shell = positionals.first else {
      throw UsageError("completion needs a shell: bash, zsh or fish", command: "completion")
    }
    if positionals.count > 1 { throw UsageError("unexpected argument '\(positionals[1])'", command: "completion") }
    guard let text = script(shell) else {
      throw UsageError("unknown shell '\(shell)' (shells: bash, zsh, fish)", command: "completion")
    }
    writeRaw(1, text)
    return ExitCode.success
  }

  static func script(_ shell: String) -> String? {
    switch shell {
    case "bash": return BashCompletion.script(commands)
    case "zsh": return ZshCompletion.script(commands)
    case "fish": return FishCompletion.script(commands)
    default: return nil
    }
  }

  /// What a command takes besides options.
  enum Positionals {
    case none
    /// Process types from the Procfile (`start`, `restart`); `scale` adds `=`.
    case types
    case scale
    /// A process type or any command, then that command's arguments (`run`).
    case command
    /// An export format, then a directory.
    case formatAndDirectory
    case shells
    case commands
  }

  struct Command {
    let name: String
    let summary: String
    let specs: [OptionSpec]
    let positionals: Positionals
  }

  /// Every command, in `forge --help` order.
  static let commands = [
    Command(
      name: "start", summary: "run the formation in the foreground", specs: StartCommand.specs, positionals: .types),
    Command(name: "run", summary: "run a one-off command", specs: RunCommand.specs, positionals: .command),
    Command(
      name: "check", summary: "validate the Procfile and env files", specs: CheckCommand.specs, positionals: .none),
    Command(name: "env", summary: "print the processes' environment", specs: EnvCommand.specs, positionals: .none),
    Command(
      name: "scale", summary: "change a running formation", specs: ClientCommands.specs(of: "scale"),
      positionals: .scale),
    Command(
      name: "ps", summary: "list the processes of a running forge", specs: ClientCommands.specs, positionals: .none),
    Command(
      name: "restart", summary: "restart processes", specs: ClientCommands.specs(of: "restart"), positionals: .types),
    Command(name: "stop", summary: "stop a running forge", specs: ClientCommands.specs, positionals: .none),
    Command(
      name: "wait", summary: "wait until processes are ready", specs: ClientCommands.specs(of: "wait"),
      positionals: .types),
    Command(
      name: "reload", summary: "roll out a new release", specs: ClientCommands.specs(of: "reload"), positionals: .none),
    Command(name: "signal", summary: "signal processes", specs: ClientCommands.specs, positionals: .none),
    Command(
      name: "logs", summary: "print recent log lines", specs: ClientCommands.specs(of: "logs"), positionals: .types),
    Command(
      name: "events", summary: "stream lifecycle events", specs: ClientCommands.specs(of: "events"),
      positionals: .none),
    Command(
      name: "attach", summary: "attach to an instance's terminal", specs: AttachCommand.specs, positionals: .types),
    Command(name: "top", summary: "a live view of a running forge", specs: TopCommand.specs, positionals: .none),
    Command(
      name: "export", summary: "write systemd, Kubernetes or Compose files", specs: ExportCommand.specs,
      positionals: .formatAndDirectory),
    Command(name: "completion", summary: "print a completion script", specs: specs, positionals: .shells),
    Command(name: "help", summary: "show help for a command", specs: [], positionals: .commands),
    Command(name: "version", summary: "print forge's version", specs: [], positionals: .none),
  ]

  static let shells = ["bash", "zsh", "fish"]

  /// How an option's value is completed.
  enum Value: Equatable {
    case none
    case file
    case directory
    case choices([String])
    /// A value nothing can guess (a count, a port, a name).
    case free
  }

  static func value(of spec: OptionSpec) -> Value {
    guard spec.takesValue else { return .none }
    switch spec.long {
    // Tests check each word parses (LogFormat, RestartPolicy.Mode).
    case "log-format": return .choices(["text", "json"])
    case "restart": return .choices(["never", "on-failure", "always"])
    default: break
    }
    switch spec.placeholder {
    case "FILE", "FILES", "PATH": return .file
    case "DIR": return .directory
    default: return .free
    }
  }

  /// Every option of any command, once, in first-seen order.
  static var allSpecs: [OptionSpec] {
    var seen: Set<String> = []
    return commands.flatMap(\.specs).filter { seen.insert($0.long).inserted }
  }

  /// Prints the process types of the Procfile named by `$1` (shared by the three shells: a
  /// POSIX sed call, so the scripts read the same names `forge` does, near enough).
  static let typesSed = #"sed -n 's/^[[:space:]]*\([A-Za-z0-9_-][A-Za-z0-9_-]*\):.*/\1/p'"#
}
