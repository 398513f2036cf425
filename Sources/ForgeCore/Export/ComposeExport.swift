/// `forge export compose`: `compose.yaml` with one service per type, each running
/// `forge start TYPE` in the image, and `APP.env` beside it with the env files' variables.
/// A `release` type runs `forge run release` and only when asked (`--profile release`), unless
/// a type waits for it. A task (a type another waits for with `:done`) runs once.
///
/// Secret keys (from the secrets directory, `X_FILE` references, or named by `--redact`) go
/// to a second env file, `APP.secrets.env`, read after `APP.env`; both are mode 0600. An env
/// file rather than Compose's top-level `secrets:`: those are mounted as files under
/// `/run/secrets`, one file per secret that must exist beside compose.yaml, so the values
/// would still sit on disk next to it, and forge in the container would need `--secrets` to
/// turn them back into the variables the processes expect. The env file gives every service
/// the same variables as `forge start` does, and a separate file can be kept out of version
/// control and handed out on its own. It is written only when there are secrets.
///
/// The first exposed type (web by default) publishes its port to the host on 127.0.0.1, as
/// `forge start` serves it: `127.0.0.1:5000:5000`, a range for several replicas (each gets the
/// port its instance has under forge). Other services reach it by its service name.
/// `--metrics` adds its port to `expose` (not published: see `ExportMetrics`) and the
/// Prometheus scrape labels.
///
/// Readiness and health become the service's one `healthcheck`, a shell test (see
/// `ExportProbes`: nc or bash for a port, wget or curl for HTTP, so the image needs one of
/// each pair): the polled readiness probe when there is one, since it is what `depends_on`
/// waits for, else the health check. It is asked every second during the readiness timeout
/// (`start_period`, `start_interval`, Docker Engine 25 or later), then every health interval.
/// `--after` becomes `depends_on`: `service_healthy` for `:ready` on a service with a
/// healthcheck, `service_started` on one without, `service_completed_successfully` for `:done`.
enum ComposeExport {
  static func files(_ plan: ExportPlan) -> [ExportFile] {
    var files = [
      ExportFile("compose.yaml", compose(plan)),
      ExportFile("\(plan.app).env", environmentFile(plan.configuration), mode: 0o600),
    ]
    if !plan.secrets.isEmpty {
      files.append(ExportFile(secretsFile(plan), environmentFile(plan.secrets), mode: 0o600))
    }
    return files
  }

  static func secretsFile(_ plan: ExportPlan) -> String { "\(plan.app).secrets.env" }

  /// The type whose port is published to the host: the first exposed one that runs.
  static func published(_ plan: ExportPlan) -> ExportPlan.ProcessEntry? {
    plan.types.first { $0.exposed && !$0.isRelease && !$0.isTask && $0.count > 0 }
  }

  /// `127.0.0.1:HOST:CONTAINER`; with replicas, the host ports of instances 1…N under forge.
  static func publishedPort(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry) -> String {
    let first = plan.port(type, instance: 1)
    let host = type.count > 1 ? "\(first)-\(plan.port(type, instance: type.count))" : String(first)
    return "127.0.0.1:\(host):\(first)"
  }

  static func compose(_ plan: ExportPlan) -> String {
    var text = "# \(ExportText.header)\nname: \(plan.app)\nservices:\n"
    // The release service runs once, when asked: a count of 0 leaves it out, as for Kubernetes.
    let services = plan.types.filter { !($0.isRelease && $0.count == 0) }
    let awaited = Set(services.flatMap { $0.after.map(\.on) })
    let envFiles = [scalar("\(plan.app).env")] + (plan.secrets.isEmpty ? [] : [scalar(secretsFile(plan))])
    let published = published(plan)?.name
    for type in services {
      text += "  \(ExportText.yamlKey(type.name)):\n"
      text += "    image: \(scalar(plan.image))\n"
      text += "    command: \(ExportText.yamlList(plan.containerCommand(type), quote: scalar))\n"
      if type.isRelease && !awaited.contains(type.name) { text += "    profiles: [\"release\"]\n" }
      text += "    env_file: [\(envFiles.joined(separator: ", "))]\n"
      if !type.isRelease {
        // forge in the container stops its processes within the same grace period.
        text += "    environment:\n      FORGE_TIMEOUT: \(scalar(ExportText.seconds(plan.timeoutSeconds)))\n"
        // An exec probe gets the instance's PORT, as under forge (forge sets it again for the process).
        if type.hasExecProbe { text += "      PORT: \(scalar(String(plan.port(type, instance: 1))))\n" }
      }
      if let user = plan.user { text += "    user: \(scalar(user))\n" }
      let runsOnce = type.isRelease || type.isTask
      text += "    restart: \(scalar(runsOnce ? "no" : ExportText.restart(type.restart)))\n"
      // The margin lets forge in the container finish its own stop before Docker's SIGKILL.
      text += "    stop_grace_period: \(ExportText.seconds(plan.platformStopSeconds))s\n"
      if !type.isRelease { text += "    deploy:\n      replicas: \(type.count)\n" }
      let metricsPort = ExportMetrics.port(plan, type)
      let exposed =
        (type.exposed && !type.isRelease ? [plan.port(type, instance: 1)] : []) + [metricsPort].compactMap { $0 }
      if !exposed.isEmpty { text += "    expose: \(ExportText.yamlList(exposed.map(String.init), quote: scalar))\n" }
      if let metricsPort { text += ExportMetrics.mapping("labels", port: metricsPort, indent: "    ") }
      if type.name == published { text += "    ports: [\(scalar(publishedPort(plan, type)))]\n" }
      if !type.isRelease { text += healthcheck(plan, type) }
      text += dependsOn(type, on: services)
    }
    return text
  }

