/// `forge export systemd`: `APP.target` wants every instance of the formation; each type with
/// a positive count gets a template `APP-TYPE@.service` (the instance number is `%i`) and each
/// instance a drop-in setting its PORT, since ports differ per instance. The env files'
/// variables go to `APP.env`, read by every unit.
///
/// `--after` makes a type's units `After=` and `Wants=` every unit of what it waits for. A unit
/// counts as started once ready: `notify` is `Type=notify`; a polled probe is an
/// `ExecStartPost=` loop (a shell test, see `ExportProbes`), both within `--ready-timeout`. A
/// task (a type another waits for with `:done`) is `Type=oneshot`, started once it has exited.
enum SystemdExport {
  static func files(_ plan: ExportPlan) -> [ExportFile] {
    let running = plan.types.filter { $0.count > 0 }
    var files = [
      ExportFile("\(plan.app).target", target(plan, running)),
      ExportFile("\(plan.app).env", environmentFile(plan.environment), mode: 0o600),
    ]
    for type in running {
      files.append(ExportFile("\(plan.app)-\(type.name)@.service", template(plan, type)))
      for instance in 1...type.count {
        let text = "# \(ExportText.header)\n[Service]\nEnvironment=PORT=\(plan.port(type, instance: instance))\n"
        files.append(ExportFile("\(plan.app)-\(type.name)@\(instance).service.d/port.conf", text))
      }
    }
    return files
  }

  static func target(_ plan: ExportPlan, _ running: [ExportPlan.ProcessEntry]) -> String {
    var text = "# \(ExportText.header)\n[Unit]\nDescription=\(plan.app) (forge export)\n"
    for type in running {
      for instance in 1...type.count { text += "Wants=\(plan.app)-\(type.name)@\(instance).service\n" }
    }
    return text + "\n[Install]\nWantedBy=multi-user.target\n"
  }

  static func template(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry) -> String {
    let instance = "\(type.name).%i"
    var lines = [
      "# \(ExportText.header)",
      "[Unit]",
      "Description=\(plan.app) \(instance)",
      "PartOf=\(plan.app).target",
      "After=network.target",
    ]
    for dependency in type.after {
      guard let other = plan.type(named: dependency.on), other.count > 0 else { continue }
      let units = (1...other.count).map { "\(plan.app)-\(other.name)@\($0).service" }
      lines += units.map { "After=\($0)" } + units.map { "Wants=\($0)" }
    }
    lines += ["", "[Service]"]
    lines += startup(plan, type)
    if let user = plan.user { lines.append("User=\(specifiers(user))") }
    lines += [
      "WorkingDirectory=\(specifiers(plan.root))",
      "EnvironmentFile=\(specifiers(Path.join(plan.directory, "\(plan.app).env")))",
      "Environment=PS=\(instance)",
      "Environment=DYNO=\(instance)",
      "ExecStart=/bin/sh -c \(quoted(type.command))",
    ]
    if !type.isTask, let readiness = type.polledReadiness, let test = ExportProbes.shellTest(readiness, port: "$PORT") {
      // Started (and what waits for it let go) once the probe passes, asked every second.
      let asked: String
      if case .exec = readiness { asked = "/bin/sh -c " + ExportProbes.shellWord(test) } else { asked = test }
      lines.append("ExecStartPost=/bin/sh -c \(quoted("until \(asked); do sleep 1; done"))")
    }
    // A task may have a restart policy for its failures; done is done.
    let restart: RestartPolicy.Mode = type.isTask && type.restart == .always ? .onFailure : type.restart
    lines += [
      // SIGTERM to the main process only, then SIGKILL to the whole cgroup: forge's own stop.
      "KillMode=mixed",
      "TimeoutStopSec=\(ExportText.seconds(max(plan.timeoutSeconds, 0.001)))",
      "Restart=\(ExportText.restart(restart))",
    ]
    // forge's first backoff; systemd's own default (100 ms) would spin on a crashing process.
    if restart != .never { lines.append("RestartSec=1") }
    lines += [
      "StandardOutput=journal",
      "StandardError=journal",
      "SyslogIdentifier=\(plan.app)-\(instance)",
    ]
    if let health = type.health {
      lines.append("# Not exported: health check \(ExportText.yaml(health.spec)); systemd has no health checks.")
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// `Type=` and the start timeout: what makes the unit count as started.
  static func startup(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry) -> [String] {
    if type.isTask {
      // Started once it has exited 0, and stays active so that `After=` units see it done.
      return ["Type=oneshot", "RemainAfterExit=yes", "TimeoutStartSec=infinity"]
    }
    guard let readiness = type.readiness else { return [] }
    let timeout = "TimeoutStartSec=\(ExportText.seconds(max(plan.readyTimeoutSeconds, 0.001)))"
    switch readiness {
    case .notify:
      // The shell may stay between systemd and the process that sends READY=1.
      return ["Type=notify", "NotifyAccess=all", timeout]
    case .log:
      return ["# Not exported: readiness \(ExportText.yaml(readiness.spec)); systemd cannot watch a log."]
    case .port, .http, .exec: return [timeout]
    }
  }

  /// `%` starts a specifier in almost every unit setting.
  static func specifiers(_ text: String) -> String {
    text.split(separator: "%", omittingEmptySubsequences: false).joined(separator: "%%")
  }

  /// One ExecStart word in double quotes: `%` and `$` are systemd's (specifiers, variables),
  /// so they are doubled and reach the shell as written; backslash, quote and control
  /// characters are C-escaped, which systemd undoes.
  static func quoted(_ command: String) -> String {
    var out = "\""
    for scalar in command.unicodeScalars {
      switch scalar {
      case "%": out += "%%"
      case "$": out += "$$"
      case "\\": out += "\\\\"
      case "\"": out += "\\\""
      case "\t": out += "\\t"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      default:
        if scalar.value < 0x20 || scalar.value == 0x7F {
          out += "\\x" + hex(UInt8(scalar.value))
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }

  /// systemd's EnvironmentFile syntax: `KEY="value"`; inside double quotes a backslash
  /// escapes `"`, `\`, `` ` `` and `$`, and newlines are kept as they are.
  static func environmentFile(_ pairs: [(key: String, value: String)]) -> String {
    var text = "# \(ExportText.header)\n"
    for (key, value) in pairs {
      var escaped = ""
      for character in value {
        if character == "\"" || character == "\\" || character == "`" || character == "$" { escaped.append("\\") }
        escaped.append(character)
      }
      text += "\(key)=\"\(escaped)\"\n"
    }
    return text
  }

  private static func hex(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
  }
}
