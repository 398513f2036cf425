/// The log path: child pipes → line assembly → one output buffer → stdout, with back-pressure.
///
/// Child pipes live in an epoll instance of their own, nested in the event loop's: while stdout
/// cannot take more, that one descriptor leaves the loop (one `epoll_ctl`, whatever the size of
/// the formation), children block on their full pipes, and nothing is dropped or buffered
/// without bound.
final class OutputPump {
  /// Reads of at least 64 KiB; a few per readiness event while they come back full, so a
  /// chatty process costs few wake-ups yet cannot starve the others, and a process writing
  /// without end cannot hold the loop (signals and the socket are serviced between passes).
  static let readsPerPass = 4
  /// At most this many pipes are grown to 256 KiB (16 MiB of the user's pipe pages).
  static let maximumGrownPipes = 64
  /// Draining at exit reads the pipes at most this long: a process that escaped the
  /// formation and keeps writing cannot keep forge from exiting.
  static let drainReadLimit: Deadline = 5_000_000_000
  /// While draining, forge waits for stdout to take more at most this long.
  static let stdoutPatience: Deadline = 10_000_000_000

  let writer: OutputWriter
  private let loop: Epoll
  private let pipes: Epoll
  private let pipesToken: UInt64
  private let stdoutToken: UInt64
  var streams: [UInt64: PipeStream] = [:]
  private var byGroup: [Int32: PipeStream] = [:]
  private var nextToken: UInt64 = 1
  private var grownPipes = 0
  /// Set while stdout is full: the pipes' epoll is out of the loop.
  private(set) var paused = false
  /// Streams holding lines that did not fit when stdout filled, in order.
  private var waiting: [PipeStream] = []
  /// The stream whose lines filled stdout last.
  private var lastBlocked: UInt64 = 0
  private var watchingStdout = false
  /// When to try again to put the pipes back into the loop after that failed.
  private var resumeRetryAt: Deadline?
  var drainReadsUntil: Deadline?
  /// Set when draining ended with everything written (or stdout gone for good).
  var drainCompleted = false
  var problems: [Notice] = []
  /// Secret values to keep out of the log (empty: nothing to do).
  var redactor = Redactor([])
  /// A line matched its stream's `readyText`.
  var onReadyLine: ((PipeStream) -> Void)?
  /// Raw bytes read from a terminal someone is attached to.
  var onRawOutput: ((UnsafeRawBufferPointer, PipeStream) -> Void)?
  /// Recent lines for `forge logs`, and its live followers.
  let history: LogHistory
  var followers: LogFollowers?
  /// Per type, for the metrics; and how long stdout has held the pipes back, in all.
  private(set) var counters: [String: LogCounter] = [:]
  private var pausedAt: Int64?
  private var pausedMillis: Int64 = 0

  var backpressureSeconds: Double {
    Double(pausedMillis + (pausedAt.map { history.millis - $0 } ?? 0)) / 1000
  }

  /// Something to tell: in the log stream, or on stderr when it is about the log stream itself.
  struct Notice: Equatable {
    let text: String
    let onStderr: Bool

    init(_ text: String, onStderr: Bool = false) {
      self.text = text
      self.onStderr = onStderr
    }
  }

  init(
    writer: OutputWriter, loop: Epoll, pipesToken: UInt64, stdoutToken: UInt64, history: LogHistory = LogHistory()
  ) throws(SystemError) {
    self.writer = writer
    self.history = history
    self.loop = loop
    self.pipes = try Epoll()
    self.pipesToken = pipesToken
    self.stdoutToken = stdoutToken
    try loop.add(pipes.descriptor, events: Epoll.input, token: pipesToken)
  }

  /// What went wrong since the last call, for the log (each said once).
  func takeProblems() -> [Notice] {
    defer { problems = [] }
    return problems
  }

  var isEmpty: Bool { streams.isEmpty && waiting.isEmpty }

  // MARK: - Streams

  /// Watches a child's output before the child exists, so a child never runs unwatched.
  func attach(
    _ fd: FileDescriptor, instance: FormationMachine.InstanceID, source: LogSource, terminal: Bool
  ) throws(SystemError) -> PipeStream {
    let type = source.name.lastIndex(of: ".").map { String(source.name[..<$0]) } ?? source.name
    let counter = counters[type] ?? LogCounter()
    counters[type] = counter
    let stream = PipeStream(
      fd: fd, token: nextToken, instance: instance, source: source, terminal: terminal,
      ring: history.ring(for: source.name), counter: counter)
    nextToken += 1
    try pipes.add(fd.raw, events: Epoll.input, token: stream.token)
    streams[stream.token] = stream
    return stream
  }

  /// The stream of the process that leads `group`, while its pipe or terminal is open.
  func stream(ofGroup group: Int32) -> PipeStream? { byGroup[group] }

  func bind(_ stream: PipeStream, group: Int32) {
    stream.group = group
    byGroup[group] = stream
  }

  /// The spawn failed: the stream never had a writer.
  func discard(_ stream: PipeStream) {
    streams[stream.token] = nil
    stream.fd.close()  // closing removes it from the pipes' epoll
  }

  /// New prefixes after scaling: every stream, including those of instances that are leaving.
  func updateSources(_ source: (FormationMachine.InstanceID) -> LogSource) {
    for stream in streams.values { stream.source = source(stream.instance) }
    for stream in waiting where !stream.isOpen { stream.source = source(stream.instance) }
  }

  // MARK: - Reading

