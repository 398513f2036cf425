/// Runs readiness and health probes for the driver. `port` is answered at once from /proc;
/// `http:` runs in a child (`forge probe-http`, so a slow server never holds the loop) and
/// `exec:` as `/bin/sh -c`, each in its own session, killed at its deadline; their exits come
/// back through the supervisor's reaping. One probe per instance and purpose at a time.
final class ProbeRunner {
  typealias InstanceID = FormationMachine.InstanceID
  typealias Purpose = FormationMachine.ProbePurpose

  private struct Running {
    let id: InstanceID
    let instancePid: Int32
    let purpose: Purpose
    let probe: Probe
    let deadline: Deadline
    let output: FileDescriptor
  }

  static let httpLimit: Deadline = 2_000_000_000
  static let execLimit: Deadline = 5_000_000_000

  private var running: [Int32: Running] = [:]
  private let executable: String

  init() {
    executable = Files.currentExecutable()
  }

  var isEmpty: Bool { running.isEmpty }

  var nextDeadline: Deadline? { running.values.map(\.deadline).min() }

  /// Starts a probe; returns the result at once when it has one (`port`, or a failed spawn).
  func start(
    _ probe: Probe, for id: InstanceID, pid: Int32, purpose: Purpose, port: Int, environment: [String], now: Deadline
  ) -> FormationMachine.Input? {
    func result(_ ok: Bool, _ detail: String) -> FormationMachine.Input {
      .probeResult(id, pid: pid, purpose: purpose, ok: ok, detail: detail)
    }
    if running.values.contains(where: { $0.id == id && $0.purpose == purpose }) { return nil }
    let arguments: [String]
    let limit: Deadline
    switch probe {
    case .port:
      return isListening(onPort: port) ? result(true, "") : result(false, "nothing listens on port \(port)")
    case .http(let path):
      arguments = [executable, "probe-http", String(port), path]
      limit = Self.httpLimit
    case .exec(let command):
      arguments = ["/bin/sh", "-c", command]
      limit = Self.execLimit
    case .log, .notify:
      return nil  // they tell forge when they happen
    }
    do {
      let pipe = try Pipe()
      let request = SpawnRequest(
        path: arguments[0], arguments: arguments, environment: environment, output: pipe.write.raw)
      let child = try spawn(request)
      pipe.write.close()
      running[child] = Running(
        id: id, instancePid: pid, purpose: purpose, probe: probe, deadline: now &+ limit, output: pipe.read)
      return nil
    } catch {
      return result(false, "\(error)")
    }
  }

  func owns(_ pid: Int32) -> Bool { running[pid] != nil }

  /// A probe process has exited: its result.
  func finished(_ pid: Int32, status: WaitStatus) -> FormationMachine.Input? {
    guard let probe = running.removeValue(forKey: pid) else { return nil }
    var chunk = [UInt8](repeating: 0, count: 512)
    let count = (try? probe.output.read(into: &chunk)) ?? 0
    let said =
      String(decoding: chunk[0..<count], as: UTF8.self).trimmingBlanks()
      .split(separator: "\n").last.map(String.init) ?? ""
    let ok = status == .exited(0)
    var detail: String
    switch probe.probe {
    case .http: detail = said.isEmpty ? status.summary : said
    default: detail = status.summary
    }
    if status == .signaled(Teardown.sigkill) { detail = "no answer in time" }
    return .probeResult(probe.id, pid: probe.instancePid, purpose: probe.purpose, ok: ok, detail: detail)
  }

  /// Kills the probes past their deadline; their exits report them as failed.
  func expire(now: Deadline) {
    for (pid, probe) in running where probe.deadline <= now { _ = signalProcessGroup(pid, Teardown.sigkill) }
  }

  /// forge is stopping: no probe outlives it.
  func killAll() {
    for pid in running.keys { _ = signalProcessGroup(pid, Teardown.sigkill) }
  }
}
