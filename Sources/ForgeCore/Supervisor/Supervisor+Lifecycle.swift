import CGlibcLinux
import Glibc

/// Spawning, reaping, exit policy and shutdown.
extension Supervisor {
  // MARK: - Formation

  func buildFormation() {
    for index in project.procfile.entries.indices {
      for number in stride(from: 1, through: project.counts[index], by: 1) {
        instances.append(makeInstance(typeIndex: index, number: number))
      }
    }
    refreshPrefixes()
  }

  func makeInstance(typeIndex: Int, number: Int) -> Instance {
    let entry = project.procfile.entries[typeIndex]
    let port = PortPlan.port(base: project.basePort, typeIndex: typeIndex, instance: number)
    let name = "\(entry.name).\(number)"
    return Instance(
      type: entry.name, typeIndex: typeIndex, number: number, port: port, command: entry.command,
      usesTerminal: project.settings.ttyTypes.contains(entry.name),
      source: LogSource(name: name, width: nameWidth, colour: nil))
  }

  /// Names are padded to the longest in the formation, forge's own included; scaling up can
  /// make a longer one, and then every prefix is rendered again.
  func refreshPrefixes() {
    // Never narrower than before: lines already printed and lines to come stay aligned.
    let width = instances.reduce(max(nameWidth, LogSource.forgeName.count)) { max($0, $1.name.utf8.count) }
    nameWidth = width
    for instance in instances {
      let colour = options.colour ? Palette.colour(forTypeIndex: instance.typeIndex) : nil
      instance.source = LogSource(name: instance.name, width: width, colour: colour)
    }
    forgeSource = LogSource(
      name: LogSource.forgeName, width: width, colour: options.colour ? Palette.forge : nil)
  }

  // MARK: - Spawning

  /// Spawns the instance's process. A failure is reported on its line and handled like an
  /// exit with status 127.
  func start(_ instance: Instance) {
    guard phase == .running else {
      instance.state = .exited
      return
    }
    instance.status = nil
    instance.killed = false
    instance.stopDeadline = nil
    instance.afterExit = .policy
    do {
      let pid = try spawnProcess(for: instance)
      instance.pid = pid
      instance.group = pid  // a session leader leads its own process group
      instance.state = .running
      instance.startedAt = Clock.now()
      byPid[pid] = instance
      announce("started with pid \(pid)", for: instance)
    } catch {
      announce("failed to start: \(error)", for: instance)
      instance.pid = 0
      instance.group = 0
      instance.startedAt = Clock.now()
      instance.status = .exited(127)
      instance.state = .exited
      processExited(instance, status: .exited(127))
    }
  }

  private func spawnProcess(for instance: Instance) throws(SystemError) -> Int32 {
    var request = SpawnRequest(
      path: "/bin/sh", arguments: ["/bin/sh", "-c", instance.command],
      environment: project.environment(for: instance.name, port: instance.port), output: -1)
    // The stream is watched before the child exists, so a child never runs unwatched.
    if instance.usesTerminal {
      let terminal = try PseudoTerminal()
      request.terminalPath = terminal.replicaPath
      let stream = try attachStream(terminal.primary, to: instance)
      let pid = try spawnOrDetach(request, stream)
      terminal.releaseReplica()
      return pid
    }
    let pipe = try Pipe()
    pipe.read.growPipeBuffer()
    request.output = pipe.write.raw
    let stream = try attachStream(pipe.read, to: instance)
    let pid = try spawnOrDetach(request, stream)
    pipe.write.close()
    return pid
  }

  private func spawnOrDetach(_ request: SpawnRequest, _ stream: PipeStream) throws(SystemError) -> Int32 {
    do {
      return try spawn(request)
    } catch {
      if stream.registered { epoll.remove(stream.fd.raw) }
      streams[stream.token] = nil
      if stream.instance.stream === stream { stream.instance.stream = nil }
      throw error
    }
  }

  private func attachStream(_ fd: FileDescriptor, to instance: Instance) throws(SystemError) -> PipeStream {
    let token = nextToken
    nextToken += 1
    let stream = PipeStream(fd: fd, token: token, instance: instance)
    streams[token] = stream
    if !outputPaused {
      do {
        try epoll.add(fd.raw, events: Epoll.input, token: token)
      } catch {
        streams[token] = nil
        throw error
      }
      stream.registered = true
    }
    instance.stream = stream
    return stream
  }

