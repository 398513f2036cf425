/// Everything a formation needs, read from the files: the Procfile, the merged environment,
/// the count per type, the base port and the release id.
struct Project {
  let settings: Settings
  let procfile: Procfile
  /// Text of the Procfile, part of the release id.
  let procfileText: [UInt8]
  /// What processes get before PORT, PS and DYNO: forge's environment merged with the env files.
  let environment: [(key: String, value: String)]
  /// What the env files alone define, merged in order (later files win): the app's config
  /// without the shell's environment, for `forge export`.
  let fileEnvironment: [(key: String, value: String)]
  let counts: [Int]
  let basePort: Int
  /// Keys whose values are secret (from files, or by name), and the values to redact.
  var secretKeys: Set<String> = []
  /// What forge should say once: secret files skipped, secrets too short to redact, env file
  /// keys that forge's own environment overrides.
  var warnings: [String] = []
  /// Env file keys whose value forge's own environment overrides (without `--env-override`),
  /// with the file that defined them last; each is one of `warnings` (`shadowWarning`).
  var shadowed: [(key: String, path: String)] = []
  /// Keys of `fileEnvironment` whose value took text from forge's own environment (a `$VAR`
  /// the env files do not define): what `forge export` would carry from this machine's shell.
  var expandedFromEnvironment: Set<String> = []
  /// Secret keys whose value was read from a file (the secrets directory, an `X_FILE`
  /// reference), and that file's path as given.
  var secretFiles: [String: String] = [:]
  /// A short hash of the Procfile and the resolved environment: the release the formation runs.
  let releaseID: String
  /// A hash of the Procfile and the env files alone: what tells `forge run` whether the files
  /// changed since the formation started (the caller's own environment may differ anyway).
  var filesDigest: String { Self.release(procfileText: procfileText, environment: fileEnvironment) }
  /// Hashes of the Procfile alone and of the env files alone, to tell which changed.
  var procfileDigest: String { Self.release(procfileText: procfileText, environment: []) }
  var envDigest: String { Self.release(procfileText: [], environment: fileEnvironment) }

  /// Reads the files through `read` (a closure so Config does no I/O of its own).
  /// With `procfileOptional`, a missing Procfile gives no process types (for `run` and `env`).
  static func load(
    _ settings: Settings, procfileOptional: Bool = false, list: (String) -> [String]? = { _ in nil },
    read: (String) -> ReadResult
  ) throws(ConfigError) -> Project {
    var text: [UInt8] = []
    let procfile: Procfile
    switch read(settings.procfilePath) {
    case .ok(let bytes):
      text = bytes
      procfile = try Procfile.parse(text, path: settings.procfilePath)
    case .missing:
      guard procfileOptional else {
        throw ConfigError(path: settings.procfilePath, line: 0, message: "no such file")
      }
      procfile = Procfile(path: settings.procfilePath, entries: [])
    case .failed(let reason):
      throw ConfigError(path: settings.procfilePath, line: 0, message: reason)
    }
    var files: [(key: String, value: String)] = []
    // The same files read without forge's environment: a value that differs took text from it.
    var alone: [(key: String, value: String)] = []
    var definedIn: [String: String] = [:]
    for path in settings.envPaths {
      switch read(path) {
      case .ok(let bytes):
        let defined = try DotEnv.parse(bytes, path: path) { key in
          files.last { $0.key == key }?.value ?? settings.environment.last { $0.key == key }?.value
        }
        files.append(contentsOf: defined)
        let withoutEnvironment = try DotEnv.parse(bytes, path: path) { key in alone.last { $0.key == key }?.value }
        alone.append(contentsOf: withoutEnvironment)
        for (key, _) in defined { definedIn[key] = path }
      case .missing:
        if settings.envPathsExplicit { throw ConfigError(path: path, line: 0, message: "no such file") }
      case .failed(let reason):
        throw ConfigError(path: path, line: 0, message: reason)
      }
    }
    var warnings: [String] = []
    var secretKeys: Set<String> = []
    var secretFiles: [String: String] = [:]
    let fileValues = merge(process: [], files: files, filesWin: true)
    var aloneValues: [String: String] = [:]
    for (key, value) in alone { aloneValues[key] = value }
    var expanded = Set(fileValues.filter { aloneValues[$0.key] != $0.value }.map(\.key))
    var shadowed: [(key: String, path: String)] = []
    if !settings.envOverride {
      for (key, value) in fileValues {
        guard let path = definedIn[key], let own = settings.environment.last(where: { $0.key == key })?.value,
          own != value
        else { continue }
        shadowed.append((key, path))
        warnings.append(shadowWarning(key: key, path: path))
      }
    }
    // Secret files take part as env-file values: the platform's environment still wins.
    if let directory = settings.secrets.directory {
      guard let names = list(directory) else {
        throw ConfigError(path: directory, line: 0, message: "cannot read the secrets directory")
      }
      let skipped = names.filter { !SecretSettings.isValidKey($0) }
      if !skipped.isEmpty {
        warnings.append("secrets in \(directory) skipped, not valid variable names: " + skipped.joined(separator: ", "))
      }
      for name in names where SecretSettings.isValidKey(name) {
        let path = Path.join(directory, name)
        guard case .ok(let bytes) = read(path) else {
          throw ConfigError(path: path, line: 0, message: "cannot read the secret")
        }
        files.append((name, try SecretSettings.value(of: bytes, path: path)))
        secretKeys.insert(name)
        secretFiles[name] = path
        expanded.remove(name)
      }
    }
    var environment = merge(process: settings.environment, files: files, filesWin: settings.envOverride)
    if settings.secrets.fileReferences {
      // X_FILE=/path with X unset: X from the file, and X_FILE removed (apps that read _FILE
      // themselves refuse to start when both are set).
      var resolved: [(key: String, value: String)] = []
      var removed: Set<String> = []
      // The platform's environment is full of *_FILE names that are not secrets
      // (SSL_CERT_FILE): from it, only names that look secret (the --redact patterns) are
      // followed; from the env files and the secrets directory, every reference is.
      let fromFiles = Set(files.map(\.key))
      for (key, path) in environment where key.hasSuffix("_FILE") && key.count > 5 {
        let target = String(key.dropLast(5))
        guard !environment.contains(where: { $0.key == target }) else { continue }
        guard fromFiles.contains(key) || settings.secrets.isSecretName(target) else { continue }
        switch read(path) {
        case .ok(let bytes): resolved.append((target, try SecretSettings.value(of: bytes, path: path)))
        case .missing: throw ConfigError(path: path, line: 0, message: "no such file (\(key))")
        case .failed(let reason): throw ConfigError(path: path, line: 0, message: "\(reason) (\(key))")
        }
        removed.insert(key)
        secretKeys.insert(target)
        secretFiles[target] = path
      }
      environment = merge(
        process: [], files: environment.filter { !removed.contains($0.key) } + resolved, filesWin: true)
    }
    for (key, _) in environment where settings.secrets.isSecretName(key) { secretKeys.insert(key) }
    let short = environment.filter { secretKeys.contains($0.key) && $0.value.utf8.count < SecretSettings.shortest }
    if !short.isEmpty && settings.secrets.redact {
      warnings.append(
        "not redacted in the log, shorter than \(SecretSettings.shortest) bytes (too short to be secret): "
          + short.map(\.key).joined(separator: ", "))
    }
    let counts = try settings.formation.resolve(against: procfile, source: settings.formationSource)
    var basePort = 5000
    if let port = settings.portOverride {
      basePort = port
    } else if let text = environment.last(where: { $0.key == "PORT" })?.value {
      guard let port = Int(text), port > 0, port < 65536 else {
        let secrets = secretValues(of: environment, keys: secretKeys, redact: settings.secrets.redact)
        throw ConfigError(path: "PORT", line: 0, message: "expected a port from 1 to 65535, got \"\(text)\"")
          .redacting(secrets)
      }
      basePort = port
    }
    var project = Project(
      settings: settings, procfile: procfile, procfileText: text, environment: environment,
      fileEnvironment: merge(process: [], files: files, filesWin: true), counts: counts, basePort: basePort,
      releaseID: release(procfileText: text, environment: environment))
    project.secretKeys = secretKeys
    project.warnings = warnings
    project.shadowed = shadowed
    project.expandedFromEnvironment = expanded
    project.secretFiles = secretFiles
    return project
  }

