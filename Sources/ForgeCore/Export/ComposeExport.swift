/// `forge export compose`: `compose.yaml` with one service per type, each running
/// `forge start TYPE` in the image, and `APP.env` beside it with the env files' variables.
/// A `release` type runs `forge run release` and only when asked (`--profile release`).
enum ComposeExport {
  static func files(_ plan: ExportPlan) -> [ExportFile] {
    [
      ExportFile("compose.yaml", compose(plan)),
      ExportFile("\(plan.app).env", environmentFile(plan.environment), mode: 0o600),
    ]
  }

  static func compose(_ plan: ExportPlan) -> String {
    var text = "# \(ExportText.header)\nname: \(plan.app)\nservices:\n"
    // The release service runs once, when asked: a count of 0 leaves it out, as for Kubernetes.
    for type in plan.types where !(type.isRelease && type.count == 0) {
      text += "  \(ExportText.yamlKey(type.name)):\n"
      text += "    image: \(scalar(plan.image))\n"
      text += "    command: \(ExportText.yamlList(plan.containerCommand(type), quote: scalar))\n"
      if type.isRelease { text += "    profiles: [\"release\"]\n" }
      text += "    env_file: [\(scalar("\(plan.app).env"))]\n"
      if !type.isRelease {
        // forge in the container stops its processes within the same grace period.
        text += "    environment:\n      FORGE_TIMEOUT: \(scalar(ExportText.seconds(plan.timeoutSeconds)))\n"
      }
      if let user = plan.user { text += "    user: \(scalar(user))\n" }
      text += "    restart: \(scalar(type.isRelease ? "no" : ExportText.restart(type.restart)))\n"
      text += "    stop_grace_period: \(ExportText.seconds(plan.timeoutSeconds))s\n"
      if !type.isRelease { text += "    deploy:\n      replicas: \(type.count)\n" }
      if type.exposed && !type.isRelease {
        text += "    expose: [\(scalar(String(plan.port(type, instance: 1))))]\n"
      }
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
      var escaped = ""
      for scalar in value.unicodeScalars {
        switch scalar {
        case "\\": escaped += "\\\\"
        case "\"": escaped += "\\\""
        case "$": escaped += "\\$"
        case "\n": escaped += "\\n"
        case "\r": escaped += "\\r"
        default: escaped.unicodeScalars.append(scalar)
        }
      }
      text += "\(key)=\"\(escaped)\"\n"
    }
    return text
  }
}
