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
        // Everything that is accepted: types, forge, instances running or only in the rings.
        let instanceNames = Set(machine.orderedInstances.map { name($0.id) }).union(names)
          .subtracting([LogSource.forgeName]).sorted()
        let list = (typeNames + [LogSource.forgeName] + instanceNames).joined(separator: ", ")
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
    _ client: ControlConnection, targets: [String], lines: Int, follow: Bool, json: Bool, timestamps: Bool,
    pipe: Bool
  ) throws(ControlError) -> String? {
    let accepts = try logFilter(targets)
    let rendering = LogRendering(json: json, timestamps: timestamps, width: nameWidth)
    let out = OutputBuffer(capacity: 64 * 1024)
    pump.history.last(lines, matching: accepts) { name, record, line in
      rendering.render(name: name, millis: record.millis, line: line, to: out)
    }
    guard let control else { return nil }
    followers.add(
      control.detach(client), reply: Array(ControlReply.success([]).utf8), history: Array(out.bytes), accepts: accepts,
      rendering: rendering, kind: .lines, follow: follow, pipe: pipe)
    return nil
  }

  func streamEvents(_ client: ControlConnection, json: Bool) -> String? {
    guard let control else { return nil }
    followers.add(
      control.detach(client), reply: Array(ControlReply.success([]).utf8), history: [], accepts: { _ in true },
      rendering: LogRendering(json: json, timestamps: false, width: 0), kind: .events(json: json), follow: true)
    return nil
  }

  /// A lifecycle event of the machine, to `forge events` followers.
  func publish(_ event: FormationMachine.Event) {
    guard followers.hasEventFollowers else { return }  // nobody listens: nothing to render
    publish(
      event.kind, instance: event.instance, release: event.release,
      details: event.details.map { detail in
        (detail.key, detail.isNumber ? .number(Double(detail.value) ?? 0) : .string(detail.value), detail.value)
      })
  }

  /// Events the driver knows of first (scaling, a planned reload). A detail has a JSON value and
  /// a text one, which differ for objects (`formation`: `{"web":3}` and `web=3`).
  func publish(
    _ kind: String, instance id: InstanceID? = nil, release: String? = nil,
    details: [(key: String, json: JSONValue, text: String)]
  ) {
    guard followers.hasEventFollowers else { return }
    let wall = Clock.wall()
    let time = WallTime.rfc3339(wall.seconds, wall.milliseconds)
    let instance = id.map(name)
    let release = release ?? project.releaseID
    var fields: [(String, JSONValue)] = [("time", .string(time)), ("event", .string(kind))]
    fields.append(("instance", instance.map(JSONValue.string) ?? .null))
    fields.append(("release", .string(release)))
    // TIME EVENT [INSTANCE] key=value … release=R, values quoted as logfmt does.
    var text = "\(time) \(kind)"
    if let instance { text += " \(instance)" }
    for detail in details {
      fields.append((detail.key, detail.json))
      text += " " + Logfmt.pair(detail.key, detail.text)
    }
    text += " " + Logfmt.pair("release", release) + "\n"
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
}
