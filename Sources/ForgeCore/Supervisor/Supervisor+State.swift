/// Crash safety: the state file that lets the next forge find what this one left running,
/// and stopping what a forge that died left behind.
extension Supervisor {
  func writeState() {
    stateChanged = false
    guard let statePath else { return }
    var entries: [StateFile.Entry] = []
    var seen: Set<Int32> = []
    for instance in machine.orderedInstances {
      let pid: Int32
      switch instance.state {
      case .running(let leader), .stopping(let leader, _): pid = leader
      default: continue
      }
      seen.insert(pid)
      if startTimes[pid] == nil { startTimes[pid] = Leftovers.startTime(of: pid) }
      entries.append(
        StateFile.Entry(
          name: name(instance.id), pid: pid, group: pid, start: startTimes[pid] ?? 0,
          port: PortPlan.port(
            base: project.basePort, typeIndex: position(instance.id.typeIndex), instance: instance.id.number),
          stopSignal: machine.rules.types[instance.id.typeIndex].teardown.stopSignal))
    }
    startTimes = startTimes.filter { seen.contains($0.key) }
    let own = Files.processID()
    Leftovers.write(
      StateFile(forgePID: own, forgeStart: Leftovers.startTime(of: own) ?? 0, entries: entries), to: statePath)
  }

  /// What a forge that died left running: named, stopped with its stop signal and the grace
  /// period (SIGKILL after), before the new formation starts.
  func stopLeftovers() {
    guard let (pid, found) = options.leftovers, !found.isEmpty else { return }
    announce(
      "leftovers from a forge that died (pid \(pid)): " + found.map(\.label).joined(separator: ", ") + "; stopping them"
    )
    pump.flush(now: Clock.now())
    let survivors = Leftovers.stop(found, grace: project.settings.timeoutSeconds)
    if !survivors.isEmpty {
      announce("still there after SIGKILL: " + survivors.map(\.label).joined(separator: ", "))
    }
    options.leftovers = nil
  }

  /// Before starting: an instance's PORT that something already listens on is named once
  /// (it still starts: an app may share a port with SO_REUSEPORT).
  func warnAboutPortsInUse() {
    let planned = project.procfile.names.indices.filter { $0 < project.counts.count }.flatMap { index in
      stride(from: 1, through: project.counts[index], by: 1).map {
        PortPlan.port(base: project.basePort, typeIndex: index, instance: $0)
      }
    }
    guard planned.contains(where: portMayBeInUse) else { return }
    let listening = listeningSockets()
    guard !listening.isEmpty else { return }
    for (index, name) in project.procfile.names.enumerated() where index < project.counts.count {
      for number in stride(from: 1, through: project.counts[index], by: 1) {
        let port = PortPlan.port(base: project.basePort, typeIndex: index, instance: number)
        guard let inode = listening[port] else { continue }
        let holder = socketHolder(inode: inode).map { "pid \($0.pid) (\($0.command))" } ?? "another process"
        announce("port \(port) for \(name).\(number) is in use by \(holder); \(name).\(number) will likely fail")
      }
    }
  }
}