  // MARK: - Exits

  func reapChildren() {
    let noChildrenLeft = reapExitedChildren { pid, status in
      guard status.isTermination, let instance = byPid.removeValue(forKey: pid) else {
        return  // an orphan reparented to forge, or a stop/continue report
      }
      instance.status = status
      instance.state = .exited
      if let stream = instance.stream { drain(stream) }
      announce(status.summary, for: instance)
      processExited(instance, status: status)
    }
    childrenGone = noChildrenLeft
    pruneLingering()
    settleStoppedInstances()
  }

  /// Decides what follows the exit of an instance's process.
  func processExited(_ instance: Instance, status: WaitStatus) {
    if instance.afterExit == .policy && phase == .running && instance.isAlive {
      // Its background children live on in its group: ask them to stop too, and track the
      // group apart from the instance, which may be restarted in a new group meanwhile.
      let signal = options.stopSignals.signal(for: instance.type)
      signalProcessGroup(instance.group, signal)
      signalProcessGroup(instance.group, SIGCONT)
      lingering.append((instance.group, instance.name, Clock.now() + timeoutNanoseconds))
      instance.group = 0
    }
    guard phase == .running else { return }
    switch instance.afterExit {
    case .retire, .respawn:
      return  // settled once its group is gone
    case .policy:
      applyExitPolicy(instance, status: status)
    }
  }

  private func applyExitPolicy(_ instance: Instance, status: WaitStatus) {
    let policy = options.restart
    guard policy.restarts(instance.type, after: status) else {
      if policy.mode(for: instance.type) == .onFailure && status.isSuccess {
        // Done and not to be restarted; the formation ends when nothing is left.
        if !instances.contains(where: { $0.state != .exited }) { endFormation(status: 0) }
        return
      }
      endFormation(status: status.shellStatus)
      return
    }
    // The give-up window counts each instance's exits: one crash-looping instance fails its
    // type, while a type of many instances that each fail once (a burst of EMFILE) does not.
    let now = Clock.now()
    instance.failureTimes.append(now)
    instance.failureTimes.removeAll { now &- $0 > UInt64(policy.windowSeconds * 1_000_000_000) }
    if policy.givesUp(failures: instance.failureTimes, now: now) {
      announce(
        "\(instance.type) failed: \(instance.name) exited \(instance.failureTimes.count) times within "
          + "\(formatSeconds(policy.windowSeconds)) s; giving up")
      endFormation(status: status.isSuccess ? 1 : status.shellStatus)
      return
    }
    let uptime = Double(now &- instance.startedAt) / 1_000_000_000
    instance.backoffSeconds = RestartPolicy.nextBackoff(current: instance.backoffSeconds, uptimeSeconds: uptime)
    instance.state = .starting
    instance.nextStartAt = now + Clock.nanoseconds(seconds: instance.backoffSeconds)
    announce("restarting in \(formatSeconds(instance.backoffSeconds)) s", for: instance)
  }

  /// Ends the formation because a process exited; its status becomes forge's.
  func endFormation(status: Int32) {
    if exitStatus == nil { exitStatus = status }
    beginShutdown()
  }

  /// Forgets groups that are gone (their numbers may be reused by unrelated groups).
  func pruneLingering() {
    lingering.removeAll { !processGroupExists($0.pgid) }
  }

  /// Instances stopped on purpose (scaled down, restarted) whose groups are now gone.
  func settleStoppedInstances() {
    for instance in instances where instance.state == .exited && instance.afterExit != .policy {
      guard !instance.isAlive else { continue }
      instance.stopDeadline = nil
      switch instance.afterExit {
      case .retire:
        instances.removeAll { $0 === instance }
      case .respawn:
        if phase == .running { start(instance) }
      case .policy:
        break
      }
    }
    if !restartQueue.isEmpty { advanceRestartQueue() }
  }

