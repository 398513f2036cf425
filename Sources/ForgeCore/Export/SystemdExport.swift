/// `forge export systemd`: `APP.target` wants every instance of the formation; each type with
/// a positive count gets a template `APP-TYPE@.service` (the instance number is `%i`) and each
/// instance a drop-in setting its PORT, since ports differ per instance. The env files'
/// variables go to `APP.env`, read by every unit.
///
/// `--after` makes a type's units `After=` and `Wants=` every unit of what it waits for. A unit
/// counts as started once ready: `notify` is `Type=notify`; a polled probe is an
/// `ExecStartPost=` loop (a shell test, see `ExportProbes`), both within `--ready-timeout`. A
/// task (a type another waits for with `:done`) is `Type=oneshot`, started once it has exited.
///
/// Secrets read from files (the secrets directory, `X_FILE` references) are not copied into
/// `APP.env`: each unit loads every one with `LoadCredential=KEY:PATH`, so systemd hands the
/// file to the service (readable by its user only) and the value stays where it was. The
/// command then starts through the forge that exported it, `forge run --secrets %d`, which
/// reads the credentials directory into the variables the process expects and replaces itself
/// with `/bin/sh -c COMMAND` (same pid, so `Type=notify`, the stop signal and the exit status
/// are the command's). `env` puts back PORT, PS and DYNO, which `forge run` sets for a one-off.
enum SystemdExport {
  static func files(_ plan: ExportPlan) -> [ExportFile] {
    let running = plan.types.filter { $0.count > 0 }
    let loaded = Set(plan.credentials.map(\.key))
    var files = [
      ExportFile("\(plan.app).target", target(plan, running)),
      ExportFile("\(plan.app).env", environmentFile(plan.environment.filter { !loaded.contains($0.key) }), mode: 0o600),
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
    ]
    lines += plan.credentials.map { "LoadCredential=\($0.key):\(specifiers($0.path))" }
    lines.append("ExecStart=" + execStart(plan, type))
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
      // As for containers: `-t` plus the margin, so the process's own stop is never cut short.
      "TimeoutStopSec=\(ExportText.seconds(plan.platformStopSeconds))",
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

  /// The command line: `/bin/sh -c COMMAND`, through `forge run` when the unit has credentials.
  static func execStart(_ plan: ExportPlan, _ type: ExportPlan.ProcessEntry) -> String {
    let shell = "/bin/sh -c \(quoted(type.command))"
    if plan.credentials.isEmpty { return shell }
    // `--fresh`: never a running forge's release; `--env=`: no env file (the unit's environment
    // already is APP.env, which the service's user may not read; an env file of the root must
    // not add to it); `%d`: the credentials directory ($CREDENTIALS_DIRECTORY). `env` then sets
    // what `forge run` gives a one-off (`PS=run.1`, a PORT of its own) back to the instance's.
    let instance = "\(type.name).%i"
    return
      "\(word(plan.forgeExecutable)) run --fresh --env= --secrets %d "
      + "/usr/bin/env PORT=${PORT} PS=\(instance) DYNO=\(instance) \(shell)"
  }

  /// An ExecStart path: as it is when absolute and every character is plain, else `quoted`.
  static func word(_ text: String) -> String {
    let plain =
      text.hasPrefix("/")
      && text.utf8.allSatisfy { byte in
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
          || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
          || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || "/._+-".utf8.contains(byte)
      }
    return plain ? text : quoted(text)
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
    let escaped = command.escapingScalars { scalar in
      switch scalar {
      case "%": "%%"
      case "$": "$$"
      case "\\": "\\\\"
      case "\"": "\\\""
      case "\t": "\\t"
      case "\n": "\\n"
      case "\r": "\\r"
      default: scalar.value < 0x20 || scalar.value == 0x7F ? "\\x" + hex(UInt8(scalar.value)) : nil
      }
    }
    return "\"" + escaped + "\""
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
