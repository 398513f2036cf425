/// The variables forge sets for each process (`PORT`, `PS`, `DYNO`, `FORGE_RELEASE`): one
/// definition for `start`, `run` and the exports, so an env file never decides them.
enum InstanceVariables {
  static let keys: Set<String> = ["PORT", "PS", "DYNO", "FORGE_RELEASE"]

  /// `KEY=VALUE` entries: the shared environment without forge's own keys, then those.
  static func environment(
    _ shared: [(key: String, value: String)], name: String, port: Int, release: String
  ) -> [String] {
    var entries = shared.filter { !keys.contains($0.key) }.map { "\($0.key)=\($0.value)" }
    entries += ["PORT=\(port)", "PS=\(name)", "DYNO=\(name)", "FORGE_RELEASE=\(release)"]
    return entries
  }
}
