/// The log path: child pipes → line assembly → one output buffer → stdout, with
/// back-pressure. While stdout cannot take more, child pipes are taken out of epoll, so
/// children block on their full pipes and nothing is dropped or buffered without bound.
extension Supervisor {
  /// Reads of at least 64 KiB; a few per readiness event while they come back full, so a
  /// chatty process costs few wake-ups yet cannot starve the others. Each read is followed
  /// by as many whole lines as the output buffer takes.
  func readOutput(_ stream: PipeStream) {
    for _ in 0..<Self.readsPerEvent {
      guard !outputPaused else { return }
      let space = stream.assembler.writableSpace()
      guard space.count > 0 else { return }
      let result: Int?
      do {
        result = try stream.fd.read(into: space)
      } catch {
        result = 0  // EIO from a terminal whose last process is gone: end of output
      }
      guard let count = result else { return }
      if count == 0 {
        endOfOutput(stream)
        return
      }
      stream.assembler.commit(count)
      if emitLines(stream) || count < space.count { return }
    }
  }

  static let readsPerEvent = 4

  /// Writes the stream's complete lines while there is room; true if any are left.
  @discardableResult
  func emitLines(_ stream: PipeStream) -> Bool {
    let source = stream.instance.source
    while true {
      while writer.hasRoom {
        guard let line = stream.assembler.nextLine() else { return false }
        writer.append(line, from: source)
      }
      if writer.flush() == .blocked {
        pauseOutput(by: stream)
        return true
      }
    }
  }

  /// Reads what a process wrote before it exited, so its last lines come before its exit
  /// message (when stdout keeps up).
  func drain(_ stream: PipeStream, reads limit: Int = 64) {
    for _ in 0..<limit {
      guard !outputPaused, streams[stream.token] != nil else { return }
      let space = stream.assembler.writableSpace()
      guard space.count > 0 else { return }
      let count: Int
      do {
        guard let n = try stream.fd.read(into: space) else { return }  // nothing more for now
        count = n
      } catch {
        count = 0
      }
      if count == 0 {
        endOfOutput(stream)
        return
      }
      stream.assembler.commit(count)
      emitLines(stream)
    }
  }

  /// The write end is closed everywhere: flush the partial last line and forget the stream.
  func endOfOutput(_ stream: PipeStream) {
    while let line = stream.assembler.nextLine() { writer.append(line, from: stream.instance.source) }
    if let rest = stream.assembler.takeRemainder() { writer.append(rest, from: stream.instance.source) }
    if stream.registered { epoll.remove(stream.fd.raw) }
    stream.registered = false
    stream.fd.close()
    streams[stream.token] = nil
    if stream.instance.stream === stream { stream.instance.stream = nil }
  }

  // MARK: - Back-pressure

  private func pauseOutput(by stream: PipeStream) {
    guard !outputPaused else { return }
    outputPaused = true
    pausedBy = stream.token
    for stream in streams.values where stream.registered {
      epoll.remove(stream.fd.raw)
      stream.registered = false
    }
    watchStdout(true)
  }

  private func resumeOutput() {
    guard outputPaused else { return }
    // Round robin, starting after the stream that filled stdout last time: lines already
    // read come first, and the order pipes are watched again in (which is the order epoll
    // reports them) turns, so one chatty process cannot keep the others waiting.
    let order = streamsInTurn(after: pausedBy)
    for stream in order where emitLines(stream) {
      watchStdout(true)  // stdout is full again: wait for it before reading any pipe
      return
    }
    outputPaused = false
    for stream in order where !stream.registered {
      do {
        try epoll.add(stream.fd.raw, events: Epoll.input, token: stream.token)
        stream.registered = true
      } catch {
        announce("cannot watch the output of \(stream.instance.name): \(error)")
      }
    }
  }

  private func streamsInTurn(after token: UInt64) -> [PipeStream] {
    let sorted = streams.values.sorted { $0.token < $1.token }
    let next = sorted.firstIndex { $0.token > token } ?? 0
    return Array(sorted[next...] + sorted[..<next])
  }

  private func watchStdout(_ on: Bool) {
    guard on != waitingForStdout else { return }
    waitingForStdout = on
    if on {
      do {
        try epoll.add(writer.descriptor, events: Epoll.output, token: Self.stdoutToken)
      } catch {
        // stdout cannot be watched (a regular file never blocks, so this is unexpected):
        // fall back to waiting for it.
        waitingForStdout = false
        writer.flushBlocking(milliseconds: 1000)
      }
    } else {
      epoll.remove(writer.descriptor)
    }
  }

  func stdoutWritable() {
    flushOutput()
  }

  /// After each round of events: write what is buffered, then resume reading once stdout has
  /// caught up.
  func flushOutput() {
    let state = writer.flush()
    if let failure = writer.takeFailure() {
      writeRaw(2, "forge: \(failure); no more log output, still supervising\n")
    }
    switch state {
    case .blocked:
      if outputPaused || writer.pendingCount > 0 { watchStdout(true) }
    case .drained, .broken:
      watchStdout(false)
      if outputPaused && writer.belowLowWater { resumeOutput() }
    }
  }

  // MARK: - Draining at exit

  func startDraining() {
    phase = .draining
    writer.noteProgress()
    drainRemainingOutput()
  }

  /// Reads every stream until it is empty, as fast as stdout takes it. A pipe that is empty
  /// but still open is held by a process outside the formation's groups (one that escaped
  /// with setsid); nothing more is waited for from it.
  func drainRemainingOutput() {
    while !outputPaused, let stream = streams.values.min(by: { $0.token < $1.token }) {
      if finalRead(stream) { endOfOutput(stream) }
    }
    flushOutput()
    if streams.isEmpty && (writer.pendingCount == 0 || writer.isBroken) { phase = .finished }
  }

  /// One step of draining a stream: true when it has nothing more to give.
  private func finalRead(_ stream: PipeStream) -> Bool {
    if emitLines(stream) { return false }  // stdout is full: paused until it takes more
    let space = stream.assembler.writableSpace()
    let count: Int
    do {
      guard let n = try stream.fd.read(into: space) else { return true }
      count = n
    } catch {
      return true
    }
    if count == 0 { return true }
    stream.assembler.commit(count)
    emitLines(stream)
    return false
  }

  /// At exit: forge's own last messages.
  func finishOutput() {
    writer.flushBlocking(milliseconds: 2000)
  }
}
