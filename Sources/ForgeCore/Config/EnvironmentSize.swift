/// The kernel refuses to start a process whose arguments and environment exceed ARG_MAX
/// (`Argument list too long`), or with one string over 128 KiB: `forge check` and `forge
/// start` say so up front, as bad input, rather than every spawn failing.
enum EnvironmentSize {
  /// MAX_ARG_STRLEN: 32 pages.
  static let longestString = 128 * 1024

  static func check(_ project: Project, limit: Int = SystemLimits.argumentBytes) throws(ConfigError) {
    var total = 0
    for (key, value) in project.environment {
      let size = key.utf8.count + 1 + value.utf8.count + 1
      guard size <= longestString else {
        throw ConfigError(
          path: "environment", line: 0, message: "\(key) is \(size) bytes, above the kernel's 128 KiB for one variable")
      }
      total += size + 8  // the string and its pointer
    }
    // Room for PORT, PS, DYNO, FORGE_RELEASE and `/bin/sh -c COMMAND`.
    let longestCommand = project.procfile.entries.map(\.command.utf8.count).max() ?? 0
    total += 256 + longestCommand
    guard total <= limit else {
      throw ConfigError(
        path: "environment", line: 0,
        message:
          "\(project.environment.count) variables take \(total) bytes, above the system's limit of \(limit) (ARG_MAX)")
    }
  }
}
