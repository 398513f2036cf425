/// Everything an export format needs, resolved once from the project and the options. The
/// formats are pure functions of a plan, so their output depends on nothing else (no clock, no
/// shell environment, no file system) and can be committed and diffed.
struct ExportPlan {
  /// One Procfile entry as the formats see it.
  struct ProcessEntry {
    let name: String
    let command: String
    /// Position in the Procfile: decides the ports, as under `forge start`.
    let index: Int
    let count: Int
    let restart: RestartPolicy.Mode
    let exposed: Bool
    /// `--ready TYPE=…`: when an instance counts as started.
    var readiness: Probe? = nil
    /// `--health TYPE=…`: asked every health interval once ready; 3 failures in a row restart.
    var health: Probe? = nil
    /// `--after TYPE=…`: the types this one starts after, in the order given.
    var after: [StartOrder.Dependency] = []
    /// Another type waits for this one with `:done`: it runs to completion, once.
    var isTask = false

    /// Heroku's convention, kept by forge: a `release` type runs once per deploy.
    var isRelease: Bool { name == "release" }

    /// The probe the formats can ask on a schedule for readiness: `log` and `notify` are told
    /// to forge by the process, which no orchestrator can watch for.
    var polledReadiness: Probe? { readiness?.isPolled == true ? readiness : nil }

    /// An `exec:` probe runs with the instance's PORT, which a container must then be given.
    var hasExecProbe: Bool {
      [readiness, health].contains { probe in
        if case .exec = probe { return true }
        return false
      }
    }
  }

  /// Readiness, health and start order, as `forge start` reads them (`--ready`, `--health`,
  /// `--after`, `--ready-timeout`, `--health-interval`).
  struct Probes {
    var readiness = ProbeSettings()
    var health = ProbeSettings()
    var order = StartOrder()
    var readyTimeoutSeconds = 60.0
    var healthIntervalSeconds = 10.0
    /// `--metrics`: read with these by `forge start` (its `/healthz` and `/readyz` are probes
    /// too), and given to forge in each container (see `ExportMetrics`).
    var metrics: ListenAddress? = nil
  }

  /// Already sanitized (see `ExportNames.app`): lowercase letters, digits and `-`.
  let app: String
  /// The app root: where processes run.
  let root: String
  /// The absolute output directory, for files that name each other (systemd's EnvironmentFile).
  let directory: String
  let user: String?
  let image: String
  let timeoutSeconds: Double
  let basePort: Int
  let types: [ProcessEntry]
  /// The env files' variables, without the ones forge sets per process; with `--file-refs`,
  /// `X_FILE` gives way to `X`, as under `forge start`.
  let environment: [(key: String, value: String)]
  let readyTimeoutSeconds: Double
  let healthIntervalSeconds: Double
  /// Keys of `environment` whose values are secret: from the secrets directory or an `X_FILE`
  /// reference, or named so (`--redact`). They go to a Kubernetes Secret and Compose's
  /// `APP.secrets.env`; the other variables to a ConfigMap and `APP.env`.
  var secretKeys: Set<String> = []
  /// Secret keys read from a file, with its absolute path: systemd loads each with
  /// `LoadCredential=KEY:PATH` instead of copying the value into `APP.env`.
  var credentials: [(key: String, path: String)] = []
  /// Keys whose values took text from the environment `forge export` ran in (`$PATH` in an
  /// env file expanded from the developer's shell): the export holds this machine's value.
  var expandedFromShell: [String] = []
  /// The forge binary systemd units run to read their credentials (the exporting one).
  var forgeExecutable = ExportPlan.defaultForgeExecutable
  /// `--metrics`: where forge in each container serves Prometheus metrics (see `ExportMetrics`).
  var metrics: ListenAddress? = nil

  static let defaultForgeExecutable = "/usr/local/bin/forge"

  /// What the platform waits beyond `-t` before it kills a container or unit: forge's own stop
  /// (the grace period, then SIGKILL and up to 5 s for the kernel) and its reporting finish
  /// first, so the platform's SIGKILL never cuts them short.
  static let graceMarginSeconds = 5.0

  /// `-t` plus the margin: terminationGracePeriodSeconds, stop_grace_period, TimeoutStopSec.
  var platformStopSeconds: Double { min(max(timeoutSeconds, 0), 1e9) + Self.graceMarginSeconds }

  /// The variables that are not secret, in order.
  var configuration: [(key: String, value: String)] { environment.filter { !secretKeys.contains($0.key) } }
  /// The secret variables, in order.
  var secrets: [(key: String, value: String)] { environment.filter { secretKeys.contains($0.key) } }

