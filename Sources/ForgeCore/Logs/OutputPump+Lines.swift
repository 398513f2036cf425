/// The line path: a stream's lines to stdout's buffer, the instance's ring and whoever follows
/// the log, with secrets redacted and readiness text looked for.
extension OutputPump {
  /// One reading of the wall clock for the lines that follow, on stdout (time stamps, JSON)
  /// and in the ring alike, so `forge logs` and its followers show a line with the time
  /// stdout showed it with.
  func readClock() {
    let wall = Clock.wall()
    writer.formatter.updateClock(to: wall)
    history.millis = Int64(wall.seconds) * 1000 + Int64(wall.milliseconds)
  }

  /// Writes the stream's complete lines while there is room (and, once its pipe has ended, the
  /// last line without a newline); true if stdout filled and lines are left.
  @discardableResult
  func emit(_ stream: PipeStream) -> Bool {
    // The log path. What every line needs is taken from the stream once; readiness text and
    // secrets leave the tight loop only for the lines that need it; consecutive lines go to
    // the ring as one run.
    let source = stream.source
    let ring = stream.ring
    let counter = stream.counter
    let redacting = !redactor.isEmpty
    let following = followers?.hasLineFollowers ?? false
    var run = LineRun()
    let bulk = !stream.assembler.stripsCarriageReturn && writer.rendersInBulk
    while true {
      while writer.hasRoom {
        if bulk && stream.readyText == nil && stream.carry.isEmpty {
          // Whole lines in bulk, and between them, line by line, the one that needs it.
          record(&run, of: stream)
          emitInBulk(stream)
          guard writer.hasRoom else { break }
        }
        guard let line = stream.assembler.nextLine() else {
          record(&run, of: stream)
          if !stream.isOpen, let rest = stream.assembler.takeRemainder() { publish(rest, of: stream) }
          return false
        }
        if stream.readyText != nil || (redacting && needsRedaction(line, of: stream)) {
          record(&run, of: stream)
          publishWatchingReadiness(line, of: stream)
          continue
        }
        let pending = writer.pendingCount
        writer.append(line, from: source)
        let whole = !stream.assembler.lastWasPiece
        if !run.extend(with: line, whole: whole, renderedFrom: pending) {
          record(&run, of: stream)
          if !run.extend(with: line, whole: whole, renderedFrom: pending) {
            history.record(line, in: ring)
            if following { followers?.deliver(line, of: source.name, millis: history.millis) }
          }
        }
        counter.lines &+= 1
        counter.bytes &+= UInt64(line.count)
      }
      record(&run, of: stream)
      if writer.flush() == .blocked {
        pause(waitingWith: stream)
        return true
      }
    }
  }

  /// The common case in one tight loop per run of whole lines (`OutputBuffer.appendLines`):
  /// rendered to stdout's buffer, then recorded in the ring, counted and given to followers
  /// once per run. Stops where a line needs the line-by-line path (a piece of an over-long
  /// line, the end of the buffer) or stdout's buffer is full.
  fileprivate func emitInBulk(_ stream: PipeStream) {
    while true {
      var unread = stream.assembler.unread
      if !redactor.isEmpty {
        // Only the lines before the first place a secret may be, within one step's budget
        // (so no byte is searched twice but at a step's boundary).
        unread = UnsafeRawBufferPointer(rebasing: unread[0..<min(unread.count, LineRun.limit)])
        if let suspect = redactor.firstSuspect(in: unread) {
          unread = UnsafeRawBufferPointer(rebasing: unread[0..<suspect])
        }
      }
      let before = writer.pendingCount
      let (taken, lines) = writer.appendLines(unread, from: stream.source, budget: LineRun.limit)
      guard lines > 0 else { return }
      let bytes = UnsafeRawBufferPointer(rebasing: unread[0..<taken])
      history.record(run: bytes, lines: lines, in: stream.ring)
      if let followers, followers.hasLineFollowers {
        followers.deliver(
          run: bytes, lines: lines, of: stream.source.name, millis: history.millis,
          rendered: writer.rendered(since: before), prefix: stream.source.prefix)
      }
      stream.counter.lines &+= UInt64(lines)
      stream.counter.bytes &+= UInt64(taken - lines)
      stream.assembler.advance(by: taken)
    }
  }

