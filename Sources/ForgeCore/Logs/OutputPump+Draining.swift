/// Draining at exit: every process is gone, and what is left in the pipes goes to stdout at the
/// pace stdout takes it, in bounded passes so the loop still serves signals and the socket.
extension OutputPump {
  func beginDrain(now: Deadline) {
    drainReadsUntil = now &+ Self.drainReadLimit
    writer.noteProgress()
  }

  /// One bounded pass of draining; true once everything is written (or can never be).
  /// A pipe that is empty but still open is held by a process outside the formation's groups
  /// (one that escaped with setsid); nothing more is waited for from it.
  func drainPass(now: Deadline) -> Bool {
    guard let until = drainReadsUntil else { return false }
    if now >= until {
      // The bound holds whether or not stdout is keeping up: pipes still open are closed (what
      // was read from them is still written).
      for stream in streams.values.sorted(by: { $0.token < $1.token }) where stream.isOpen {
        problems.append(
          Notice(
            "leaving the output of \(stream.source.name) unread: something outside the formation keeps writing to it"))
        end(stream)
      }
    } else if !paused {
      for stream in streams.values.sorted(by: { $0.token < $1.token }) {
        drain(stream)
        if paused { break }
      }
    }
    flush(now: now)
    if writer.isBroken || (isEmpty && writer.pendingCount == 0) {
      drainCompleted = true
      return true
    }
    if now >= writer.lastProgress &+ Self.stdoutPatience {
      let seconds = Self.stdoutPatience / 1_000_000_000
      problems.append(
        Notice("stdout took nothing for \(seconds) s; leaving the rest of the output unwritten", onStderr: true))
      return true
    }
    return false
  }

  /// Up to `readsPerPass` reads; the stream ends when its pipe is empty or ended.
  private func drain(_ stream: PipeStream) {
    for _ in 0..<Self.readsPerPass {
      guard !paused, stream.isOpen else { return }
      switch fill(stream) {
      case .empty, .ended:
        end(stream)
        return
      case .data:
        if emit(stream) { return }
      }
    }
  }

  /// At exit: forge's own last messages, waiting up to 2 s for stdout to take them. Not when
  /// the drain was left (stdout took nothing for its patience, or a signal said to leave it):
  /// then one try, so the exit is not 2 s later than promised.
  func finish() {
    let left = drainReadsUntil != nil && !drainCompleted
    writer.flushBlocking(milliseconds: left ? 0 : 2000)
  }
}
