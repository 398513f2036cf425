/// What goes into the formation machine and what comes out of it.
extension FormationMachine {
  enum Input: Equatable, Sendable {
    case start(counts: [Int])
    case spawned(InstanceID, pid: Int32)
    case spawnFailed(InstanceID, reason: String)
    case reaped(pid: Int32, status: WaitStatus)
    /// forge has no children at all (waitpid said ECHILD).
    case childrenGone
    case groupEmpty(Int32)
    /// kill(2) answered EPERM: the group has members forge may not signal.
    case signalRefused(Int32)
    /// What a `sweep` found and signalled: "pid (command)" of each child left behind.
    case orphans(signal: Int32, found: [String])
    case timer
    case stop(reason: String, escalates: Bool)
    case scale([TypeCount])
    case restart([InstanceID])
    case restartAll
    case forward(signal: Int32)
    case outputDrained
    /// What a readiness or health probe found for the process `pid` of an instance (log and
    /// notify probes report only success, when it happens).
    case probeResult(InstanceID, pid: Int32, purpose: ProbePurpose, ok: Bool, detail: String)
    /// `STATUS=` from sd_notify.
    case statusText(InstanceID, pid: Int32, text: String)
    /// A new release: new rules, and what changed in them.
    case reload(ReloadPlan)
    /// `forge signal`: a signal to the process groups of these instances.
    case signal(Int32, [InstanceID])
  }

  struct ReloadPlan: Equatable, Sendable {
    let rules: Rules
    /// Types replaced one instance at a time, in order.
    let changed: [Int]
    let removed: [Int]
    let added: [TypeCount]
  }

  struct Rollout: Equatable, Sendable {
    let release: String
    let previous: String
  }

  enum RolloutResult: Equatable, Sendable {
    case completed(release: String)
    case halted(release: String, reason: String)
  }

  enum ProbePurpose: Equatable, Sendable {
    case readiness
    case health
  }

  enum Action: Equatable, Sendable {
    case spawn(InstanceID)
    /// Signals in order; the driver stops at the first that finds the group empty.
    case signal(group: Int32, signals: [Int32])
    /// Look whether these groups are empty; each empty one comes back as `groupEmpty`.
    case probe([Int32])
    /// Signal every child forge has outside the formation's groups (signal 0: only look);
    /// answered by `orphans`.
    case sweep(signal: Int32)
    /// Read what is in the pipe of the process that led this group, so its last lines come
    /// before its exit line, and close the pipe at its end.
    case collectOutput(group: Int32)
    case announce(InstanceID?, String)
    /// On stderr: about the log stream itself.
    case warn(String)
    /// Scaling made new instances: prefixes may need to be wider (rendered once per command).
    case instancesAdded
    case beginDrain
    case exit(Int32)
    /// Ask the instance's process `pid` once (`port`, `http:`, `exec:` probes).
    case runProbe(InstanceID, pid: Int32, purpose: ProbePurpose)
    /// A lifecycle event for `forge events` and the metrics.
    case event(Event)
  }

  /// `started`, `ready`, `unhealthy`, `exited`, `restarting`, `gave up`, `replaced`,
  /// `halted`, `stopping`, `stopped`; with the instance (if any), the release, and details.
  struct Event: Equatable, Sendable {
    let kind: String
    let instance: InstanceID?
    let release: String
    let details: [Detail]

    struct Detail: Equatable, Sendable {
      let key: String
      let value: String
      /// Written as a JSON number rather than a string.
      let isNumber: Bool
    }
  }
}
