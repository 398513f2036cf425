/// `forge export systemd`: `APP.target` wants every instance of the formation; each type with
/// a positive count gets a template `APP-TYPE@.service` (the instance number is `%i`) and each
/// instance a drop-in setting its PORT, since ports differ per instance. The env files'
/// variables go to `APP.env`, read by every unit.
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
      "",
      "[Service]",
    ]
    if let user = plan.user { lines.append("User=\(specifiers(user))") }
    lines += [
      "WorkingDirectory=\(specifiers(plan.root))",
      "EnvironmentFile=\(specifiers(Path.join(plan.directory, "\(plan.app).env")))",
      "Environment=PS=\(instance)",
      "Environment=DYNO=\(instance)",
      "ExecStart=/bin/sh -c \(quoted(type.command))",
      // SIGTERM to the main process only, then SIGKILL to the whole cgroup: forge's own stop.
      "KillMode=mixed",
      "TimeoutStopSec=\(ExportText.seconds(max(plan.timeoutSeconds, 0.001)))",
      "Restart=\(ExportText.restart(type.restart))",
    ]
    // forge's first backoff; systemd's own default (100 ms) would spin on a crashing process.
    if type.restart != .never { lines.append("RestartSec=1") }
    lines += [
      "StandardOutput=journal",
      "StandardError=journal",
      "SyslogIdentifier=\(plan.app)-\(instance)",
    ]
    return lines.joined(separator: "\n") + "\n"
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
