import CGlibcLinux
import Glibc

/// `forge start [PROCESS…]`: runs the formation in the foreground until it stops.
enum StartCommand {
  static let specs =
    Options.common + [Options.formation, Options.concurrency, Options.port, Options.timeout, Options.envOverride]
    + Options.output + [Options.tty, Options.interactive, Options.socket] + Options.supervision + Options.readiness
    + Options.secretHandling

  static func run(_ arguments: [String]) throws -> Int32 {
    let reporting = ProcessEnvironment.current().contains { $0.key == reportVariable }
    if reporting { ProcessEnvironment.remove(reportVariable) }  // not for the processes
    guard let invocation = try Invocation.parse(arguments, command: "start", specs: specs) else { return 0 }
    let (project, configured) = try configure(invocation)
    if try !reporting && wantsDetach(invocation) { return try detach(invocation, arguments: arguments) }
    var options = configured
    options.startTypes = invocation.parsed.positionals
    if !reporting, let file = Settings.lookup("log-file", invocation.parsed.options, invocation.settings.variables) {
      // Ignoring it would leave the user looking for a file that never comes.
      throw ConfigError(
        path: file.source, line: 0,
        message: "a log file is written only with --detach; in the foreground the log stream is stdout (redirect it)")
    }
    if reporting {
      options.reportReady = true
      let file = Settings.lookup("log-file", invocation.parsed.options, invocation.settings.variables)
      options.logFile = file.map { Path.absolute($0.value, from: invocation.workingDirectory) }
      if let size = Settings.lookup("log-file-size", invocation.parsed.options, invocation.settings.variables) {
        guard let bytes = Int(size.value), bytes >= 4096 else {
          throw ConfigError(
            path: size.source, line: 0, message: "expected bytes (at least 4096), got \"\(size.value)\"")
        }
        options.logFileSize = bytes
      }
    }
    let settings = invocation.settings
    guard chdir(settings.root) == 0 else {
      throw Exit(ExitCode.failure, "forge: cannot enter \(settings.root): \(String(cString: strerror(cglibc_errno())))")
    }
    // What a forge that died here left running: stopped first, or (--keep-leftovers) a refusal.
    let statePath = StateFile.path(forSocket: settings.socketPath)
    if let state = Leftovers.read(statePath), Leftovers.forgeIsGone(state) {
      let found = Leftovers.find(state)
      let keep = try Settings.flag("keep-leftovers", invocation.parsed.options, settings.variables) ?? false
      if !found.isEmpty && keep {
        throw Exit(
          ExitCode.failure,
          "forge: leftovers from a forge that died (pid \(state.forgePID)): "
            + found.map(\.label).joined(separator: ", ") + "; not starting (--keep-leftovers)")
      }
      options.leftovers = (state.forgePID, found)
      if found.isEmpty { Leftovers.remove(statePath) }
    }
    do {
      options.control = try ControlServer.open(settings.socketPath)
    } catch {
      switch error {
      case .inUse(let path):
        throw Exit(ExitCode.failure, "forge: another forge is already running here (control socket \(path))")
      case .failed(let reason):
        throw Exit(ExitCode.failure, "forge: cannot create the control socket: \(reason)")
      case .notSocket(let path):
        throw Exit(
          ExitCode.failure,
          "forge: \(path) is in the way of the control socket: it is not a socket (remove it or use --socket)")
      }
    }
    options.otherInit = options.isPID1 ? nil : ContainerInit.detect()
    let startLimit = DescriptorLimit.current().soft
    let needed = DescriptorLimit.needed(instances: project.counts.reduce(0, +))
    guard DescriptorLimit.raise(to: needed) else {
      options.control?.close()
      throw Exit(
        ExitCode.failure,
        "forge: the formation needs about \(needed) descriptors, above the hard limit of "
          + "\(DescriptorLimit.current().hard) (ulimit -Hn)")
    }
    let supervisor: Supervisor
    do {
      supervisor = try Supervisor(project: project, options: options)
      supervisor.startLimit = startLimit
    } catch {
      options.control?.close()
      throw error
    }
    let status = supervisor.run()
    // Exit with the supervisor still alive: `forge stop` clients learn that forge is gone when
    // their connection closes, which must be the process's exit, not the supervisor's end.
    withExtendedLifetime(supervisor) { exit(status) }
  }

