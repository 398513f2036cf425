/// `forge reload`: the files read again into a new release, compared type by type with the
/// running one, and handed to the machine as a plan. Reloads do not overlap: one asked for
/// during a rollout waits, coalesced with any others, and is read once that rollout ends.
extension Supervisor {
  struct ReloadError: Error {
    let message: String
  }

  /// A new release read from the files, and what changed against the running one.
  struct ReleaseChange {
    let project: Project
    let options: Options
    let plan: FormationMachine.ReloadPlan
    let story: String
  }

  /// Reads the files again, as `forge start` did. Bad input becomes a `ReloadError`.
  func readRelease() throws(ReloadError) -> ReleaseChange {
    let root = Files.currentDirectory()
    Files.changeDirectory(project.settings.workingDirectory)
    defer { Files.changeDirectory(root) }
    var next: (Project, Options)
    do {
      let invocation = try Invocation.again(project.settings, positionals: options.startTypes)
      next = try StartCommand.configure(invocation)
    } catch let error as ConfigError {
      throw ReloadError(message: error.description)
    } catch {
      throw ReloadError(message: "\(error)")
    }
    var (newProject, newOptions) = next
    // What belongs to this process, not to a release.
    newOptions.control = options.control
    newOptions.isPID1 = options.isPID1
    newOptions.otherInit = options.otherInit
    newOptions.colour = options.colour
    newOptions.timestamps = options.timestamps
    newOptions.startTypes = options.startTypes
    newOptions.hupReloads = options.hupReloads
    newOptions.watch = options.watch  // the watches stay as they were set up
    newProject = newProject.with(counts: newProject.counts)
    return plan(newProject, newOptions)
  }

  private func plan(_ newProject: Project, _ newOptions: Options) -> ReleaseChange {
    var names = typeNames
    for name in newProject.procfile.names where !names.contains(name) { names.append(name) }
    let rules = Self.rules(project: newProject, options: newOptions, typeNames: names, previous: machine.rules)
    var changed: [Int] = []
    var removed: [Int] = []
    var added: [FormationMachine.TypeCount] = []
    var parts: [String] = []
    let environmentChanged =
      newProject.environment.map { "\($0.key)=\($0.value)" }
      != project.environment.map { "\($0.key)=\($0.value)" }
    for (index, name) in names.enumerated() {
      let new = newProject.procfile.entries.first { $0.name == name }
      let old = index < typeNames.count && !machine.rules.types[index].removed ? entry(index) : nil
      switch (old, new) {
      case (nil, nil):
        continue
      case (nil, let new?):
        let position = newProject.procfile.index(of: new.name) ?? 0
        added.append(FormationMachine.TypeCount(typeIndex: index, count: newProject.counts[position]))
        parts.append("\(name) added")
      case (_?, nil):
        removed.append(index)
        parts.append("\(name) removed")
      case (let old?, let new?):
        var reasons: [String] = []
        if old.command != new.command { reasons.append("command") }
        if environmentChanged { reasons.append("environment") }
        if position(index) != newProject.procfile.index(of: name) {
          reasons.append("position")
        } else if project.basePort != newProject.basePort {
          reasons.append("port")
        }
        let was = machine.rules.types[index]
        let now = rules.types[index]
        if was.teardown.stopSignal != now.teardown.stopSignal || was.restart != now.restart
          || was.readiness != now.readiness || was.health != now.health || was.gates != now.gates
          || project.settings.ttyTypes.contains(name) != newProject.settings.ttyTypes.contains(name)
        {
          reasons.append("settings")
        }
        if reasons.isEmpty {
          parts.append("\(name) unchanged")
        } else {
          changed.append(index)
          parts.append("\(name) changed (\(reasons.joined(separator: ", ")))")
        }
      }
    }
    let story =
      "reload: release \(project.releaseID) → \(newProject.releaseID): " + parts.joined(separator: ", ")
    return ReleaseChange(
      project: newProject, options: newOptions,
      plan: FormationMachine.ReloadPlan(rules: rules, changed: changed, removed: removed, added: added), story: story)
  }

  /// Reads and applies a new release; the reply comes when its rollout ends (nil: later).
  func reload(for client: ControlConnection?, dryRun: Bool) -> String? {
    if machine.phase != .running { return ControlReply.failure("forge is stopping") }
    if machine.rollout != nil && !dryRun {
      queuedReloads.append(client)
      return nil
    }
    let change: ReleaseChange
    do {
      change = try readRelease()
    } catch {
      if !dryRun { announce("reload refused: \(error.message)") }
      return ControlReply.failure(error.message, fields: [("bad_input", .bool(true))])
    }
    if dryRun {
      return ControlReply.success([("plan", .string(change.story)), ("release", .string(change.project.releaseID))])
    }
    announce(change.story)
    publish("reload planned", details: [("plan", .string(change.story), change.story)])
    // A rotated secret's old value stays redacted: instances of the old release print it
    // until they are replaced (for good, if the rollout halts), and it is no less secret.
    let current = change.project.secretValues
    var known = Set(current.map(\.value))
    retiredSecrets = (retiredSecrets + project.secretValues).filter { known.insert($0.value).inserted }
    project = change.project
    options = change.options
    pump.redactor = Redactor(current + retiredSecrets)
    for name in change.project.procfile.names where !typeNames.contains(name) { typeNames.append(name) }
    feed(.reload(change.plan))
    guard let client else { return nil }
    return later(client, .reload(plan: change.story), until: nil)
  }

  /// After a rollout: the reloads asked for meanwhile, read once for all of them.
  func startQueuedReload() {
    guard machine.rollout == nil, machine.phase == .running, !queuedReloads.isEmpty else { return }
    let clients = queuedReloads
    queuedReloads = []
    guard let first = clients.compactMap({ $0 }).first else {
      _ = reload(for: nil, dryRun: false)
      return
    }
    let reply = reload(for: first, dryRun: false)
    for client in clients.compactMap({ $0 }) where client !== first {
      if let reply {
        control?.answer(client, reply)
      } else if let waiter = waiters.last, waiter.client === first {
        waiters.append(Waiter(client: client, waitFor: waiter.waitFor, until: nil, since: waiter.since))
      }
    }
    if let reply { control?.answer(first, reply) }
  }
}
