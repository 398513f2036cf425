import CGlibcLinux
import Glibc

/// `forge export FORMAT DIR`: writes the formation as systemd units, Kubernetes manifests or a
/// Compose file. Generation is pure (see Export/); this file reads the options and does the
/// writing: every file, then the deletion of what the last export wrote and this one does not.
///
/// An export never overwrites or deletes a file it did not write: DIR/.forge-export lists the
/// files the last export wrote, and a file of the new export that is already there without
/// being listed (a hand-written compose.yaml) stops it before anything is written, with exit
/// status 1, unless `--force` (`FORGE_FORCE`). Deletion only ever concerns listed files.
enum ExportCommand {
  static let force = OptionSpec("force", "overwrite files in DIR that forge export did not write")

  static let specs =
    Options.common + [
      Options.formation, Options.concurrency, Options.port, Options.timeout, Options.app, Options.user,
      Options.image, Options.expose, Options.restart, force,
    ] + Options.readiness + Options.secretHandling

  static func run(_ arguments: [String]) throws -> Int32 {
    guard let invocation = try Invocation.parse(arguments, command: "export", specs: specs) else { return 0 }
    let positionals = invocation.parsed.positionals
    guard let formatName = positionals.first else {
      throw UsageError("export needs a FORMAT (\(ExportFormat.names)) and a DIR", command: "export")
    }
    guard let format = ExportFormat(rawValue: formatName) else {
      throw UsageError("unknown export format '\(formatName)' (formats: \(ExportFormat.names))", command: "export")
    }
    guard positionals.count > 1 else { throw UsageError("export needs a DIR to write to", command: "export") }
    if positionals.count > 2 { throw UsageError("unexpected argument '\(positionals[2])'", command: "export") }
    let display = positionals[1]
    let directory = Path.absolute(display, from: invocation.workingDirectory)

    let project = try loadProject(invocation)
    let plan = try plan(invocation, project, directory: directory)
    let files = try format.files(plan)
    let previous = try manifest(in: directory)
    let overwritten = unlisted(files, previous: previous, directory: directory)
    let force = try Settings.flag("force", invocation.parsed.options, invocation.settings.variables) ?? false
    if !overwritten.isEmpty && !force {
      let names = overwritten.map { Path.join(display, $0) }
      let (them, exist) = names.count == 1 ? ("it", "exists") : ("them", "exist")
      throw Exit(
        ExitCode.failure,
        "forge: \(names.joined(separator: ", ")) \(exist) and forge export did not write \(them); nothing written"
          + " (move \(them) away, or use --force to overwrite \(them))")
    }
    for warning in ExportWarnings.all(plan, format: format) { writeRaw(2, "forge: warning: \(warning)\n") }
    try write(files, format: format, directory: directory, display: display, previous: previous)
    return ExitCode.success
  }

  /// The project as `Invocation.loadProject` reads it, and its warnings but one: an env file
  /// key that forge's own environment overrides is exported with the file's value anyway.
  static func loadProject(_ invocation: Invocation) throws -> Project {
    let project = try Project.load(invocation.settings, list: Files.regularFiles(in:)) { invocation.readFile($0) }
    let shadowed = Set(project.shadowed.map { Project.shadowWarning(key: $0.key, path: $0.path) })
    for warning in project.warnings where !shadowed.contains(warning) {
      writeRaw(2, "forge: warning: \(warning)\n")
    }
    return project
  }

  /// The paths the last export to `directory` wrote (none without a manifest).
  static func manifest(in directory: String) throws -> [String] {
    do {
      return ExportManifest.parse(
        String(decoding: try Files.read(Path.join(directory, ExportManifest.name)), as: UTF8.self))
    } catch {
      if error.errno == ENOENT || error.errno == ENOTDIR { return [] }
      throw error
    }
  }

