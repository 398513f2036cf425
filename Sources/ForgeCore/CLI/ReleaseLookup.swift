/// Which release a one-off process (`forge run`) or `forge env` uses: the running formation's,
/// when a forge answers on the control socket, so admin processes see exactly the config the
/// app runs with; otherwise the files, resolved as `forge start` would.
struct ReleaseLookup {
  let environment: [(key: String, value: String)]
  let releaseID: String
  let basePort: Int
  let project: Project?
  /// The running forge's digest of its Procfile and env files (nil for files on disk).
  var filesDigest: String? = nil

  static func resolve(_ invocation: Invocation, procfileRequired: Bool = false) throws -> ReleaseLookup {
    let onDisk: Project
    do {
      onDisk = try invocation.loadProject(procfileRequired: procfileRequired)
    } catch let error as ConfigError {
      // With a running forge the files may be broken now; its release is still usable.
      guard !invocation.parsed.options.has("fresh"), let running = try? running(invocation) else { throw error }
      return running
    }
    if invocation.parsed.options.has("fresh") { return from(onDisk) }
    guard var running = try? running(invocation) else { return from(onDisk) }
    let changed = running.filesDigest.map { $0 != onDisk.filesDigest } ?? (running.releaseID != onDisk.releaseID)
    if changed {
      writeRaw(
        2,
        "forge: .env changed since the formation started (release \(running.releaseID) running, "
          + "\(onDisk.releaseID) on disk); using the running release. Use --fresh to use the files.\n")
    }
    running = ReleaseLookup(
      environment: running.environment, releaseID: running.releaseID, basePort: running.basePort, project: onDisk)
    return running
  }

  private static func from(_ project: Project) -> ReleaseLookup {
    ReleaseLookup(
      environment: project.environment, releaseID: project.releaseID, basePort: project.basePort, project: project)
  }

  /// The running forge's release; nil when none answers.
  private static func running(_ invocation: Invocation) throws -> ReleaseLookup? {
    guard let client = try? ControlClient.connect(invocation.settings.socketPath) else { return nil }
    let reply = try? client.send(.env, timeoutMilliseconds: 5000)
    guard let reply, reply["ok"] == .bool(true), let release = reply["release"]?.string,
      case .object(let members)? = reply["env"]
    else { return nil }
    let environment = members.map { (key: $0.0, value: $0.1.string ?? "") }
    let port = reply["port"]?.integer ?? environment.last { $0.key == "PORT" }.flatMap { Int($0.value) } ?? 5000
    return ReleaseLookup(
      environment: environment, releaseID: release, basePort: port, project: nil, filesDigest: reply["files"]?.string)
  }
}
