/// Recognises a container init running as PID 1 in forge's PID namespace, from
/// /proc/1/comm. Outside containers PID 1 is systemd or init, and nothing is said.
enum ContainerInit {
  private static let known = [
    "tini", "docker-init", "dumb-init", "catatonit", "s6-svscan", "supervisord", "runsvdir", "pid1",
  ]

  static func detect() -> String? {
    guard let bytes = try? Files.read("/proc/1/comm") else { return nil }
    let name =
      String(decoding: bytes, as: UTF8.self).trimmingBlanks().split(separator: "\n").first.map(String.init) ?? ""
    return known.contains(name) ? name : nil
  }
}
