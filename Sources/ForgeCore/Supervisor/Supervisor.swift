import CGlibcLinux
import Glibc

/// The engine: one event loop on one thread that owns every piece of state (instances, pipes,
/// signals, timers, control clients). It sleeps in epoll_wait until something happens, so an
/// idle formation costs no CPU, and nothing is shared, so nothing is locked.
final class Supervisor {
  struct Options {
    var colour = false
    var timestamps = false
    var restart = RestartPolicy()
    var stopSignals = StopSignals()
    var isPID1 = false
    /// The container init forge runs under (tini, dumb-init…), if any: forge still reaps its
    /// own orphans as a child subreaper, and says so once.
    var otherInit: String?
    var control: ControlServer?
  }

  enum Phase: Equatable {
    case running
    /// Stop signals sent; SIGKILL for whatever is left at `deadline`.
    case stopping(deadline: UInt64)
    /// PID 1 only: the formation is gone, escapees were sent SIGTERM; SIGKILL at `deadline`.
    case sweeping(deadline: UInt64)
    /// Every process is gone: what is left in their pipes goes to stdout, at the pace stdout
    /// takes it. Ends when the pipes are empty and stdout has everything, or when stdout makes
    /// no progress for `drainPatience`, or on another stop request.
    case draining
    case finished
  }

  static let signalToken: UInt64 = 1
  static let stdoutToken: UInt64 = 2
  static let controlToken: UInt64 = 3
  static let groupRecheck: UInt64 = 250_000_000
  static let controlPause: UInt64 = 1_000_000_000

  let project: Project
  var options: Options
  let epoll: Epoll
  let signals: SignalFD
  let writer: OutputWriter
  var forgeSource: LogSource

  var instances: [Instance] = []
  var byPid: [Int32: Instance] = [:]
  var streams: [UInt64: PipeStream] = [:]
  var clients: [UInt64: ControlConnection] = [:]
  /// Process groups of processes that exited while children of theirs lived on, each with
  /// the time its SIGKILL is due.
  var lingering: [(pgid: Int32, name: String, deadline: UInt64)] = []
  var nextToken: UInt64 = 16
  var phase = Phase.running
  var killSent = false
  /// Whether anything had to be SIGKILLed after a requested stop (exit status 137).
  var forcedKill = false
  /// The status forge exits with: the first exit that ended the formation decides it.
  var exitStatus: Int32?
  /// Set while stdout is full: child pipes are not read.
  var outputPaused = false
  /// The stream whose lines filled stdout when output was last paused.
  var pausedBy: UInt64 = 0
  var waitingForStdout = false
  var nameWidth = 5
  var refusedUIDs: Set<UInt32> = []
  /// When the control socket is watched again after accept failed for want of descriptors.
  var controlResumeAt: UInt64?
  var controlFailureAnnounced = false
  /// Types waiting for a rolling restart (`forge restart` without a target), in order.
  var restartQueue: [String] = []
  var rollingRestartActive = false
  var drainInterrupted = false
  /// While draining, forge waits for stdout to take more at most this long.
  let drainPatience: UInt64 = 10_000_000_000
  /// Whether the last reap found that forge has no children at all (ECHILD).
  var childrenGone = false

  init(project: Project, options: Options) throws(SystemError) {
    self.project = project
    self.options = options
    epoll = try Epoll()
    signals = try SignalFD(signals: Signal.handled)
    let sink = OutputSink()
    writer = OutputWriter(
      sink: sink,
      formatter: LineFormatter(format: project.settings.logFormat, timestamps: options.timestamps))
    forgeSource = LogSource(name: LogSource.forgeName, width: 5, colour: options.colour ? Palette.forge : nil)
  }

  // MARK: - Running

  /// Starts the formation and runs until it has stopped. Returns forge's exit status.
  func run() -> Int32 {
    defer { options.control?.close() }
    do {
      try epoll.add(signals.fd.raw, events: Epoll.input, token: Self.signalToken)
      if let control = options.control {
        try epoll.add(control.listener.raw, events: Epoll.input, token: Self.controlToken)
      }
      try becomeChildSubreaper()
    } catch {
      writeRaw(2, "forge: \(error)\n")
      return 1
    }
    if Forge.closedAtStart.contains(1) {
      writer.discardOutput()
      writeRaw(2, "forge: stdout is closed; no log output, still supervising\n")
    }
    buildFormation()
    announce("release \(project.releaseID)")
    if options.isPID1 {
      announce("running as PID 1: reaping every orphan, stop signals sweep the container")
    } else if let other = options.otherInit {
      announce("not PID 1 (\(other) is): reaping orphans of forge's processes as child subreaper")
    } else {
      announce("not PID 1: reaping orphans of forge's processes as child subreaper")
    }
    for instance in instances where instance.state == .starting { start(instance) }
    flushOutput()
    while phase != .finished {
      let timeout = millisecondsUntilNextDeadline()
      let events: [Epoll.Event]
      do {
        events = try epoll.wait(timeoutMilliseconds: timeout)
      } catch {
        writeRaw(2, "forge: \(error)\n")
        return 1
      }
      writer.formatter.updateClock()
      for event in events { dispatch(event) }
      fireDueTimers()
      advancePhase()
      flushOutput()
      // That flush may have written the last bytes: then draining is over now, not at a timer.
      if phase == .draining { drainRemainingOutput() }
    }
    finishOutput()
    return exitStatus ?? 0
  }

