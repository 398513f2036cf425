/// How anything forge started is stopped, the same way everywhere (an instance, the leftover
/// group of an exited process, an orphan at the end of a stop): the stop signal, then SIGCONT so
/// a stopped group can act on it, `grace` to exit, SIGKILL, and `bound` more for the kernel to
/// carry it out. What is still there after that cannot be killed (another user's process, or one
/// in uninterruptible sleep): it is named and given up on, so no stop waits forever.
struct Teardown: Equatable, Sendable {
  enum Stage: Equatable, Sendable {
    /// Asked to stop; SIGKILL at `killAt`.
    case asked(killAt: Deadline)
    /// SIGKILL sent; given up on at `giveUpAt`.
    case killed(giveUpAt: Deadline)
    /// Survived SIGKILL and the bound.
    case abandoned

    /// When this stage ends, if it has a timer.
    var deadline: Deadline? {
      switch self {
      case .asked(let killAt): return killAt
      case .killed(let giveUpAt): return giveUpAt
      case .abandoned: return nil
      }
    }
  }

  static let sigkill: Int32 = 9
  static let sigcont: Int32 = 18
  /// The default bound after SIGKILL.
  static let defaultBound: Deadline = 5_000_000_000

  let stopSignal: Int32
  let grace: Deadline
  let bound: Deadline

  /// The signals that ask politely, and the stage that follows.
  func begin(now: Deadline) -> (signals: [Int32], stage: Stage) {
    ([stopSignal, Self.sigcont], .asked(killAt: now &+ grace))
  }

  /// SIGKILL, and the stage that follows.
  func escalate(now: Deadline) -> (signals: [Int32], stage: Stage) {
    ([Self.sigkill], .killed(giveUpAt: now &+ bound))
  }
}
