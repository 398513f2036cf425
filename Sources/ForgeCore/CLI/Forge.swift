import CGlibcLinux
import Glibc

/// forge's entry point: `main.swift` blocks signals and calls `Forge.main`.
public enum Forge {
  public static let version = "0.1.0"

  /// Standard descriptors that were closed when forge started (now on /dev/null).
  nonisolated(unsafe) static var closedAtStart: [Int32] = []

  /// Blocks the signals forge reads through its signalfd. Must run first in main, before
  /// anything can start a thread, so every thread inherits the mask and no signal is lost.
  public static func blockSignals() {
    Signal.blockHandled()
  }

  public static func main(_ arguments: [String]) -> Never {
    closedAtStart = OutputSink.reserveStandardDescriptors()
    let status: Int32
    do {
      status = try run(Array(arguments.dropFirst()))
    } catch let exit as Exit {
      if let message = exit.message { writeRaw(2, message + "\n") }
      status = exit.status
    } catch let error as UsageError {
      writeRaw(2, "forge: \(error.message)\n")
      writeRaw(2, "Try 'forge \(error.command.map { "help \($0)" } ?? "--help")' for more information.\n")
      status = ExitCode.usage
    } catch let error as ConfigError {
      writeRaw(2, "forge: \(error)\n")
      status = ExitCode.usage
    } catch {
      writeRaw(2, "forge: \(error)\n")
      status = ExitCode.failure
    }
    exit(status)
  }

  static func run(_ given: [String]) throws -> Int32 {
    if given.first == ExecShim.word { ExecShim.run(Array(given.dropFirst())) }
    let arguments = try commandFirst(given)
    guard let first = arguments.first else {
      writeRaw(2, Help.main)
      return ExitCode.usage
    }
    switch first {
    case "-h", "--help":
      writeRaw(1, Help.main)
      return ExitCode.success
    case "-v", "--version":
      return try printVersion([])
    default:
      break
    }
    guard let command = (commands + internalCommands).first(where: { $0.name == first }) else {
      if first.hasPrefix("-") { throw UsageError("unknown option \(first)") }
      throw UsageError("unknown command '\(first)'")
    }
    if first != "start" { Signal.unblockHandled() }
    return try command.run(Array(arguments.dropFirst()))
  }

  /// A command's entry point: the words after the command's name in; the exit status out.
  typealias Entry = @Sendable ([String]) throws -> Int32

  /// Every command a user can run, in `forge help` order. The tests hold `forge help`, `forge
  /// help COMMAND`, the three completion scripts and the man page to this table, so a command
  /// added here without its help fails them.
  static let commands: [(name: String, run: Entry)] = [
    ("start", StartCommand.run),
    ("run", RunCommand.run),
    ("check", CheckCommand.run),
    ("env", EnvCommand.run),
    ("scale", { try ClientCommands.run("scale", $0) }),
    ("ps", { try ClientCommands.run("ps", $0) }),
    ("restart", { try ClientCommands.run("restart", $0) }),
    ("stop", { try ClientCommands.run("stop", $0) }),
    ("wait", { try ClientCommands.run("wait", $0) }),
    ("reload", { try ClientCommands.run("reload", $0) }),
    ("signal", { try ClientCommands.run("signal", $0) }),
    ("logs", { try ClientCommands.run("logs", $0) }),
    ("events", { try ClientCommands.run("events", $0) }),
    ("attach", AttachCommand.run),
    ("top", TopCommand.run),
    ("export", ExportCommand.run),
    ("completion", CompletionCommand.run),
    ("help", help),
    ("version", printVersion),
  ]

  /// What forge runs itself, no user: the `http:` probe, as a child of forge (no help, by design).
  static let internalCommands: [(name: String, run: Entry)] = [("probe-http", ProbeCommand.run)]

  /// `forge help [COMMAND]`; `forge help --help` is `forge help help`, as for every command.
  static func help(_ arguments: [String]) throws -> Int32 {
    guard var name = arguments.first else {
      writeRaw(1, Help.main)
      return ExitCode.success
    }
    if isHelpFlag(name) { name = "help" }
    guard let text = Help.command(name) else { throw UsageError("unknown command '\(name)'") }
    writeRaw(1, text)
    return ExitCode.success
  }

  /// `forge version`, `-v`, `--version`.
  static func printVersion(_ arguments: [String]) throws -> Int32 {
    if arguments.contains(where: isHelpFlag) { return try help(["version"]) }
    writeRaw(1, "forge \(version)\n")
    return ExitCode.success
  }

  private static func isHelpFlag(_ word: String) -> Bool { word == "-h" || word == "--help" }

  /// honcho accepts options before the command (`forge -f Procfile.dev start`): they are moved
  /// after it, where each command parses them. Values of options that take one are skipped
  /// while looking for the command.
  static func commandFirst(_ arguments: [String]) throws -> [String] {
    let valued = Set(
      StartCommand.specs.filter(\.takesValue).flatMap { spec in
        ["--\(spec.long)"] + (spec.short.map { ["-\($0)"] } ?? [])
      })
    var i = 0
    while i < arguments.count, arguments[i].hasPrefix("-"), arguments[i] != "-" {
      let word = arguments[i]
      if ["-h", "--help", "-v", "--version", "--"].contains(word) { return arguments }
      i += valued.contains(word) ? 2 : 1
    }
    guard i > 0, i < arguments.count else { return arguments }
    return [arguments[i]] + arguments[..<i] + arguments[(i + 1)...]
  }
}