  /// The files of the export already in `directory` (anything there: a file, a link, a
  /// directory) that the last export did not write.
  static func unlisted(_ files: [ExportFile], previous: [String], directory: String) -> [String] {
    let listed = Set(previous)
    return files.map(\.path).filter { path in
      var info = stat()
      return !listed.contains(path) && lstat(Path.join(directory, path), &info) == 0
    }
  }

  /// The options, each also from its FORGE_ variable, resolved into a plan.
  static func plan(_ invocation: Invocation, _ project: Project, directory: String) throws -> ExportPlan {
    let options = invocation.parsed.options
    let environment = invocation.settings.variables
    let given = { (name: String) in Settings.lookup(name, options, environment) }

    let appSource = given("app") ?? (value: Path.lastComponent(invocation.settings.root), source: "--root")
    guard let app = ExportText.name(appSource.value) else {
      throw ConfigError(
        path: appSource.source, line: 0, message: "no letter or digit to make an app name of \"\(appSource.value)\"")
    }
    let expose = given("expose")
    return try ExportPlan(
      project: project, app: app, directory: directory, user: given("user")?.value, image: given("image")?.value,
      restart: try StartCommand.restartPolicy(options, environment),
      expose: expose.map { $0.value.split(separator: ",").map { $0.trimmingBlanks() }.filter { !$0.isEmpty } }
        ?? ["web"],
      exposeSource: expose?.source, probes: try probes(options, environment, project),
      forgeExecutable: Files.currentExecutable())
  }

  /// `--ready`, `--health`, their timings, `--after` and `--metrics`, read and checked as
  /// `forge start` does.
  static func probes(_ given: OptionValues, _ environment: Variables, _ project: Project) throws -> ExportPlan.Probes {
    var options = Supervisor.Options()
    try StartCommand.configureReadiness(&options, given, environment, project)
    let named = options.readiness.named.map { ("--ready", $0) } + options.health.named.map { ("--health", $0) }
    for (flag, type) in named.sorted(by: { $0.1 < $1.1 }) where project.procfile.index(of: type) == nil {
      throw ConfigError(path: flag, line: 0, message: "unknown process type \"\(type)\"")
    }
    return ExportPlan.Probes(
      readiness: options.readiness, health: options.health, order: options.order,
      readyTimeoutSeconds: options.readyTimeoutSeconds, healthIntervalSeconds: options.healthIntervalSeconds,
      metrics: options.metrics)
  }

  static func write(
    _ files: [ExportFile], format: ExportFormat, directory: String, display: String, previous: [String]
  ) throws {
    try Files.makeDirectory(directory)
    let manifest = Path.join(directory, ExportManifest.name)
    for file in files {
      let path = Path.join(directory, file.path)
      try Files.makeDirectory(Path.directory(of: path))
      // A symbolic link is replaced, never written through: values must not land elsewhere.
      var info = stat()
      if lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK { _ = unlink(path) }
      // An existing file is truncated and set to the mode before the values are written.
      try Files.write(path, Array(file.text.utf8), mode: mode_t(file.mode))
      writeRaw(1, "wrote \(Path.join(display, file.path))\n")
    }
    let stale = ExportManifest.stale(previous: previous, current: files.map(\.path))
    // A file that could not be removed stays listed, so the next export tries again.
    var listed = files.map(\.path)
    for path in stale {
      if unlink(Path.join(directory, path)) == 0 {
        writeRaw(1, "removed \(Path.join(display, path))\n")
      } else if cglibc_errno() != ENOENT {
        let reason = String(cString: strerror(cglibc_errno()))
        writeRaw(2, "forge: cannot remove \(Path.join(display, path)): \(reason)\n")
        listed.append(path)
      }
    }
    // Only empty directories go: one still holding a file (the user's own) stays.
    for path in ExportManifest.directories(of: stale) { _ = rmdir(Path.join(directory, path)) }
    try Files.write(manifest, Array(ExportManifest.render(format, listed).utf8))
  }
}
