/// The driver's side of readiness: running probes, matching `log:` lines, and reading
/// sd_notify messages, each turned into a `probeResult` or `statusText` input.
extension Supervisor {
  /// `.forge.notify` in the root, unless that path is too long for a socket address.
  static func notifyPath(root: String) -> String {
    let path = Path.join(root, ".forge.notify")
    return path.utf8.count < 108 ? path : "/tmp/forge-\(Files.processID()).notify"
  }

  func runProbe(_ id: FormationMachine.InstanceID, pid: Int32, purpose: FormationMachine.ProbePurpose) {
    let type = machine.rules.types[id.typeIndex]
    guard let probe = purpose == .readiness ? type.readiness : type.health else { return }
    let name = "\(type.name).\(id.number)"
    let port = PortPlan.port(base: project.basePort, typeIndex: type.position, instance: id.number)
    if let result = probes.start(
      probe, for: id, pid: pid, purpose: purpose, port: port,
      environment: project.environment(for: name, port: port), now: Clock.now())
    {
      inputs.append(result)
    }
  }

  /// A `log:` line was seen in an instance's output.
  func readyLine(in stream: PipeStream) {
    feed(.probeResult(stream.instance, pid: stream.group, purpose: .readiness, ok: true, detail: ""))
  }

  /// Messages on `NOTIFY_SOCKET`, accepted only from a process of an instance's process group
  /// or session (its pid comes with the message).
  func readNotifications() {
    guard let notify else { return }
    while let message = notify.receive() {
      guard let (group, session) = processGroupAndSession(message.pid) else { continue }
      guard let owner = machine.groups[group]?.owner ?? machine.groups[session]?.owner,
        case .running(let leader)? = machine.instances[owner]?.state, leader == group || leader == session
      else { continue }
      for (key, value) in message.fields {
        switch key {
        case "READY" where value == "1":
          feed(.probeResult(owner, pid: leader, purpose: .readiness, ok: true, detail: ""))
        case "STATUS":
          feed(.statusText(owner, pid: leader, text: value))
        default:
          break
        }
      }
    }
  }
}

/// `--watch`: a changed file restarts its type.
extension Supervisor {
  func startWatching() {
    guard !options.watch.isEmpty else { return }
    do {
      let watching = try FileWatch(root: project.settings.root, settings: options.watch, types: typeNames)
      try loop.add(watching.inotify.fd.raw, events: Epoll.input, token: Self.watchToken)
      watch = watching
      for notice in watching.takeNotices() { announce(notice) }
    } catch {
      announce("not watching files: \(error)")
    }
  }

  /// After the debounce: each type with a change is restarted once; a type being restarted
  /// already gets one more restart once that one ends.
  func restartWatchedTypes(now: Deadline) {
    guard let watch, machine.phase == .running else { return }
    let busy = { (type: String) -> Bool in
      guard let index = self.typeNames.firstIndex(of: type) else { return false }
      return self.machine.rollingCurrent?.typeIndex == index
        || self.machine.rollingQueue.contains { $0.typeIndex == index }
    }
    for (type, path) in watch.take(now: now, busy: busy) {
      guard let index = typeNames.firstIndex(of: type) else { continue }
      let ids = (0..<machine.activeCounts[index]).map { FormationMachine.InstanceID(typeIndex: index, number: $0 + 1) }
      for id in ids { pump.say("\(path) changed, restarting", from: source(for: id)) }
      feed(.restart(ids))
    }
  }
}