  /// The probe a service's healthcheck asks: the polled readiness probe, else the health check.
  static func checked(_ type: ExportPlan.ProcessEntry) -> Probe? {
    type.isRelease ? nil : type.polledReadiness ?? type.health
  }

  static func healthcheck(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry) -> String {
    var text = ""
    if let readiness = type.readiness, !readiness.isPolled {
      text += "    # Not exported: readiness \(ExportText.yaml(readiness.spec)) has no Compose equivalent;"
      text +=
        type.health == nil
        ? " what waits for \(type.name) starts once it runs.\n" : " the healthcheck is the health check.\n"
    }
    if let health = type.health, let readiness = type.polledReadiness, health != readiness {
      text += "    # Not exported: health check \(ExportText.yaml(health.spec)); a service has one healthcheck,"
      text += " and it is the readiness probe.\n"
    }
    guard let probe = checked(type),
      let test = ExportProbes.shellTest(probe, port: String(plan.port(type, instance: 1)))
    else { return text }
    text += "    healthcheck:\n"
    text += "      test: \(ExportText.yamlList(["CMD-SHELL", test], quote: scalar))\n"
    text += "      interval: \(ExportText.seconds(plan.healthIntervalSeconds))s\n"
    text += "      timeout: \(ExportProbes.timeoutSeconds(probe))s\n"
    text += "      retries: 3\n"
    text += "      start_period: \(ExportText.seconds(plan.readyTimeoutSeconds))s\n"
    text += "      start_interval: 1s\n"
    return text
  }

  /// `depends_on` for `--after`, in the order given; a service not in the file (a release whose
  /// count is 0) is left out.
  static func dependsOn(_ type: ExportPlan.ProcessEntry, on services: [ExportPlan.ProcessEntry]) -> String {
    var text = ""
    for dependency in type.after {
      guard let other = services.first(where: { $0.name == dependency.on }) else { continue }
      let condition: String
      switch dependency.condition {
      case .done: condition = "service_completed_successfully"
      case .ready: condition = checked(other) == nil ? "service_started" : "service_healthy"
      }
      if text.isEmpty { text = "    depends_on:\n" }
      text += "      \(ExportText.yamlKey(other.name)):\n        condition: \(condition)\n"
    }
    return text
  }

  /// A double-quoted YAML scalar with `$` doubled: Compose interpolates `$VAR` in its file.
  static func scalar(_ text: String) -> String {
    ExportText.yaml(text.split(separator: "$", omittingEmptySubsequences: false).joined(separator: "$$"))
  }

  /// Compose's env-file syntax. Single quotes keep a value literally (no escapes, no `$`
  /// interpolation, newlines allowed); a value they cannot hold (one with `'`, or ending in a
  /// backslash, which would escape the closing quote) goes in double quotes, where `\`, `"`,
  /// `$`, newline and carriage return are escaped.
  static func environmentFile(_ pairs: [(key: String, value: String)]) -> String {
    var text = "# \(ExportText.header)\n"
    for (key, value) in pairs {
      if !value.contains("'") && !value.hasSuffix("\\") {
        text += "\(key)='\(value)'\n"
        continue
      }
      let escaped = value.escapingScalars { scalar in
        switch scalar {
        case "\\": "\\\\"
        case "\"": "\\\""
        case "$": "\\$"
        case "\n": "\\n"
        case "\r": "\\r"
        default: nil
        }
      }
      text += "\(key)=\"\(escaped)\"\n"
    }
    return text
  }
}