  /// The pipes' epoll is readable: one pass over what is ready.
  func pipesReady() {
    guard !paused, let events = try? pipes.wait(timeoutMilliseconds: 0) else { return }
    // Round robin: the kernel reports ready pipes in the same order each time, so the pass
    // starts after the stream that filled stdout last, and one chatty process cannot keep the
    // others waiting.
    let turn = lastBlocked
    let ordered = events.map(\.token).sorted { ($0 <= turn ? 1 : 0, $0) < ($1 <= turn ? 1 : 0, $1) }
    for token in ordered {
      guard !paused else { return }
      if let stream = streams[token] { read(stream, reads: Self.readsPerPass) }
    }
  }

  enum Fill {
    case data(full: Bool)
    case empty
    case ended
  }

  /// The one read from a pipe into its stream's assembler.
  func fill(_ stream: PipeStream) -> Fill {
    let space = stream.assembler.writableSpace()
    guard space.count > 0 else { return .empty }
    let count: Int
    do {
      guard let n = try stream.fd.read(into: space) else { return .empty }
      count = n
    } catch {
      return .ended  // EIO from a terminal whose last process is gone: end of output
    }
    if count == 0 { return .ended }
    stream.assembler.commit(count)
    if stream.attached { onRawOutput?(UnsafeRawBufferPointer(rebasing: space[0..<count]), stream) }
    // A read that found the default 64 KiB pipe at least half full: this process is chatty.
    // (Not "full": small writes leave each page of a full pipe partly empty.)
    if count >= 32768 && !stream.grown && grownPipes < Self.maximumGrownPipes {
      stream.grown = true
      if stream.fd.growPipeBuffer() { grownPipes += 1 }
    }
    return .data(full: count == space.count)
  }

  /// Up to `reads` reads, each followed by as many whole lines as stdout takes.
  func read(_ stream: PipeStream, reads: Int) {
    for _ in 0..<reads {
      guard !paused, stream.isOpen else { return }
      switch fill(stream) {
      case .empty: return
      case .ended:
        end(stream)
        return
      case .data(let full):
        if emit(stream) || !full { return }
      }
    }
  }

  /// What a process left in its pipe (it exited, or its group is gone): read now, so its last
  /// lines come before its exit line. While stdout is stuck the bytes wait in memory and a pipe
  /// that has ended is closed at once, so descriptors stay bounded in a crash loop.
  func collect(group: Int32) {
    guard let stream = byGroup[group] else { return }
    // A bounded read, as any pass: what a writer outside the formation keeps adding waits for
    // the loop, which serves signals and the socket in between.
    for _ in 0..<Self.readsPerPass {
      guard stream.isOpen else { return }
      switch fill(stream) {
      case .empty:
        return
      case .ended:
        end(stream)
        return
      case .data:
        if paused {
          if !waiting.contains(where: { $0 === stream }) { waiting.append(stream) }
        } else {
          emit(stream)
        }
      }
    }
  }

  /// The pipe has ended: close it now; its lines are written when stdout takes them.
  func end(_ stream: PipeStream) {
    stream.isOpen = false
    stream.fd.close()
    streams[stream.token] = nil
    if byGroup[stream.group] === stream { byGroup[stream.group] = nil }
    if paused {
      if !waiting.contains(where: { $0 === stream }) { waiting.append(stream) }
    } else {
      emit(stream)
    }
  }

  // MARK: - Back-pressure

  func pause(waitingWith stream: PipeStream) {
    lastBlocked = stream.token
    if !waiting.contains(where: { $0 === stream }) { waiting.append(stream) }
    guard !paused else { return }
    paused = true
    pausedAt = history.millis
    loop.remove(pipes.descriptor)
    watchStdout(true)
  }

  /// Once stdout has caught up: lines already read first, in the order they were held up, then
  /// the pipes again.
  private func resume(now: Deadline) {
    while let stream = waiting.first {
      paused = false
      let blocked = emit(stream)
      paused = true
      if blocked { return }
      waiting.removeFirst()
    }
    do {
      try loop.add(pipes.descriptor, events: Epoll.input, token: pipesToken)
      paused = false
      resumeRetryAt = nil
      if let since = pausedAt { pausedMillis += history.millis - since }
      pausedAt = nil
    } catch {
      if resumeRetryAt == nil {
        problems.append(Notice("cannot watch the processes' output again: \(error); retrying"))
      }
      resumeRetryAt = now &+ 100_000_000
    }
  }

  private func watchStdout(_ on: Bool) {
    guard on != watchingStdout else { return }
    watchingStdout = on
    if on {
      do {
        try loop.add(writer.descriptor, events: Epoll.output, token: stdoutToken)
      } catch {
        // stdout cannot be watched (a regular file never blocks, so this is unexpected):
        // fall back to waiting for it.
        watchingStdout = false
        writer.flushBlocking(milliseconds: 1000)
      }
    } else {
      loop.remove(writer.descriptor)
    }
  }

  /// After each round of events: write what is buffered, then resume reading once stdout has
  /// caught up.
  func flush(now: Deadline) {
    let state = writer.flush()
    if let failure = writer.takeFailure() {
      problems.append(Notice("\(failure); no more log output, still supervising", onStderr: true))
    }
    switch state {
    case .blocked:
      if paused || writer.pendingCount > 0 { watchStdout(true) }
    case .drained, .broken:
      watchStdout(false)
      if paused && writer.belowLowWater && (resumeRetryAt ?? 0) <= now { resume(now: now) }
    }
  }

  /// When the pump next needs the loop to wake, if ever.
  var nextDeadline: Deadline? {
    if let retry = resumeRetryAt { return retry }
    guard let until = drainReadsUntil else { return nil }
    return streams.isEmpty ? writer.lastProgress &+ Self.stdoutPatience : until
  }
}