  /// Sends an instance its stop signal (then SIGCONT); SIGKILL follows after the timeout.
  func stop(_ instance: Instance, then after: Instance.AfterExit) {
    instance.afterExit = after
    instance.nextStartAt = nil
    guard instance.isAlive else {
      instance.state = .exited
      settleStoppedInstances()
      return
    }
    if instance.stopDeadline != nil { return }  // already stopping: its SIGKILL stays due
    let signal = options.stopSignals.signal(for: instance.type)
    if instance.status == nil { instance.state = .stopping }
    instance.stopDeadline = Clock.now() + timeoutNanoseconds
    signalProcessGroup(instance.group, signal)
    signalProcessGroup(instance.group, SIGCONT)
  }

  // MARK: - Shutdown

  var timeoutNanoseconds: UInt64 { Clock.nanoseconds(seconds: project.settings.timeoutSeconds) }

  func beginShutdown() {
    guard phase == .running else { return }
    phase = .stopping(deadline: Clock.now() + timeoutNanoseconds)
    announce("sending \(stopSignalNames()) to all processes")
    for instance in instances {
      instance.nextStartAt = nil
      if instance.state == .starting { instance.state = .exited }
      guard instance.isAlive else { continue }
      if instance.status == nil { instance.state = .stopping }
      signalProcessGroup(instance.group, options.stopSignals.signal(for: instance.type))
      signalProcessGroup(instance.group, SIGCONT)
    }
    for group in lingering where processGroupExists(group.pgid) {
      signalProcessGroup(group.pgid, SIGTERM)
      signalProcessGroup(group.pgid, SIGCONT)
    }
  }

  /// "SIGTERM", or each type's signal where they differ ("SIGINT to web, SIGTERM to worker").
  private func stopSignalNames() -> String {
    let types = project.procfile.names
    let signals = types.map { options.stopSignals.signal(for: $0) }
    guard let first = signals.first, signals.contains(where: { $0 != first }) else {
      return Signal.name(signals.first ?? options.stopSignals.defaultSignal)
    }
    return "stop signals (" + zip(types, signals).map { "\(Signal.name($1)) to \($0)" }.joined(separator: ", ") + ")"
  }

  /// The grace period is over (or a second stop was asked for): SIGKILL every group left.
  func killEverything() {
    killSent = true
    for instance in instances where instance.isAlive {
      instance.killed = true
      forcedKill = true
      announce("sending SIGKILL to \(instance.name) (pid \(instance.pid))")
      signalProcessGroup(instance.group, SIGKILL)
    }
    for i in lingering.indices where lingering[i].deadline != .max && processGroupExists(lingering[i].pgid) {
      forcedKill = true
      lingering[i].deadline = .max  // killed: its own timer must not do it again
      announce("sending SIGKILL to what is left of \(lingering[i].name) (process group \(lingering[i].pgid))")
      signalProcessGroup(lingering[i].pgid, SIGKILL)
    }
  }

  /// Moves shutdown on once everything it waits for is gone.
  func advancePhase() {
    switch phase {
    case .running, .finished:
      return
    case .stopping:
      pruneLingering()
      guard !instances.contains(where: { $0.isAlive }), lingering.isEmpty else { return }
      if exitStatus == nil { exitStatus = forcedKill ? 128 + SIGKILL : 0 }
      if options.isPID1 && !childrenGone {
        // Escapees that left their group with setsid: only PID 1 may signal everyone.
        sweep(signal: SIGTERM)
        phase = .sweeping(deadline: Clock.now() + Clock.nanoseconds(seconds: min(project.settings.timeoutSeconds, 2)))
      } else {
        startDraining()
      }
    case .sweeping:
      if childrenGone { startDraining() }
    case .draining:
      drainRemainingOutput()
    }
  }

  /// PID 1 only: signal every process in the namespace but forge itself (kill(2) with -1).
  func sweep(signal: Int32) {
    guard options.isPID1 else { return }  // kill(-1) is for PID 1 only
    _ = kill(-1, signal)
    if signal != SIGKILL { _ = kill(-1, SIGCONT) }
  }
}

func formatSeconds(_ value: Double) -> String {
  let tenths = Int((value * 10).rounded())
  return tenths % 10 == 0 ? String(tenths / 10) : "\(tenths / 10).\(tenths % 10)"
}