  init(
    app: String, root: String, directory: String, user: String?, image: String, timeoutSeconds: Double,
    basePort: Int, types: [ProcessEntry], environment: [(key: String, value: String)],
    readyTimeoutSeconds: Double = 60, healthIntervalSeconds: Double = 10
  ) {
    self.app = app
    self.root = root
    self.directory = directory
    self.user = user
    self.image = image
    self.timeoutSeconds = timeoutSeconds
    self.basePort = basePort
    self.types = types
    // Set per process, so an env file never decides them (in a systemd EnvironmentFile a value
    // would even win over the unit's own `Environment=PORT=`).
    self.environment = environment.filter { !InstanceVariables.keys.contains($0.key) }
    self.readyTimeoutSeconds = readyTimeoutSeconds
    self.healthIntervalSeconds = healthIntervalSeconds
  }

  /// The plan for `project`. `expose` names the types that listen for traffic; an unknown
  /// name is an error unless it is the default (`web` in a Procfile without one).
  init(
    project: Project, app: String, directory: String, user: String?, image: String?, restart: RestartPolicy,
    expose: [String], exposeSource: String?, probes: Probes = Probes(),
    forgeExecutable: String = ExportPlan.defaultForgeExecutable
  ) throws(ConfigError) {
    if let exposeSource {
      for name in expose where project.procfile.index(of: name) == nil {
        throw ConfigError(
          path: exposeSource, line: 0,
          message: "unknown process type \"\(name)\" (defined: \(project.procfile.names.joined(separator: ", ")))")
      }
    }
    let tasks = probes.order.tasks
    let types = project.procfile.entries.enumerated().map { index, entry in
      ProcessEntry(
        name: entry.name, command: entry.command, index: index, count: project.counts[index],
        restart: restart.mode(for: entry.name), exposed: expose.contains(entry.name),
        readiness: probes.readiness.probe(for: entry.name), health: probes.health.probe(for: entry.name),
        after: probes.order.dependencies(of: entry.name), isTask: tasks.contains(entry.name))
    }
    let environment = Self.resolvingFileReferences(project)
    self.init(
      app: app, root: project.settings.root, directory: directory, user: user, image: image ?? "\(app):latest",
      timeoutSeconds: project.settings.timeoutSeconds, basePort: project.basePort, types: types,
      environment: environment, readyTimeoutSeconds: probes.readyTimeoutSeconds,
      healthIntervalSeconds: probes.healthIntervalSeconds)
    let secrets = project.settings.secrets
    secretKeys = Set(
      self.environment.map(\.key).filter { project.secretKeys.contains($0) || secrets.isSecretName($0) })
    credentials = self.environment.compactMap { pair in
      project.secretFiles[pair.key].map {
        (pair.key, Path.absolute($0, from: project.settings.workingDirectory))
      }
    }
    expandedFromShell = self.environment.map(\.key).filter { project.expandedFromEnvironment.contains($0) }
    self.forgeExecutable = forgeExecutable
    metrics = probes.metrics
  }

  /// The env files' variables as the processes get them: with `--file-refs`, an `X_FILE`
  /// that forge followed is `X` with the file's content (a path on this machine means nothing
  /// in a container).
  static func resolvingFileReferences(_ project: Project) -> [(key: String, value: String)] {
    guard project.settings.secrets.fileReferences else { return project.fileEnvironment }
    var resolved: [(key: String, value: String)] = []
    for (key, value) in project.fileEnvironment {
      let target = String(key.dropLast(5))
      if key.hasSuffix("_FILE"), key.count > 5, project.secretFiles[target] != nil,
        !project.environment.contains(where: { $0.key == key }),
        let content = project.environment.last(where: { $0.key == target })?.value
      {
        resolved.append((target, content))
      } else {
        resolved.append((key, value))
      }
    }
    return Project.merge(process: [], files: resolved, filesWin: true)
  }

  /// foreman's port rule, as `forge start` applies it.
  func port(_ type: ProcessEntry, instance: Int) -> Int {
    PortPlan.port(base: basePort, typeIndex: type.index, instance: instance)
  }

  /// The entry named `name`.
  func type(named name: String) -> ProcessEntry? { types.first { $0.name == name } }

  /// The command a container runs for one instance of `type`: forge itself, so the container
  /// gets forge's signal handling, log prefixing and restart policy. `-p` is the base port:
  /// forge adds the type's Procfile offset itself, so the process listens on the port of
  /// TYPE.1, which is what the container exposes. `--metrics` is forge's own, so only
  /// `forge start` gets it.
  func containerCommand(_ type: ProcessEntry) -> [String] {
    if type.isRelease { return ["forge", "run", type.name] }
    let command = ["forge", "start", type.name, "-m", "\(type.name)=1", "-p", String(basePort)]
    return command + (metrics.map { ["--metrics", $0.description] } ?? [])
  }
}

/// One generated file: its path relative to the output directory, its text and its mode.
struct ExportFile: Equatable {
  let path: String
  let text: String
  let mode: UInt32

  init(_ path: String, _ text: String, mode: UInt32 = 0o644) {
    self.path = path
    self.text = text
    self.mode = mode
  }
}