  /// The run goes to the ring and to whoever follows the log, in one call each.
  fileprivate func record(_ run: inout LineRun, of stream: PipeStream) {
    guard run.lines > 0 else { return }
    history.record(run: run.bytes, lines: run.lines, in: stream.ring)
    if let followers, followers.hasLineFollowers {
      followers.deliver(
        run: run.bytes, lines: run.lines, of: stream.source.name, millis: history.millis,
        rendered: writer.rendered(since: run.renderedFrom), prefix: stream.source.prefix)
    }
    run = LineRun()
  }

  /// Whether a line must take the slow path for secrets: it holds one, or it is a piece of an
  /// over-long line (whose end may begin one).
  fileprivate func needsRedaction(_ line: UnsafeRawBufferPointer, of stream: PipeStream) -> Bool {
    !stream.carry.isEmpty || stream.assembler.lastWasPiece || redactor.redact(line) != nil
  }

  /// `--ready TYPE=log:TEXT`: the line is published, then, if it holds the text, the stream
  /// is ready ("ready after …" follows the line that made it so).
  fileprivate func publishWatchingReadiness(_ line: UnsafeRawBufferPointer, of stream: PipeStream) {
    let readyNow = stream.readyText.map { Memory.contains(line, $0) } ?? false
    publish(line, of: stream)
    if readyNow {
      stream.readyText = nil
      onReadyLine?(stream)
    }
  }

  /// A line of a process: secrets redacted, to stdout, its ring, and whoever follows.
  @inline(__always)
  fileprivate func publish(_ line: UnsafeRawBufferPointer, of stream: PipeStream) {
    guard redactor.isEmpty else {
      publishRedacted(line, of: stream)
      return
    }
    deliver(line, of: stream)
  }

  /// A piece of an over-long line keeps back what may begin a secret, for the next piece.
  fileprivate func publishRedacted(_ line: UnsafeRawBufferPointer, of stream: PipeStream) {
    let piece = stream.assembler.lastWasPiece && stream.isOpen
    if stream.carry.isEmpty && !piece {
      // The usual case, a whole line: no copy unless something is replaced.
      if let redacted = redactor.redact(line) {
        redacted.withUnsafeBytes { deliver($0, of: stream) }
      } else {
        deliver(line, of: stream)
      }
      return
    }
    var bytes = stream.carry + Array(line)
    stream.carry = []
    if piece {
      let held = redactor.heldBack(bytes)
      stream.carry = Array(bytes.suffix(held))
      bytes.removeLast(held)
    }
    bytes.withUnsafeBytes { raw in
      if let redacted = redactor.redact(raw) {
        redacted.withUnsafeBytes { deliver($0, of: stream) }
      } else {
        deliver(raw, of: stream)
      }
    }
  }

  @inline(__always)
  fileprivate func deliver(_ line: UnsafeRawBufferPointer, of stream: PipeStream) {
    writer.append(line, from: stream.source)
    history.record(line, in: stream.ring)
    stream.counter.lines &+= 1
    stream.counter.bytes &+= UInt64(line.count)
    if let followers, followers.hasLineFollowers {
      followers.deliver(line, of: stream.source.name, millis: history.millis)
    }
  }

  /// One of forge's own lines (about forge, or under an instance's name).
  func say(_ message: String, from source: LogSource) {
    readClock()
    var text = message
    if !redactor.isEmpty, let redacted = Array(message.utf8).withUnsafeBytes({ redactor.redact($0) }) {
      text = String(decoding: redacted, as: UTF8.self)
    }
    writer.append(message: text, from: source)
    text.withUTF8 { bytes in
      let line = UnsafeRawBufferPointer(bytes)
      history.record(line, in: history.ring(for: source.name), byForge: true)
      if let followers, followers.hasLineFollowers {
        followers.deliver(line, of: source.name, millis: history.millis)
      }
    }
  }
}
