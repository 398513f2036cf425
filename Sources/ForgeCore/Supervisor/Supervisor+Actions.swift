import CGlibcLinux
import Glibc

/// The one place the machine's actions are carried out. What an action finds (a pid, an empty
/// group, a refused signal) goes back to the machine as an input, after the current actions.
extension Supervisor {
  func feed(_ input: FormationMachine.Input) {
    inputs.append(input)
    guard !feeding else { return }
    feeding = true
    defer { feeding = false }
    var next = 0
    while next < inputs.count {
      let actions = machine.handle(inputs[next], now: Clock.now())
      next += 1
      for action in actions { perform(action) }
    }
    inputs.removeAll(keepingCapacity: true)
  }

  private func perform(_ action: FormationMachine.Action) {
    switch action {
    case .spawn(let id):
      spawnInstance(id)
    case .signal(let group, let signals):
      for signal in signals {
        switch signalProcessGroup(group, signal) {
        case .delivered: continue
        case .empty: inputs.append(.groupEmpty(group))
        case .refused: inputs.append(.signalRefused(group))
        }
        break
      }
    case .probe(let groups):
      for group in groups where signalProcessGroup(group, 0) == .empty { inputs.append(.groupEmpty(group)) }
    case .sweep(let signal):
      sweep(signal)
    case .collectOutput(let group):
      pump.collect(group: group)
    case .announce(let id, let message):
      pump.say(message, from: id.map(source(for:)) ?? forgeSource)
    case .warn(let message):
      writeRaw(2, "forge: \(message)\n")
    case .instancesAdded:
      widenPrefixes()
    case .beginDrain:
      pump.beginDrain(now: Clock.now())
    case .exit:
      break  // the loop ends once the machine has finished
    case .runProbe(let id, let pid, let purpose):
      runProbe(id, pid: pid, purpose: purpose)
    case .event(let event):
      publish(event)
      if event.kind == "started" || event.kind == "exited" { stateChanged = true }
      if event.kind == "exited", let id = event.instance,
        let status = event.details.first(where: { $0.key == "status" }).flatMap({ Int32($0.value) })
      {
        attachments.ended(id, status: status)
      }
    }
  }

  /// Spawns `/bin/sh -c COMMAND` for one instance, its output watched before it exists.
  private func spawnInstance(_ id: FormationMachine.InstanceID) {
    guard let entry = entry(id.typeIndex) else {
      inputs.append(.spawnFailed(id, reason: "\(typeName(id.typeIndex)) is no longer in the Procfile"))
      return
    }
    let name = "\(entry.name).\(id.number)"
    let port = PortPlan.port(base: project.basePort, typeIndex: position(id.typeIndex), instance: id.number)
    var environment = project.environment(for: name, port: port)
    if let notify, options.readiness.probe(for: entry.name) == .notify {
      environment.append("NOTIFY_SOCKET=\(notify.path)")
    }
    // Through the exec shim: the process gets its stop signal if forge dies (PDEATHSIG).
    let shim = ExecShim.arguments(
      stopSignal: machine.rules.types[id.typeIndex].teardown.stopSignal, command: entry.command, limit: startLimit)
    var request = SpawnRequest(path: shim[0], arguments: shim, environment: environment, output: -1)
    var stream: PipeStream?
    do {
      let pid: Int32
      if project.settings.ttyTypes.contains(entry.name) {
        let terminal = try PseudoTerminal()
        request.terminalPath = terminal.replicaPath
        request.terminalInput = project.settings.interactiveTypes.contains(entry.name)
        stream = try pump.attach(terminal.primary, instance: id, source: source(for: id), terminal: true)
        pid = try spawn(request)
        terminal.releaseReplica()
      } else {
        let pipe = try Pipe()
        request.output = pipe.write.raw
        stream = try pump.attach(pipe.read, instance: id, source: source(for: id), terminal: false)
        pid = try spawn(request)
        pipe.write.close()
      }
      if let stream {
        pump.bind(stream, group: pid)  // a session leader leads its own group
        if case .log(let text)? = options.readiness.probe(for: entry.name) { stream.readyText = Array(text.utf8) }
      }
      inputs.append(.spawned(id, pid: pid))
    } catch {
      if let stream { pump.discard(stream) }
      inputs.append(.spawnFailed(id, reason: "\(error)"))
    }
  }

  /// Children left outside the formation's groups: each named and signalled (PID 1 signals
  /// the whole namespace). Whether any are left at all is learnt from waitpid (ECHILD).
  private func sweep(_ signal: Int32) {
    // A group given up on already had its stop sequence: its processes are not swept again.
    let children = ChildProcess.list().filter { !machine.abandonedGroups.contains($0.group) }
    if signal != 0 {
      if options.isPID1 {
        signalEveryone(signal)
        if signal != SIGKILL { signalEveryone(SIGCONT) }
      } else {
        for child in children {
          signalProcessOrGroup(child.pid, group: child.group, signal)
          if signal != SIGKILL { signalProcessOrGroup(child.pid, group: child.group, SIGCONT) }
        }
      }
    }
    inputs.append(.orphans(signal: signal, found: children.map(\.label)))
    reapChildren()
  }

  func source(for id: FormationMachine.InstanceID) -> LogSource {
    let name = "\(typeName(id.typeIndex)).\(id.number)"
    let colour = options.colour ? Palette.colour(forTypeIndex: id.typeIndex) : nil
    return LogSource(name: name, width: nameWidth, colour: colour)
  }

  /// Names are padded to the longest in the formation, forge's own included. Never narrower
  /// than before, so lines already printed and lines to come stay aligned; rendered again only
  /// when scaling made a longer name.
  private func widenPrefixes() {
    let width = max(nameWidth, machine.longestName)
    guard width > nameWidth else { return }
    nameWidth = width
    forgeSource = LogSource(name: LogSource.forgeName, width: width, colour: options.colour ? Palette.forge : nil)
    pump.updateSources(source(for:))
  }
}