  /// Everything `start` reads and checks before it changes anything: the project, the named
  /// types, ports, and the supervisor's options. `forge check` runs the same.
  static func configure(_ invocation: Invocation) throws -> (Project, Supervisor.Options) {
    var project = try invocation.loadProject()
    let settings = invocation.settings
    let source = settings.formationSource
    if !invocation.parsed.positionals.isEmpty {
      project = try only(invocation.parsed.positionals, of: project, formationGiven: settings.formation != .default)
    }
    for type in settings.ttyTypes where project.procfile.index(of: type) == nil {
      throw ConfigError(path: "--tty", line: 0, message: "unknown process type \"\(type)\"")
    }
    guard project.counts.contains(where: { $0 > 0 }) else {
      throw ConfigError(path: source, line: 0, message: "the formation runs no process")
    }
    for (index, count) in project.counts.enumerated() where count > 0 {
      let port = PortPlan.port(base: project.basePort, typeIndex: index, instance: count)
      guard port <= PortPlan.highest else {
        let name = project.procfile.entries[index].name
        // With the default formation the count is not the user's doing: the PORT rule is.
        let why = settings.formation == .default ? " (the PORT rule: base + 100 × the type's place)" : ""
        throw ConfigError(
          path: settings.formation == .default ? project.procfile.path : source, line: 0,
          message: "\(name).\(count) would get PORT \(port)\(why), above 65535")
      }
    }
    if let clash = PortPlan.collision(counts: project.counts, names: project.procfile.names, base: project.basePort) {
      throw ConfigError(path: source, line: 0, message: clash)
    }
    try EnvironmentSize.check(project)
    let environment = settings.variables
    var options = Supervisor.Options()
    let stdoutIsTerminal = isatty(1) == 1
    options.colour = Palette.enabled(
      forced: settings.color, stdoutIsTerminal: stdoutIsTerminal, environment: environment.values)
    options.timestamps = settings.timestamps ?? stdoutIsTerminal
    options.restart = try restartPolicy(invocation.parsed.options, environment)
    options.stopSignals = try stopSignals(invocation.parsed.options, environment)
    options.isPID1 = getpid() == 1
    try configureReadiness(&options, invocation.parsed.options, environment, project)
    let overridden =
      options.restart.perType.keys.map { ("--restart", $0) }
      + options.stopSignals.perType.keys.map { ("--stop-signal", $0) }
      + options.readiness.named.map { ("--ready", $0) } + options.health.named.map { ("--health", $0) }
    for (flag, type) in overridden.sorted(by: { $0.1 < $1.1 }) where project.procfile.index(of: type) == nil {
      throw ConfigError(path: flag, line: 0, message: "unknown process type \"\(type)\"")
    }
    return (project, options)
  }

  /// `forge start web worker`: only the named types run; without -m each runs once.
  private static func only(_ names: [String], of project: Project, formationGiven: Bool) throws -> Project {
    var counts = [Int](repeating: 0, count: project.counts.count)
    for name in names {
      guard let index = project.procfile.index(of: name) else {
        throw ConfigError(
          path: project.procfile.path, line: 0,
          message: "no process type \"\(name)\" (defined: \(project.procfile.names.joined(separator: ", ")))")
      }
      counts[index] = formationGiven ? project.counts[index] : max(project.counts[index], 1)
    }
    return project.with(counts: counts)
  }

  static func restartPolicy(_ options: OptionValues, _ environment: Variables) throws -> RestartPolicy {
    var policy = RestartPolicy()
    try applySpecs("restart", options, environment) { spec, source throws(ConfigError) in
      try policy.apply(spec, source: source)
    }
    if let given = Settings.lookup("max-restarts", options, environment) {
      guard let n = Int(given.value), n >= 0 else {
        throw ConfigError(path: given.source, line: 0, message: "expected a whole number, got \"\(given.value)\"")
      }
      policy.maxRestarts = n
    }
    if let given = Settings.lookup("restart-window", options, environment) {
      guard let seconds = Double(given.value), seconds > 0, seconds <= Settings.maximumSeconds else {
        throw ConfigError(path: given.source, line: 0, message: "expected seconds, got \"\(given.value)\"")
      }
      policy.windowSeconds = seconds
    }
    return policy
  }

