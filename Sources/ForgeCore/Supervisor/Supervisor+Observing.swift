/// `forge logs` and `forge events`: the history and live streams of lines and lifecycle events.
extension Supervisor {
  /// Which names a list of targets (types or instances; all when empty) selects.
  func logFilter(_ targets: [String]) throws(ControlError) -> (String) -> Bool {
    guard !targets.isEmpty else { return { _ in true } }
    var instances: Set<String> = []
    var types: Set<String> = []
    let known = Set(typeNames)
    let names = Set(pump.history.names)
    for target in targets {
      if known.contains(target) || target == LogSource.forgeName {
        types.insert(target)
      } else if names.contains(target) || machine.instances.keys.contains(where: { name($0) == target }) {
        instances.insert(target)
      } else {
        let list = (typeNames + machine.orderedInstances.map { name($0.id) }).joined(separator: ", ")
        throw ControlError("no process type or instance named \"\(target)\" (known: \(list))")
      }
    }
    return { name in
      if instances.contains(name) || types.contains(name) { return true }
      guard let dot = name.lastIndex(of: ".") else { return false }
      return types.contains(String(name[..<dot]))
    }
  }

  func streamLogs(
    _ client: ControlConnection, targets: [String], lines: Int, follow: Bool, json: Bool, timestamps: Bool
  ) throws(ControlError) -> String? {
    let accepts = try logFilter(targets)
    let rendering = LogRendering(json: json, timestamps: timestamps, width: nameWidth)
    let out = OutputBuffer(capacity: 64 * 1024)
    out.append(Array(ControlReply.success([]).utf8))
    pump.history.last(lines, matching: accepts) { name, record, line in
      rendering.render(name: name, millis: record.millis, line: line, to: out)
    }
    guard let control else { return nil }
    followers.add(
      control.detach(client), first: Array(out.bytes), accepts: accepts, rendering: rendering, kind: .lines,
      follow: follow)
    return nil
  }

  func streamEvents(_ client: ControlConnection, json: Bool) -> String? {
    guard let control else { return nil }
    followers.add(
      control.detach(client), first: Array(ControlReply.success([]).utf8), accepts: { _ in true },
      rendering: LogRendering(json: json, timestamps: false, width: 0), kind: .events(json: json), follow: true)
    return nil
  }

  /// A lifecycle event, to `forge events` followers: a JSON object per line, or text.
  func publish(_ event: FormationMachine.Event) {
    guard followers.hasEventFollowers else { return }
    let wall = Clock.wall()
    let time = WallTime.rfc3339(wall.seconds, wall.milliseconds)
    let instance = event.instance.map(name)
    var fields: [(String, JSONValue)] = [("time", .string(time)), ("event", .string(event.kind))]
    fields.append(("instance", instance.map(JSONValue.string) ?? .null))
    fields.append(("release", .string(event.release)))
    var text = "\(time) \(event.kind)"
    if let instance { text += " \(instance)" }
    for detail in event.details {
      fields.append((detail.key, detail.isNumber ? .number(Double(detail.value) ?? 0) : .string(detail.value)))
      text += " \(detail.key)=\(detail.value)"
    }
    text += " release=\(event.release)\n"
    followers.deliver(
      event: redacted(Array(text.utf8)), json: redacted(Array((JSONValue.object(fields).render() + "\n").utf8)),
      of: instance ?? LogSource.forgeName)
  }

  /// Secret values replaced, wherever forge shows text of its processes.
  func redacted(_ bytes: [UInt8]) -> [UInt8] {
    bytes.withUnsafeBytes { pump.redactor.redact($0) } ?? bytes
  }

  func redacted(_ text: String) -> String {
    String(decoding: redacted(Array(text.utf8)), as: UTF8.self)
  }

  /// Events the driver knows of first (scaling, a planned reload).
  func publish(_ kind: String, details: [(String, String, Bool)]) {
    publish(
      FormationMachine.Event(
        kind: kind, instance: nil, release: project.releaseID,
        details: details.map { FormationMachine.Event.Detail(key: $0.0, value: $0.1, isNumber: $0.2) }))
  }
}
