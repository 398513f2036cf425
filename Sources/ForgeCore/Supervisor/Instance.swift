/// One running (or waiting, or finished) process of the formation: `web.2`.
final class Instance {
  enum State: String {
    /// Waiting to be spawned (restart backoff).
    case starting
    case running
    /// Sent its stop signal; SIGKILL follows at `stopDeadline`.
    case stopping
    case exited
  }

  /// What happens once the instance's process group is gone.
  enum AfterExit {
    /// The formation's exit policy decides (restart or end the formation).
    case policy
    /// Scaled down: drop it.
    case retire
    /// `forge restart`: spawn it again with the same number and port.
    case respawn
  }

  let type: String
  let typeIndex: Int
  let number: Int
  let name: String
  let port: Int
  let command: String
  let usesTerminal: Bool

  var state: State = .starting
  var afterExit: AfterExit = .policy
  /// The current (or last) process; its group is `group`.
  var pid: Int32 = 0
  /// The process group forge may still signal: set at spawn, forgotten (0) once seen empty,
  /// because from then on the number may belong to an unrelated process group.
  var group: Int32 = 0
  /// The exit of the current process, once reaped.
  var status: WaitStatus?
  /// The current process's output; older streams may linger while background children
  /// of an earlier process keep them open.
  var stream: PipeStream?
  var source: LogSource
  var startedAt: UInt64 = 0
  var stopDeadline: UInt64?
  var killed = false
  var restarts = 0
  var nextStartAt: UInt64?
  /// Times of recent exits that led to a restart, for the give-up window.
  var failureTimes: [UInt64] = []
  var backoffSeconds: Double = 0

  init(
    type: String, typeIndex: Int, number: Int, port: Int, command: String, usesTerminal: Bool,
    source: LogSource
  ) {
    self.type = type
    self.typeIndex = typeIndex
    self.number = number
    self.name = "\(type).\(number)"
    self.port = port
    self.command = command
    self.usesTerminal = usesTerminal
    self.source = source
  }

  /// Whether a process of this instance may still be alive: its leader not yet reaped, or
  /// members of its process group (background children) still around. A group found empty
  /// is forgotten, with its SIGKILL deadline.
  var isAlive: Bool {
    guard group > 0 else { return false }
    if status == nil || processGroupExists(group) { return true }
    group = 0
    stopDeadline = nil
    return false
  }
}