  /// `--ready`, `--health`, their timings and `--after`, checked against the formation.
  static func configureReadiness(
    _ options: inout Supervisor.Options, _ given: OptionValues, _ environment: Variables, _ project: Project
  ) throws {
    var readiness = ProbeSettings()
    try applySpecs("ready", given, environment) { spec, source throws(ConfigError) in
      try readiness.apply(spec, source: source)
    }
    var health = ProbeSettings()
    try applySpecs("health", given, environment) { spec, source throws(ConfigError) in
      try health.apply(spec, source: source, health: true)
    }
    options.readiness = readiness
    options.health = health
    for (name, defaultValue) in [("ready-timeout", 60.0), ("health-interval", 10.0)] {
      var seconds = defaultValue
      if let value = Settings.lookup(name, given, environment) {
        guard let parsed = Double(value.value), parsed > 0, parsed <= Settings.maximumSeconds else {
          throw ConfigError(path: value.source, line: 0, message: "expected seconds above 0, got \"\(value.value)\"")
        }
        seconds = parsed
      }
      if name == "ready-timeout" {
        options.readyTimeoutSeconds = seconds
      } else {
        options.healthIntervalSeconds = seconds
      }
    }
    var order = StartOrder()
    var orderSource = "--after"
    try applySpecs("after", given, environment) { spec, source throws(ConfigError) in
      orderSource = source
      try order.apply(spec, source: source)
    }
    let names = project.procfile.names
    try order.validate(types: names, source: orderSource)
    for dependency in order.dependencies {
      guard let type = names.firstIndex(of: dependency.type), let on = names.firstIndex(of: dependency.on) else {
        continue
      }
      if project.counts[type] > 0 && project.counts[on] == 0 {
        throw ConfigError(
          path: orderSource, line: 0,
          message:
            "\(dependency.type) waits for \(dependency.on), which the formation does not run (\(dependency.on)=0)")
      }
    }
    options.order = order
    var watch = WatchSettings()
    try applySpecs("watch", given, environment) { spec, source throws(ConfigError) in
      try watch.apply(spec, source: source)
    }
    for type in watch.named where project.procfile.index(of: type) == nil {
      throw ConfigError(path: "--watch", line: 0, message: "unknown process type \"\(type)\"")
    }
    options.watch = watch
    if let metrics = Settings.lookup("metrics", given, environment) {
      guard let address = ListenAddress.parse(metrics.value) else {
        throw ConfigError(
          path: metrics.source, line: 0,
          message:
            "expected ADDRESS:PORT, [IPV6 ADDRESS]:PORT or unix:PATH (an address, not a host name), got \"\(metrics.value)\""
        )
      }
      options.metrics = address
    }
    if let lines = Settings.lookup("log-buffer", given, environment) {
      guard let count = Int(lines.value), count > 0, count <= 1_000_000 else {
        throw ConfigError(path: lines.source, line: 0, message: "expected a count of lines, got \"\(lines.value)\"")
      }
      options.logBufferLines = count
    }
    if let hup = Settings.lookup("hup", given, environment) {
      guard hup.value == "reload" || hup.value == "forward" else {
        throw ConfigError(path: hup.source, line: 0, message: "expected forward or reload, got \"\(hup.value)\"")
      }
      options.hupReloads = hup.value == "reload"
    }
  }

  static func stopSignals(_ options: OptionValues, _ environment: Variables) throws -> StopSignals {
    var signals = StopSignals()
    try applySpecs("stop-signal", options, environment) { spec, source throws(ConfigError) in
      try signals.apply(spec, source: source)
    }
    return signals
  }

  /// A repeatable option: every `--name` given, else the `FORGE_NAME` variable.
  private static func applySpecs(
    _ name: String, _ options: OptionValues, _ environment: Variables,
    _ apply: (String, String) throws(ConfigError) -> Void
  ) throws(ConfigError) {
    let specs = options.all(name)
    let variable = Settings.environmentName(name)
    if specs.isEmpty, let value = environment[variable], !value.isEmpty {
      try apply(value, environment.source(of: variable))
    }
    for spec in specs { try apply(spec, "--\(name)") }
  }
}