  private func dispatch(_ event: Epoll.Event) {
    switch event.token {
    case Self.signalToken: handleSignals()
    case Self.stdoutToken: stdoutWritable()
    case Self.controlToken: acceptControlClients()
    default:
      if let stream = streams[event.token] {
        readOutput(stream)
      } else if let client = clients[event.token] {
        serviceClient(client, event)
      }
    // Otherwise a stale token: the descriptor was closed after the event was queued.
    }
  }

  private func handleSignals() {
    let received: [Int32]
    do { received = try signals.drain() } catch { return }
    for signal in received {
      switch signal {
      case SIGCHLD:
        reapChildren()
      case SIGINT, SIGTERM, SIGQUIT:
        requestStop(because: Signal.name(signal))
      default:
        // SIGHUP, SIGUSR1, SIGUSR2: for the processes, not for forge.
        forward(signal)
      }
    }
  }

  /// A stop asked for by a signal or by `forge stop`. A second request during the grace
  /// period kills at once.
  func requestStop(because reason: String, escalates: Bool = true) {
    switch phase {
    case .running:
      announce("\(reason) received, stopping")
      beginShutdown()
    case .stopping where !escalates:
      break  // another `forge stop`: the stop under way goes on gracefully
    case .stopping:
      announce("\(reason) received again, killing")
      killEverything()
    case .draining where !escalates:
      break
    case .draining:
      // Everything has stopped; only output is still being written. A first request lets it
      // finish, a second one leaves it.
      if drainInterrupted {
        announceRaw("\(reason) received again, leaving the rest of the output unwritten")
        phase = .finished
      } else {
        drainInterrupted = true
        announce("\(reason) received; writing the last output (again to skip it)")
      }
    case .sweeping, .finished:
      break
    }
  }

  /// A notice on stderr, for when the log stream itself is what forge gives up on.
  private func announceRaw(_ message: String) {
    writeRaw(2, "forge: \(message)\n")
  }

  private func forward(_ signal: Int32) {
    announce("forwarding \(Signal.name(signal)) to all processes")
    for instance in instances where instance.isAlive {
      signalProcessGroup(instance.group, signal)
    }
  }

  // MARK: - Messages

  /// One of forge's own lines in the log stream.
  func announce(_ message: String) {
    writer.append(message: message, from: forgeSource)
  }

  /// A line about one instance, under its own prefix (`web.1 | started with pid 42`).
  func announce(_ message: String, for instance: Instance) {
    writer.append(message: message, from: instance.source)
  }

  // MARK: - Timers

  private func millisecondsUntilNextDeadline() -> Int32 {
    guard let next = nextDeadline() else { return -1 }
    let now = Clock.now()
    if next <= now { return 0 }
    let milliseconds = (next - now + 999_999) / 1_000_000
    return Int32(min(milliseconds, 60_000))
  }

  private func nextDeadline() -> UInt64? {
    var next: UInt64? = nil
    func consider(_ time: UInt64?) {
      if let time, time < (next ?? .max) { next = time }
    }
    switch phase {
    case .stopping(let deadline) where !killSent: consider(deadline)
    case .sweeping(let deadline): consider(deadline)
    case .draining: consider(writer.lastProgress + drainPatience)
    default: break
    }
    var groupsWithoutLeader = !lingering.isEmpty
    for instance in instances {
      consider(instance.stopDeadline)
      consider(instance.nextStartAt)
      if instance.status != nil && instance.group > 0 { groupsWithoutLeader = true }
    }
    // A group whose leader is gone can empty without a SIGCHLD reaching forge (its last
    // member's parent left with setsid and reaped it): look again a few times a second.
    if groupsWithoutLeader { consider(Clock.now() + Self.groupRecheck) }
    for group in lingering where group.deadline != .max { consider(group.deadline) }
    for client in clients.values { consider(client.deadline) }
    consider(controlResumeAt)
    return next
  }

  private func fireDueTimers() {
    let now = Clock.now()
    switch phase {
    case .stopping(let deadline) where !killSent && deadline <= now:
      killEverything()
    case .sweeping(let deadline) where deadline <= now:
      sweep(signal: SIGKILL)
      phase = .sweeping(deadline: .max)
    case .draining where writer.lastProgress + drainPatience <= now:
      announceRaw(
        "stdout took nothing for \(drainPatience / 1_000_000_000) s; leaving the rest of the output unwritten")
      phase = .finished
    default:
      break
    }
    for instance in instances {
      if let deadline = instance.stopDeadline, deadline <= now, instance.isAlive {
        instance.stopDeadline = nil
        instance.killed = true
        announce("sending SIGKILL to \(instance.name) (pid \(instance.pid))")
        signalProcessGroup(instance.group, SIGKILL)
      }
      if let at = instance.nextStartAt, at <= now, phase == .running {
        instance.nextStartAt = nil
        instance.restarts += 1  // counted when it happens, as `docker ps` does
        start(instance)
      }
    }
    for i in lingering.indices where lingering[i].deadline <= now {
      lingering[i].deadline = .max
      if processGroupExists(lingering[i].pgid) {
        if case .stopping = phase { forcedKill = true }
        announce("sending SIGKILL to what is left of \(lingering[i].name) (process group \(lingering[i].pgid))")
        signalProcessGroup(lingering[i].pgid, SIGKILL)
      }
    }
    pruneLingering()
    settleStoppedInstances()
    expireClients(now: now)
    resumeControl(now: now)
  }
}
