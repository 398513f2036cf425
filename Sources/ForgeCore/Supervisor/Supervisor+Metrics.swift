/// `--metrics`: Prometheus text exposition format 0.0.4 at `/metrics`, `/healthz` and
/// `/readyz`, served by `HTTPServer` from the event loop.
extension Supervisor {
  func startMetrics() -> Bool {
    guard let address = options.metrics else { return true }
    do {
      metrics = try HTTPServer(
        address: address, loop: loop, listenerToken: Self.metricsToken, firstToken: Self.firstMetricsToken)
      announce("metrics at http://\(address.description)/metrics")
      return true
    } catch {
      writeRaw(2, "forge: cannot serve metrics at \(address.description): \(error)\n")
      return false
    }
  }

  func answerHTTP(method: String, path: String) -> HTTPServer.Response {
    guard ["/metrics", "/healthz", "/readyz"].contains(path) else { return .text(404, "not found\n") }
    guard method == "GET" || method == "HEAD" else { return .text(405, "method not allowed\n") }
    switch path {
    case "/healthz":
      return .text(200, "ok\n")
    case "/readyz":
      let waiting = machine.orderedInstances.filter { !machine.isReadyOrDone($0) }.map { name($0.id) }
      return waiting.isEmpty
        ? .text(200, "ready\n") : .text(503, "not ready: " + waiting.joined(separator: ", ") + "\n")
    default:
      sampleResources(now: Clock.now())
      return .text(200, metricsText(), type: "text/plain; version=0.0.4; charset=utf-8")
    }
  }

  func metricsText() -> String {
    var text = ""
    func family(_ name: String, _ type: String, _ help: String) {
      text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }
    func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
      let rendered = labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",")
      text += labels.isEmpty ? "\(name) \(Self.number(value))\n" : "\(name){\(rendered)} \(Self.number(value))\n"
    }
    let instances = machine.orderedInstances
    let now = Clock.now()
    let wall = Clock.wall()
    let wallNow = Double(wall.seconds) + Double(wall.milliseconds) / 1000
    func labels(_ instance: FormationMachine.Instance) -> [(String, String)] {
      [("type", typeName(instance.id.typeIndex)), ("instance", name(instance.id))]
    }
    func group(_ instance: FormationMachine.Instance) -> Int32? {
      switch instance.state {
      case .running(let pid), .stopping(let pid, _): return pid
      default: return nil
      }
    }
    family("forge_process_up", "gauge", "Whether the instance's process is running.")
    for instance in instances { sample("forge_process_up", labels(instance), group(instance) == nil ? 0 : 1) }
    family("forge_process_ready", "gauge", "Whether the instance is ready (or done: exited 0, not restarted).")
    for instance in instances {
      sample("forge_process_ready", labels(instance), machine.isReadyOrDone(instance) ? 1 : 0)
    }
    family("forge_process_restarts_total", "counter", "Restarts of the instance.")
    for instance in instances { sample("forge_process_restarts_total", labels(instance), Double(instance.restarts)) }
    family(
      "forge_process_cpu_seconds_total", "counter",
      "CPU time of the instance's process groups (its processes since it was first started).")
    for instance in instances {
      let seconds = resources.cpuSeconds(ofInstance: name(instance.id), group: group(instance))
      sample("forge_process_cpu_seconds_total", labels(instance), seconds)
    }
    family("forge_process_resident_memory_bytes", "gauge", "Resident memory of the instance's process group.")
    for instance in instances {
      let usage = group(instance).flatMap(resources.usage(of:))
      sample("forge_process_resident_memory_bytes", labels(instance), Double(usage?.residentBytes ?? 0))
    }
    family("forge_process_start_time_seconds", "gauge", "When the instance's process started (Unix time).")
    for instance in instances where group(instance) != nil {
      sample(
        "forge_process_start_time_seconds", labels(instance), wallNow - Double(now &- instance.startedAt) / 1e9)
    }
    family(
      "forge_log_lines_total", "counter", "Lines the type's processes wrote (a line over 64 KiB counts once per piece)."
    )
    for (type, counter) in pump.counters.sorted(by: { $0.key < $1.key }) {
      sample("forge_log_lines_total", [("type", type)], Double(counter.lines))
    }
    family("forge_log_bytes_total", "counter", "Bytes the type's processes wrote (without newlines).")
    for (type, counter) in pump.counters.sorted(by: { $0.key < $1.key }) {
      sample("forge_log_bytes_total", [("type", type)], Double(counter.bytes))
    }
    family("forge_log_backpressure_seconds_total", "counter", "Time the processes' output waited for stdout.")
    sample("forge_log_backpressure_seconds_total", [], pump.backpressureSeconds)
    family("forge_formation_desired", "gauge", "Instances the formation wants of each type.")
    for (index, name) in typeNames.enumerated() where !machine.rules.types[index].removed {
      sample("forge_formation_desired", [("type", name)], Double(machine.activeCounts[index]))
    }
    family("forge_build_info", "gauge", "forge's version and the running release.")
    sample("forge_build_info", [("version", Forge.version), ("release", project.releaseID)], 1)
    let own = resources.latest?.own ?? ProcessStats.own()
    family("forge_cpu_seconds_total", "counter", "forge's own CPU time.")
    sample("forge_cpu_seconds_total", [], own.cpuSeconds)
    family("forge_resident_memory_bytes", "gauge", "forge's own resident memory.")
    sample("forge_resident_memory_bytes", [], Double(own.residentBytes))
    return text
  }

  static func escapeLabel(_ value: String) -> String {
    value.escapingScalars { scalar in
      switch scalar {
      case "\\": "\\\\"
      case "\"": "\\\""
      case "\n": "\\n"
      default: nil
      }
    }
  }

  static func number(_ value: Double) -> String {
    if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
    return String(value)
  }
}