  /// The warning for an env file key that forge's own environment overrides.
  static func shadowWarning(key: String, path: String) -> String {
    "\(key) from \(path) is overridden by the environment (use --env-override to let the file win)"
  }

  /// The values to keep out of the log: secret keys' values long enough to be secrets.
  var secretValues: [(key: String, value: String)] {
    Self.secretValues(of: environment, keys: secretKeys, redact: settings.secrets.redact)
  }

  private static func secretValues(
    of environment: [(key: String, value: String)], keys: Set<String>, redact: Bool
  ) -> [(key: String, value: String)] {
    guard redact else { return [] }
    return environment.filter { keys.contains($0.key) && $0.value.utf8.count >= SecretSettings.shortest }
  }

  enum ReadResult {
    case ok([UInt8])
    case missing
    case failed(String)
  }

  /// The precedence rule: a variable already in forge's environment wins over the files (a
  /// value injected by the platform is never overridden by a file baked into an image), unless
  /// `--env-override`. Among files, later ones win. The result is sorted by key.
  static func merge(
    process: [(key: String, value: String)], files: [(key: String, value: String)], filesWin: Bool
  ) -> [(key: String, value: String)] {
    var merged: [String: String] = [:]
    for (key, value) in files { merged[key] = value }
    for (key, value) in process where !filesWin || merged[key] == nil { merged[key] = value }
    return merged.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
  }

  static func release(procfileText: [UInt8], environment: [(key: String, value: String)]) -> String {
    var hash = FNV1a()
    hash.add(procfileText)
    hash.add([0])
    for (key, value) in environment {
      hash.add(Array(key.utf8))
      hash.add([0x3D])
      hash.add(Array(value.utf8))
      hash.add([0])
    }
    return hash.hex(digits: 8)
  }

  /// The environment one instance gets.
  func environment(for name: String, port: Int) -> [String] {
    InstanceVariables.environment(environment, name: name, port: port, release: releaseID)
  }

  /// The same project with another formation.
  func with(counts: [Int]) -> Project {
    var project = Project(
      settings: settings, procfile: procfile, procfileText: procfileText, environment: environment,
      fileEnvironment: fileEnvironment, counts: counts, basePort: basePort, releaseID: releaseID)
    project.secretKeys = secretKeys
    project.warnings = warnings
    project.shadowed = shadowed
    project.expandedFromEnvironment = expandedFromEnvironment
    project.secretFiles = secretFiles
    return project
  }
}

/// 64-bit FNV-1a: small, stable across runs and platforms, good enough to tell releases apart.
struct FNV1a {
  private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

  mutating func add(_ bytes: [UInt8]) {
    for byte in bytes {
      value ^= UInt64(byte)
      value = value &* 0x100_0000_01b3
    }
  }

  func hex(digits: Int) -> String {
    let text = String(value, radix: 16)
    let padded = String(repeating: "0", count: max(0, 16 - text.count)) + text
    return String(padded.prefix(digits))
  }
}