/// What every command does first: parse its options, print help if asked, resolve settings.
struct Invocation {
  let parsed: ParsedArguments
  let settings: Settings
  let workingDirectory: String

  /// nil when help was printed.
  static func parse(
    _ arguments: [String], command: String, specs: [OptionSpec], stopAtFirstPositional: Bool = false
  ) throws -> Invocation? {
    var parsed = try ArgumentParser.parse(
      arguments, specs: specs, command: command, stopAtFirstPositional: stopAtFirstPositional)
    if parsed.options.has("help") {
      writeRaw(1, Help.command(command) ?? Help.main)
      return nil
    }
    if let concurrency = parsed.options.last("concurrency"), !parsed.options.has("formation") {
      parsed.options.add("formation", concurrency)
    }
    let cwd = Files.currentDirectory()
    let settings = try Settings.resolve(
      options: parsed.options, environment: ProcessEnvironment.current(), workingDirectory: cwd,
      accepted: accepted(specs), file: try settingsFile())
    return Invocation(parsed: parsed, settings: settings, workingDirectory: cwd)
  }

  /// The long options whose FORGE_ variables a command reads.
  static func accepted(_ specs: [OptionSpec]) -> Set<String> {
    var accepted = Set(specs.map(\.long))
    for spec in specs where spec.long.hasPrefix("no-") { accepted.insert(String(spec.long.dropFirst(3))) }
    return accepted
  }

  /// `forge reload`: the start's own command line and environment, with the files read again.
  /// Run from the directory forge was started in, as at start.
  static func again(_ settings: Settings, positionals: [String]) throws -> Invocation {
    let resolved = try Settings.resolve(
      options: settings.options, environment: settings.environment, workingDirectory: settings.workingDirectory,
      accepted: accepted(StartCommand.specs), file: try settingsFile())
    return Invocation(
      parsed: ParsedArguments(options: settings.options, positionals: positionals), settings: resolved,
      workingDirectory: settings.workingDirectory)
  }

  /// `.forge` in the current directory, if there is one.
  static func settingsFile() throws(ConfigError) -> [SettingsFile.Entry] {
    let bytes: [UInt8]
    do {
      bytes = try Files.read(SettingsFile.name)
    } catch {
      if error.errno == ENOENT { return [] }
      throw ConfigError(path: SettingsFile.name, line: 0, message: "cannot read: \(error)")
    }
    let specs =
      StartCommand.specs + RunCommand.specs + EnvCommand.specs + ExportCommand.specs
      + ["scale", "restart", "wait", "reload"].flatMap(ClientCommands.specs(of:))
    // Options of one invocation (help, output form, waiting) are no project setting.
    let perInvocation: Set = ["help", "json", "wait", "no-wait", "dry-run"]
    var known = Set(specs.filter { !perInvocation.contains($0.long) }.map { Settings.environmentName($0.long) })
    for spec in specs where spec.long.hasPrefix("no-") {
      known.insert(Settings.environmentName(String(spec.long.dropFirst(3))))
    }
    return try SettingsFile.parse(bytes, path: SettingsFile.name, known: known)
  }

  /// Reads the Procfile and env files. `procfileRequired: false` lets `run` and `env` work
  /// without a Procfile (unless one was named).
  /// `warnShadowed`: say when the environment overrides an env file's key (`start` and
  /// `check`; for `run` and `env` the environment winning is the point).
  func loadProject(procfileRequired: Bool = true, warnShadowed: Bool = true, quiet: Bool = false) throws -> Project {
    let named = settings.options.has("procfile") || settings.environment.contains { $0.key == "FORGE_PROCFILE" }
    let project = try Project.load(
      settings, procfileOptional: !procfileRequired && !named, list: Files.regularFiles(in:)
    ) { readFile($0) }
    guard !quiet else { return project }
    let shadow = Set(project.shadowed.map { Project.shadowWarning(key: $0.key, path: $0.path) })
    for warning in project.warnings where warnShadowed || !shadow.contains(warning) {
      writeRaw(2, "forge: warning: \(warning)\n")
    }
    return project
  }

  func readFile(_ path: String) -> Project.ReadResult {
    do {
      return .ok(try Files.readConfiguration(path))
    } catch {
      switch error {
      case .system(let failure):
        if failure.errno == ENOENT { return .missing }
        return .failed(String(cString: strerror(failure.errno)))
      case .notRegular: return .failed("expected a regular file (not a FIFO, device or directory)")
      case .tooLarge(let limit): return .failed("larger than \(limit / 1024 / 1024) MiB; expected a configuration file")
      }
    }
  }

  /// The socket path as the user would write it: relative when it is in the current directory.
  var socketDisplay: String {
    let path = settings.socketPath
    let prefix = workingDirectory.hasSuffix("/") ? workingDirectory : workingDirectory + "/"
    return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
  }
}
