/// Options as the command line gave them: long name → values in order. Filled by the CLI
/// parser; read here together with `FORGE_*` variables and defaults.
struct OptionValues {
  private(set) var values: [String: [String]] = [:]
  /// Option names in the order given, so `--color --no-color` means the last one.
  private(set) var order: [String] = []

  mutating func add(_ name: String, _ value: String) {
    values[name, default: []].append(value)
    order.append(name)
  }

  /// Which of `names` was given last, if any.
  func lastGiven(of names: [String]) -> String? { order.last { names.contains($0) } }

  func last(_ name: String) -> String? { values[name]?.last }
  func all(_ name: String) -> [String] { values[name] ?? [] }
  func has(_ name: String) -> Bool { values[name] != nil }
}

/// How forge's output looks.
enum LogFormat: String, Sendable {
  case text
  case json
}

/// Every setting, resolved from (strongest first) command-line flags, `FORGE_*` environment
/// variables, then defaults. Each long option `--some-name` has the variable `FORGE_SOME_NAME`.
struct Settings {
  /// The largest timeout or window accepted: 11 days and a bit, far beyond any real use.
  static let maximumSeconds = 1_000_000.0

  var procfilePath: String
  var envPaths: [String]
  /// Whether the env files were named (by -e or FORGE_ENV): then a missing one is an error.
  var envPathsExplicit: Bool
  var formation: Formation
  var formationSource: String
  var portOverride: Int?
  var timeoutSeconds: Double
  var root: String
  var envOverride: Bool
  var color: Bool?
  var timestamps: Bool?
  var logFormat: LogFormat
  var ttyTypes: [String]
  /// `--interactive`: these types also get the terminal as stdin, to type into with
  /// `forge attach` (they are in `ttyTypes` too).
  var interactiveTypes: [String]
  /// `--secrets`, `--file-refs`, `--redact`, `--no-redact`.
  var secrets = SecretSettings()
  var socketPath: String
  var options: OptionValues
  var environment: [(key: String, value: String)]
  /// What settings are read from: the environment over `.forge`.
  var variables: Variables
  /// The directory relative paths were given from.
  var workingDirectory: String = "/"

  /// The Procfile's and env files' absolute paths.
  var absoluteProcfilePath: String { Path.absolute(procfilePath, from: workingDirectory) }
  var absoluteEnvPaths: [String] { envPaths.map { Path.absolute($0, from: workingDirectory) } }

  /// The value of an option from its flag, else its FORGE_ variable.
  static func lookup(
    _ name: String, _ options: OptionValues, _ environment: Variables
  ) -> (value: String, source: String)? {
    if let value = options.last(name) { return (value, "--\(name)") }
    let variable = environmentName(name)
    if let value = environment[variable], !value.isEmpty { return (value, environment.source(of: variable)) }
    return nil
  }

  static func environmentName(_ option: String) -> String {
    "FORGE_" + String(option.uppercased().map { $0 == "-" ? "_" : $0 })
  }

  static func flag(
    _ name: String, _ options: OptionValues, _ environment: Variables
  ) throws(ConfigError) -> Bool? {
    if let given = options.lastGiven(of: [name, "no-" + name]) { return given == name }
    guard let value = environment[environmentName(name)], !value.isEmpty else { return nil }
    switch value.lowercased() {
    case "1", "true", "yes", "on": return true
    case "0", "false", "no", "off": return false
    default:
      let source = environment.source(of: environmentName(name))
      throw ConfigError(path: source, line: 0, message: "expected true or false, got \"\(value)\"")
    }
  }

