import CGlibcLinux
import Glibc

/// The driver of the formation machine: one event loop on one thread that owns every
/// descriptor. It sleeps in epoll_wait until something happens, turns what happened into the
/// machine's inputs, and performs the actions the machine returns, in one place
/// (`Supervisor+Actions`). An idle formation costs no CPU; nothing is shared, so nothing is
/// locked.
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
    var readiness = ProbeSettings()
    var health = ProbeSettings()
    var readyTimeoutSeconds = 60.0
    var healthIntervalSeconds = 10.0
    var order = StartOrder()
    /// `forge start web worker`: the types named, for a reload to read the same way.
    var startTypes: [String] = []
    /// `--hup reload`: SIGHUP means `forge reload` rather than forwarding it.
    var hupReloads = false
    /// `--watch`: file patterns whose changes restart a type.
    var watch = WatchSettings()
    /// `--metrics`: where to serve Prometheus metrics.
    var metrics: ListenAddress?
    /// What a forge that died left running, stopped before the formation starts.
    var leftovers: (forgePID: Int32, found: [Leftover])?
    /// `--log-buffer`: recent lines kept per instance for `forge logs`.
    var logBufferLines = LogHistory.defaultLines
    /// A detached forge: say `READY pid` on stderr once up, then stderr goes to the log file.
    var reportReady = false
    var logFile: String?
    var logFileSize = 10 * 1024 * 1024
  }

  static let signalToken: UInt64 = 1
  static let stdoutToken: UInt64 = 2
  static let controlToken: UInt64 = 3
  static let pipesToken: UInt64 = 4
  static let notifyToken: UInt64 = 5
  static let watchToken: UInt64 = 6
  static let metricsToken: UInt64 = 7
  static let firstMetricsToken: UInt64 = 1 << 41
  static let firstClientToken: UInt64 = 16
  static let firstFollowerToken: UInt64 = 1 << 40
  static let firstAttachToken: UInt64 = 1 << 42

  /// The release running now (replaced by `forge reload`), and what start was asked for.
  var project: Project
  var options: Options
  /// The machine's process types by index: the Procfile's at start, then every type a reload
  /// added. A type keeps its index for good, so instances keep their identity.
  var typeNames: [String]
  let loop: Epoll
  let signals: SignalFD
  let pump: OutputPump
  let control: ControlSession?
  let probes = ProbeRunner()
  let resources = ResourceSampler()
  /// Clients streaming lines or events.
  let followers: LogFollowers
  /// Callers attached to instances' terminals.
  let attachments: AttachSessions
  /// `NOTIFY_SOCKET`, when a type's readiness is `notify`.
  var notify: NotifySocket?
  /// `--watch`.
  var watch: FileWatch?
  /// `--metrics`.
  var metrics: HTTPServer?
  var machine: FormationMachine
  var forgeSource: LogSource
  var nameWidth: Int
  /// Inputs found while performing actions, handled in order after them: the machine is never
  /// re-entered.
  var inputs: [FormationMachine.Input] = []
  var feeding = false
  /// Set when the signalfd failed: signals are then polled on every pass.
  var pollingSignals = false
  /// Control clients waiting for the formation.
  var waiters: [Waiter] = []
  /// The descriptor limit forge was started with: its processes get this one back.
  var startLimit = DescriptorLimit.current().soft
  /// `.forge.state`: written when processes start or exit, removed at a clean exit.
  var statePath: String?
  var stateChanged = false
  /// Start-up's code pages were handed back (`CodePages`), the first time the loop went idle.
  var startupPagesReleased = false
  var startTimes: [Int32: UInt64] = [:]
  /// Requested changes whose completion is still to be told in the log.
  var pendingActions: [(FormationMachine) -> String?] = []
  /// Reloads asked for during a rollout (nil: by SIGHUP), applied once it ends.
  var queuedReloads: [ControlConnection?] = []
  /// Secret values of earlier releases: still redacted (see `reload`).
  var retiredSecrets: [(key: String, value: String)] = []

  init(project: Project, options: Options) throws(SystemError) {
    self.project = project
    self.options = options
    loop = try Epoll()
    signals = try SignalFD(signals: Signal.handled)
    let writer = OutputWriter(
      sink: OutputSink(),
      formatter: LineFormatter(format: project.settings.logFormat, timestamps: options.timestamps))
    pump = try OutputPump(
      writer: writer, loop: loop, pipesToken: Self.pipesToken, stdoutToken: Self.stdoutToken,
      history: LogHistory(maximumLines: options.logBufferLines))
    let loop = self.loop
    followers = LogFollowers(loop: loop, firstToken: Self.firstFollowerToken)
    pump.followers = followers
    pump.redactor = Redactor(project.secretValues)
    attachments = AttachSessions(loop: loop, firstToken: Self.firstAttachToken)
    control = options.control.map {
      ControlSession(server: $0, loop: loop, listenerToken: Self.controlToken, firstClientToken: Self.firstClientToken)
    }
    typeNames = project.procfile.names
    machine = FormationMachine(rules: Self.rules(project: project, options: options, typeNames: project.procfile.names))
    var width = LogSource.forgeName.count
    for (index, entry) in project.procfile.entries.enumerated() where project.counts[index] > 0 {
      width = max(width, entry.name.utf8.count + 1 + String(project.counts[index]).utf8.count)
    }
    nameWidth = width
    forgeSource = LogSource(name: LogSource.forgeName, width: width, colour: options.colour ? Palette.forge : nil)
  }

  /// The machine's rules for a release. Types the release no longer has keep their place,
  /// marked removed, with the rules they had (`previous`).
  static func rules(
    project: Project, options: Options, typeNames: [String], previous: FormationMachine.Rules? = nil
  ) -> FormationMachine.Rules {
    let grace = Clock.nanoseconds(seconds: project.settings.timeoutSeconds)
    let names = project.procfile.names
    let stages = options.order.stopStages(types: names)
    let tasks = options.order.tasks
    var types = typeNames.enumerated().map { index, name in
      guard let position = names.firstIndex(of: name) else {
        var kept =
          previous?.types[index]
          ?? FormationMachine.ProcessType(
            name: name, restart: .never,
            teardown: Teardown(
              stopSignal: options.stopSignals.defaultSignal, grace: grace, bound: Teardown.defaultBound))
        kept.removed = true
        kept.gates = []
        kept.dependents = []
        return kept
      }
      var type = FormationMachine.ProcessType(
        name: name, restart: options.restart.mode(for: name),
        teardown: Teardown(
          stopSignal: options.stopSignals.signal(for: name), grace: grace, bound: Teardown.defaultBound))
      type.readiness = options.readiness.probe(for: name)
      type.readyTimeout = Clock.nanoseconds(seconds: options.readyTimeoutSeconds)
      type.health = options.health.probe(for: name)
      type.healthInterval = Clock.nanoseconds(seconds: options.healthIntervalSeconds)
      type.isTask = tasks.contains(name)
      type.stopStage = stages[position]
      type.position = position
      type.gates = options.order.dependencies(of: name).compactMap { dependency in
        typeNames.firstIndex(of: dependency.on).map {
          FormationMachine.Gate(typeIndex: $0, condition: dependency.condition)
        }
      }
      return type
    }
    for index in types.indices {
      for gate in types[index].gates where !types[gate.typeIndex].dependents.contains(index) {
        types[gate.typeIndex].dependents.append(index)
      }
    }
    var rules = FormationMachine.Rules(
      types: types, restart: options.restart,
      orphanTeardown: Teardown(
        stopSignal: options.stopSignals.defaultSignal, grace: grace, bound: Teardown.defaultBound))
    rules.basePort = project.basePort
    rules.release = project.releaseID
    return rules
  }

  /// A machine type's name, Procfile entry (nil once a reload removed it) and place (ports).
  func typeName(_ index: Int) -> String { typeNames[index] }

  func entry(_ index: Int) -> ProcessType? {
    project.procfile.entries.first { $0.name == typeNames[index] }
  }

  func position(_ index: Int) -> Int { project.procfile.index(of: typeNames[index]) ?? index }

  // MARK: - Running

  /// Starts the formation and runs until it has stopped. Returns forge's exit status.
  func run() -> Int32 {
    defer { control?.close() }
    do {
      try loop.add(signals.fd.raw, events: Epoll.input, token: Self.signalToken)
      try becomeChildSubreaper()
    } catch {
      writeRaw(2, "forge: \(error)\n")
      return 1
    }
    pump.readClock()
    control?.start(now: Clock.now())
    if project.procfile.names.contains(where: { options.readiness.probe(for: $0) == .notify }) {
      do {
        let socket = try NotifySocket(path: Self.notifyPath(root: project.settings.root))
        try loop.add(socket.fd.raw, events: Epoll.input, token: Self.notifyToken)
        notify = socket
      } catch {
        writeRaw(2, "forge: cannot create the notify socket: \(error)\n")
        return 1
      }
    }
    defer { notify?.close() }
    guard startMetrics() else { return 1 }
    if let logFile = options.logFile { pump.writer.rotate(logFile, every: options.logFileSize) }
    defer { metrics?.close() }
    startWatching()
    pump.onReadyLine = { [unowned self] stream in self.readyLine(in: stream) }
    pump.onRawOutput = { [unowned self] bytes, stream in self.attachments.output(bytes, of: stream) }
    if Forge.closedAtStart.contains(1) {
      pump.writer.discardOutput()
      writeRaw(2, "forge: stdout is closed; no log output, still supervising\n")
    }
    announce("release \(project.releaseID)")
    if options.isPID1 {
      announce("running as PID 1: reaping every orphan, stop signals sweep the container")
    } else if let other = options.otherInit {
      announce("not PID 1 (\(other) is): reaping orphans of forge's processes as child subreaper")
    } else {
      announce("not PID 1: reaping orphans of forge's processes as child subreaper")
    }
    if options.control != nil { statePath = StateFile.path(forSocket: project.settings.socketPath) }
    stopLeftovers()
    warnAboutPortsInUse()
    feed(.start(counts: project.counts))
    tell(now: Clock.now())
    while true {
      if case .finished(let status) = machine.phase {
        pump.finish()
        if options.reportReady { reportFailure(status) }
        if let statePath { Leftovers.remove(statePath) }
        control?.farewell(status: status, now: Clock.now())
        followers.closeAll()
        attachments.closeAll()
        return status
      }
      if stateChanged { writeState() }  // before sleeping: a SIGKILL can come at any time
      if options.reportReady { reportIfUp() }
      let events: [Epoll.Event]
      do {
        let sleep = timeout(now: Clock.now())
        if !startupPagesReleased && (sleep < 0 || sleep >= 1000) && machine.phase == .running {
          startupPagesReleased = true
          CodePages.releaseStartupPages()
        }
        events = try loop.wait(timeoutMilliseconds: sleep)
      } catch {
        return emergencyStop(because: "\(error)")
      }
      let now = Clock.now()
      pump.readClock()
      for event in events { dispatch(event, now: now) }
      if pollingSignals { handle(Signal.takePending()) }
      probes.expire(now: now)
      if machine.phase != .running && !probes.isEmpty { probes.killAll() }
      if let due = machine.nextDeadline, due <= now {
        // A leader whose SIGCHLD is not read yet must not be killed (and counted) as if it
        // had outlived the grace period.
        reapChildren()
        feed(.timer)
      }
      control?.timers(now: now)
      metrics?.timers(now: now)
      restartWatchedTypes(now: now)

      serveWaiters(now: now)
      if case .draining = machine.phase, pump.drainPass(now: now) { feed(.outputDrained) }
      tell(now: now)
    }
  }

  private func timeout(now: Deadline) -> Int32 {
    if pollingSignals { return 50 }
    if case .draining = machine.phase, !pump.paused, !pump.isEmpty { return 0 }
    var next = machine.nextDeadline
    for deadline in [
      pump.nextDeadline, control?.nextDeadline, probes.nextDeadline, waitersDeadline, watch?.dueAt,
      metrics?.nextDeadline,
    ] {
      if let deadline, deadline < (next ?? .max) { next = deadline }
    }
    guard let next else { return -1 }
    if next <= now { return 0 }
    return Int32(min((next - now + 999_999) / 1_000_000, 60_000))
  }

  private func dispatch(_ event: Epoll.Event, now: Deadline) {
    switch event.token {
    case Self.signalToken: readSignals()
    case Self.stdoutToken: pump.flush(now: now)
    case Self.pipesToken: pump.pipesReady()
    case Self.controlToken: control?.acceptReady(now: now)
    case Self.notifyToken: readNotifications()
    case Self.watchToken: watch?.readable(now: now)
    case Self.metricsToken: metrics?.acceptReady(now: now)
    default:
      if followers.owns(event.token) {
        followers.writable(event.token)
      } else if attachments.owns(event.token) {
        attachments.event(event.token, writable: event.writable)
      } else if let metrics, metrics.owns(event.token) {
        metrics.service(event) { method, path in self.answerHTTP(method: method, path: path) }
      } else {
        control?.service(event) { request, client throws(ControlError) in try self.respond(to: request, from: client) }
      }
    }
  }

  private func readSignals() {
    do {
      let received = try signals.drainWithOrigin()
      // The terminal forge runs in has closed: a hangup from the kernel is a stop, not a
      // signal to pass on (processes without a handler would die abruptly of it).
      if received.contains(where: { $0.signal == SIGHUP && $0.fromKernel }) {
        feed(.stop(reason: "hangup of the terminal", escalates: false))
      }
      handle(received.filter { !($0.signal == SIGHUP && $0.fromKernel) }.map(\.signal))
    } catch {
      // Level-triggered epoll would report the signalfd again and again: take it out, poll
      // the signals instead, and stop, since forge can no longer trust what it hears.
      loop.remove(signals.fd.raw)
      pollingSignals = true
      writeRaw(2, "forge: \(error); polling signals from now on, stopping\n")
      feed(.stop(reason: "signalfd failure", escalates: false))
    }
  }

  private func handle(_ received: [Int32]) {
    // Exits first: a process that is already dead must not be killed (and counted) by a stop
    // read in the same batch.
    if received.contains(SIGCHLD) { reapChildren() }
    for signal in received where signal != SIGCHLD {
      switch signal {
      case SIGCHLD: reapChildren()
      case SIGINT, SIGTERM, SIGQUIT: feed(.stop(reason: Signal.name(signal), escalates: true))
      case SIGHUP where options.hupReloads: _ = reload(for: nil, dryRun: false)
      default: feed(.forward(signal: signal))  // SIGHUP, SIGUSR1, SIGUSR2: for the processes
      }
    }
  }

  func reapChildren() {
    // Each exit is handled before the next waitpid: handling it may spawn, and the kernel may
    // give the new process a pid reaped in this very batch. ECHILD at the end is then true.
    let none = reapExitedChildren { pid, status in
      if probes.owns(pid) {
        if let result = probes.finished(pid, status: status) { feed(result) }
      } else {
        feed(.reaped(pid: pid, status: status))
      }
    }
    if none { feed(.childrenGone) }
  }

  /// epoll_wait failed (it cannot, short of a bug): without a loop nothing can be supervised,
  /// so everything is killed now, reaped for up to the bound, and forge exits 1.
  private func emergencyStop(because reason: String) -> Int32 {
    writeRaw(2, "forge: epoll_wait failed: \(reason); killing every process\n")
    feed(.stop(reason: "epoll failure", escalates: true))
    feed(.stop(reason: "epoll failure", escalates: true))
    let until = Clock.now() &+ Teardown.defaultBound
    while Clock.now() < until {
      if case .draining = machine.phase { break }
      if case .finished = machine.phase { break }
      usleep(10_000)
      reapChildren()
      feed(.timer)
      tell(now: Clock.now())
    }
    pump.finish()
    return 1
  }

  // MARK: - Messages

  /// One of forge's own lines in the log stream.
  func announce(_ message: String) {
    pump.say(message, from: forgeSource)
  }

  /// Writes what is buffered, and what the pump and the control socket have to tell.
  private func tell(now: Deadline) {
    followers.flush()
    pump.flush(now: now)
    for notice in pump.takeProblems() {
      if notice.onStderr { writeRaw(2, "forge: \(notice.text)\n") } else { announce(notice.text) }
    }
    for notice in control?.takeNotices() ?? [] { announce(notice) }
    pump.writer.reportDroppedMessages(from: forgeSource)
    pump.flush(now: now)
  }
}
