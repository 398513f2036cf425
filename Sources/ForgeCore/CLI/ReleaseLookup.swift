/// Which release a one-off process (`forge run`) or `forge env` uses: the running formation's,
/// when a forge answers on the control socket, so admin processes see exactly the config and
/// Procfile the app runs with; otherwise the files, resolved as `forge start` would.
struct ReleaseLookup {
  let environment: [(key: String, value: String)]
  let releaseID: String
  let basePort: Int
  /// The release's Procfile entries (a type name given to `forge run` runs its command).
  let processTypes: [ProcessType]
  /// Keys whose values are secret (`forge env` masks them).
  var secretKeys: Set<String> = []

  static func resolve(_ invocation: Invocation) throws -> ReleaseLookup {
    if invocation.parsed.options.has("fresh") {
      return from(try invocation.loadProject(procfileRequired: false, warnShadowed: false))
    }
    guard let running = Running.query(invocation) else {
      return from(try invocation.loadProject(procfileRequired: false, warnShadowed: false))
    }
    running.warnIfFilesChanged(invocation)
    // The release's variables win; the caller's own (TERM, HOME, one set for this command)
    // are kept where the release has none, as a command run directly would see them.
    var environment = running.environment
    let known = Set(environment.map(\.key))
    environment += invocation.settings.environment.filter { !known.contains($0.key) }
    var lookup = ReleaseLookup(
      environment: environment, releaseID: running.releaseID, basePort: running.basePort,
      processTypes: running.processTypes)
    lookup.secretKeys = running.secretKeys
    return lookup
  }

  private static func from(_ project: Project) -> ReleaseLookup {
    var lookup = ReleaseLookup(
      environment: project.environment, releaseID: project.releaseID, basePort: project.basePort,
      processTypes: project.procfile.entries)
    lookup.secretKeys = project.secretKeys
    return lookup
  }
}

/// What a running forge says of its release (the `env` request).
private struct Running {
  let environment: [(key: String, value: String)]
  let releaseID: String
  let basePort: Int
  let processTypes: [ProcessType]
  let filesDigest: String?
  let procfileDigest: String?
  let envDigest: String?
  let procfilePath: String?
  let envPaths: [String]?
  var secretKeys: Set<String> = []
  /// The secrets directory and `--file-refs` the formation resolved its environment with.
  var secretsDirectory: String?
  var fileReferences = false

  static func query(_ invocation: Invocation) -> Running? {
    guard let client = try? ControlClient.connect(invocation.settings.socketPath),
      let reply = try? client.send(.env, timeoutMilliseconds: 5000), reply["ok"] == .bool(true),
      let release = reply["release"]?.string, case .object(let members)? = reply["env"]
    else { return nil }
    let environment = members.map { (key: $0.0, value: $0.1.string ?? "") }
    var types: [ProcessType] = []
    if case .object(let entries)? = reply["processes"] {
      types = entries.compactMap { name, command in command.string.map { ProcessType(name: name, command: $0) } }
    }
    var envPaths: [String]? = nil
    if case .array(let paths)? = reply["env_paths"] { envPaths = paths.compactMap(\.string) }
    var secretKeys: Set<String> = []
    if case .array(let keys)? = reply["secret_keys"] { secretKeys = Set(keys.compactMap(\.string)) }
    var running = Running(
      environment: environment, releaseID: release,
      basePort: reply["port"]?.integer ?? environment.last { $0.key == "PORT" }.flatMap { Int($0.value) } ?? 5000,
      processTypes: types, filesDigest: reply["files"]?.string, procfileDigest: reply["procfile_digest"]?.string,
      envDigest: reply["env_digest"]?.string,
      procfilePath: reply["procfile_path"]?.string, envPaths: envPaths)
    running.secretKeys = secretKeys
    running.secretsDirectory = reply["secrets_dir"]?.string
    running.fileReferences = reply["file_refs"] == .bool(true)
    return running
  }

  /// Reads the files this release was made from (the caller's `-f`/`-e` if it named any) and
  /// says once on stderr if they would now give another release.
  func warnIfFilesChanged(_ invocation: Invocation) {
    var settings = invocation.settings
    let options = invocation.parsed.options
    if let procfilePath, !options.has("procfile") { settings.procfilePath = procfilePath }
    if let envPaths, !options.has("env") {
      settings.envPaths = envPaths  // a missing default .env stays fine, as it was at start
    }
    // Secrets resolved as the formation resolved them, unless the caller names its own.
    if !options.has("secrets") { settings.secrets.directory = secretsDirectory }
    if !options.has("file-refs") { settings.secrets.fileReferences = fileReferences }
    let current = Invocation(
      parsed: invocation.parsed, settings: settings, workingDirectory: invocation.workingDirectory)
    guard let filesDigest else { return }
    let onDisk = try? current.loadProject(procfileRequired: false, quiet: true)
    guard onDisk?.filesDigest != filesDigest else { return }
    let onlyProcfile = onDisk.map { $0.envDigest == envDigest && $0.procfileDigest != procfileDigest } ?? false
    // The env digest covers the secrets read from files too: name them where there are any.
    let environment = secretsDirectory != nil || fileReferences ? ".env or a secret" : ".env"
    writeRaw(
      2,
      "forge: \(onlyProcfile ? "Procfile" : environment) changed since the formation started (release \(releaseID) "
        + "running, \(onDisk?.releaseID ?? "unreadable") on disk); using the running release. "
        + "Use --fresh to use the files.\n")
  }
}