  /// `accepted` names the long options of the command: `FORGE_*` variables of other commands'
  /// options are not its business and are not read (a bad `FORGE_TIMEOUT` does not stop `forge
  /// run`).
  /// `file` holds the `.forge` settings, which the environment overrides.
  static func resolve(
    options: OptionValues, environment pairs: [(key: String, value: String)], workingDirectory: String,
    accepted: Set<String>? = nil, file: [SettingsFile.Entry] = []
  ) throws(ConfigError) -> Settings {
    let variables = accepted.map { Set($0.map(environmentName)) }
    let environment = Variables(environment: pairs, file: file) { key in
      !key.hasPrefix("FORGE_") || (variables?.contains(key) ?? true)
    }
    let get = { (name: String) in lookup(name, options, environment) }

    let procfileGiven = get("procfile")
    var root: String
    var procfilePath: String
    if let given = get("root") {
      root = Path.absolute(given.value, from: workingDirectory)
      procfilePath = procfileGiven?.value ?? Path.join(given.value, "Procfile")
    } else {
      procfilePath = procfileGiven?.value ?? "Procfile"
      root = Path.directory(of: Path.absolute(procfilePath, from: workingDirectory))
    }
    root = Path.normalize(root)

    var envPaths = [Path.join(root == workingDirectory ? "" : root, ".env")]
    var envExplicit = false
    if let given = get("env") {
      envPaths = given.value.split(separator: ",").map { $0.trimmingBlanks() }.filter { !$0.isEmpty }
      envExplicit = true
    }

    var formation = Formation.default
    var formationSource = "--formation"
    if let given = get("formation") {
      formationSource = given.source
      formation = try Formation.parse(given.value, source: given.source)
    }

    var portOverride: Int? = nil
    if let given = get("port") {
      guard let port = Int(given.value), port > 0, port < 65536 else {
        throw ConfigError(
          path: given.source, line: 0, message: "expected a port from 1 to 65535, got \"\(given.value)\"")
      }
      portOverride = port
    }

    var timeout = 5.0
    if let given = get("timeout") {
      guard let seconds = Double(given.value), seconds >= 0, seconds <= Settings.maximumSeconds else {
        throw ConfigError(
          path: given.source, line: 0, message: "expected seconds (a number from 0), got \"\(given.value)\"")
      }
      timeout = seconds
    }

    var logFormat = LogFormat.text
    if let given = get("log-format") {
      guard let format = LogFormat(rawValue: given.value) else {
        throw ConfigError(path: given.source, line: 0, message: "expected text or json, got \"\(given.value)\"")
      }
      logFormat = format
    }

    let interactive = get("interactive").map { $0.value.split(separator: ",").map { $0.trimmingBlanks() } } ?? []
    var tty = get("tty").map { $0.value.split(separator: ",").map { $0.trimmingBlanks() } } ?? []
    for type in interactive where !tty.contains(type) { tty.append(type) }
    let socket = get("socket")?.value ?? Path.join(root, ".forge.sock")

    var secrets = SecretSettings()
    if let given = get("secrets") {
      secrets.directory = Path.absolute(given.value, from: workingDirectory)
      secrets.directorySource = given.source
    } else if let credentials = pairs.last(where: { $0.key == "CREDENTIALS_DIRECTORY" })?.value, !credentials.isEmpty {
      secrets.directory = credentials  // systemd's LoadCredential=
      secrets.directorySource = "CREDENTIALS_DIRECTORY"
    }
    secrets.fileReferences = try flag("file-refs", options, environment) ?? false
    if let given = get("redact") {
      secrets.patterns = given.value.split(separator: ",").map { $0.trimmingBlanks() }.filter { !$0.isEmpty }
    }
    secrets.redact = !(try flag("no-redact", options, environment) ?? false)

    var settings = Settings(
      procfilePath: procfilePath, envPaths: envPaths, envPathsExplicit: envExplicit,
      formation: formation, formationSource: formationSource, portOverride: portOverride,
      timeoutSeconds: timeout, root: root,
      envOverride: try flag("env-override", options, environment) ?? false,
      color: try flag("color", options, environment),
      timestamps: try flag("timestamp", options, environment),
      logFormat: logFormat, ttyTypes: tty, interactiveTypes: interactive,
      socketPath: Path.absolute(socket, from: workingDirectory),
      options: options, environment: pairs, variables: environment, workingDirectory: workingDirectory)
    settings.secrets = secrets
    return settings
  }
}
