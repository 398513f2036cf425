/// Control clients that receive a stream after their reply: `forge logs` (its history, then
/// live lines with `-f`) and `forge events`. Each has a bounded buffer of its own, written
/// without blocking: a client that cannot keep up loses lines (and is told how many), and
/// never slows the formation; only forge's own stdout applies back-pressure.
final class LogFollowers {
  static let bufferLimit = 1 << 20
  /// A follower that fell behind takes lines again once its buffer has drained to here.
  static let resumeAt = bufferLimit / 2

  typealias Follower = LogFollower

  private let loop: Epoll
  private var followers: [UInt64: Follower] = [:]
  private var lineFollowers: [Follower] = []
  private var eventFollowers: [Follower] = []
  private var nextToken: UInt64

  init(loop: Epoll, firstToken: UInt64) {
    self.loop = loop
    self.nextToken = firstToken
  }

  var hasLineFollowers: Bool { !lineFollowers.isEmpty }
  var hasEventFollowers: Bool { !eventFollowers.isEmpty }

  func owns(_ token: UInt64) -> Bool { followers[token] != nil }

  /// Takes over a client's connection: it is sent `reply`, then `history` and, with
  /// `follow`, what comes. With `pipe`, the reply carries the read end of a pipe of its own and
  /// everything after the reply goes through that (see `SpliceRing`); the socket is closed.
  /// When no such pipe can be made (the user's pipe memory is used up, `pipedLimit` clients
  /// have one), all goes through the socket, as without `pipe`: the client takes whichever
  /// comes.
  @discardableResult
  func add(
    _ socket: FileDescriptor, reply: [UInt8], history: [UInt8], accepts: @escaping (String) -> Bool,
    rendering: LogRendering, kind: Follower.Kind, follow: Bool, pipe wantsPipe: Bool = false
  ) -> Follower? {
    var fd = socket
    var ring: SpliceRing? = nil
    if wantsPipe, followers.values.lazy.filter({ $0.ring != nil }).count < Self.pipedLimit,
      let (pipe, spliceRing) = Self.splicedPipe()
    {
      defer { socket.close() }
      guard UnixSocket.send(reply, passing: pipe.read, on: socket) else { return nil }  // it has gone
      fd = pipe.write
      ring = spliceRing
    }
    let follower = Follower(fd: fd, ring: ring, token: nextToken, accepts: accepts, rendering: rendering, kind: kind)
    nextToken += 1
    if ring == nil { follower.buffer.append(reply) }
    follower.buffer.append(history)
    follower.closeWhenDrained = !follow
    followers[follower.token] = follower
    if follow {
      switch kind {
      case .lines: lineFollowers.append(follower)
      case .events: eventFollowers.append(follower)
      }
    }
    write(follower)
    return follower
  }

  /// Followers with a pipe of their own at most: each pipe's 1 MiB counts against the user's
  /// pipe-user-pages-soft (64 MiB by default), past which every new pipe of that user, the
  /// processes' included, shrinks to one page. The rest stream through the socket.
  static let pipedLimit = 8

  /// A client's own pipe (its read end blocking, for the client) and the ring that fills it.
  /// The pipe holds 1 MiB, half the ring, so a ring whose bytes the pipe has all taken always
  /// has room again (`LogFollower.writeOut`).
  private static func splicedPipe() -> (Pipe, SpliceRing)? {
    guard let pipe = try? Pipe(), pipe.write.growPipeBuffer(to: bufferLimit),
      (try? pipe.read.setNonBlocking(false)) != nil, (try? pipe.write.setNonBlocking(true)) != nil,
      let ring = SpliceRing(capacity: 2 * bufferLimit)
    else { return nil }
    return (pipe, ring)
  }

  /// A new line of `name` (an instance, or forge).
  func deliver(_ line: UnsafeRawBufferPointer, of name: String, millis: Int64) {
    for follower in lineFollowers where follower.takes(name) {
      guard admits(follower, line.count) else {
        follower.skipped += 1
        continue
      }
      follower.rendering.render(lead: follower.lastLead, millis: millis, line: line, to: follower.buffer)
      pending = true  // written once per pass of the loop (`flush`), not once per line
    }
  }

  /// Consecutive lines of `name`, each ending in "\n" (a run the ring took in one copy):
  /// one call, and per follower a tight loop, for all of them.
  /// `rendered` is the same run as forge's stdout got it, under `prefix`: a follower whose lead
  /// is that prefix (no colour, no time stamps) takes it with one copy.
  func deliver(
    run bytes: UnsafeRawBufferPointer, lines: Int, of name: String, millis: Int64,
    rendered: UnsafeRawBufferPointer?, prefix: [UInt8]
  ) {
    guard let base = bytes.baseAddress else { return }
    for follower in lineFollowers where follower.takes(name) {
      if let rendered, rendered.count == bytes.count + lines * prefix.count, follower.leadIs(prefix) {
        take(rendered, lines: lines, into: follower)
        continue
      }
      let buffer = follower.buffer
      let rendering = follower.rendering
      let lead = follower.lastLead
      var at = 0
      var left = lines
      while left > 0 {
        let length = Memory.find(0x0A, in: base + at, count: bytes.count - at) ?? (bytes.count - at)
        guard admits(follower, length) else {
          follower.skipped += left
          break
        }
        rendering.render(
          lead: lead, millis: millis, line: UnsafeRawBufferPointer(start: base + at, count: length), to: buffer)
        at += length + 1
        left -= 1
      }
      pending = true
    }
  }

  /// Rendered lines, as many whole ones as the follower's buffer has room for; the rest are
  /// counted as skipped (so a line that does not fit is never followed by one that does,
  /// within the run, as line by line).
  private func take(_ rendered: UnsafeRawBufferPointer, lines: Int, into follower: Follower) {
    pending = true
    if admits(follower, rendered.count) {
      follower.append(rendered)
      return
    }
    let room = min(rendered.count, follower.space(limit: Self.bufferLimit, reserve: Self.markerRoom))
    guard follower.skipped == 0, room > 0, let cut = rendered[0..<room].lastIndex(of: 0x0A) else {
      follower.skipped += lines
      return
    }
    let fitting = UnsafeRawBufferPointer(rebasing: rendered[0...cut])
    follower.append(fitting)
    follower.skipped += lines - Memory.count(0x0A, in: fitting)
  }

  /// Room kept for the `… N lines skipped` marker.
  private static let markerRoom = 256

  /// Whether `size` more bytes go into the follower's buffer. A follower that is behind takes
  /// nothing until its buffer has drained to half the bound; then it is told how many lines it
  /// lost and takes lines again. So the marker comes once per stretch of loss, not after every
  /// line that happened to fit.
  private func admits(_ follower: Follower, _ size: Int) -> Bool {
    if follower.skipped > 0 {
      guard follower.unwritten <= Self.resumeAt else { return false }
      tellSkipped(follower)
    }
    return size <= follower.space(limit: Self.bufferLimit, reserve: Self.markerRoom)
  }

  /// Whether lines wait to be written.
  private var pending = false

  /// After each pass of the event loop: what followers were given, in few writes.
  func flush() {
    guard pending else { return }
    pending = false
    for follower in lineFollowers where !follower.watching {
      // Lines lost while it was behind are told once it has caught up, not with the next line.
      if follower.skipped > 0 && follower.unwritten <= Self.resumeAt { tellSkipped(follower) }
      if follower.unwritten > 0 { write(follower) }
    }
    if lineFollowers.contains(where: { $0.skipped > 0 }) { pending = true }
  }

  /// An event, already rendered in both forms.
  func deliver(event text: [UInt8], json: [UInt8], of name: String) {
    for follower in eventFollowers where follower.accepts(name) {
      guard case .events(let wantsJSON) = follower.kind else { continue }
      let bytes = wantsJSON ? json : text
      guard admits(follower, bytes.count) else {
        follower.skipped += 1
        continue
      }
      follower.append(bytes)
      if !follower.watching { write(follower) }
    }
  }

  /// `… N lines skipped` (`events` for an events stream), in the follower's own format: a JSON
  /// follower gets a JSON object, with the count also as a number.
  private func tellSkipped(_ follower: Follower) {
    let count = follower.skipped
    follower.skipped = 0
    let wall = Clock.wall()
    let time = JSONValue.string(WallTime.rfc3339(wall.seconds, wall.milliseconds))
    let marker: String
    switch follower.kind {
    case .lines:
      let text = "… \(count) lines skipped"
      guard follower.rendering.json else {
        marker = text + "\n"
        break
      }
      marker =
        JSONValue.object([
          ("time", time), ("process", .string(LogSource.forgeName)), ("line", .string(text)),
          ("skipped", .number(Double(count))),
        ]).render() + "\n"
    case .events(let json):
      guard json else {
        marker = "… \(count) events skipped\n"
        break
      }
      marker =
        JSONValue.object([
          ("time", time), ("event", .string("skipped")), ("instance", .null), ("skipped", .number(Double(count))),
        ]).render() + "\n"
    }
    follower.append(Array(marker.utf8))
  }

  func writable(_ token: UInt64) {
    guard let follower = followers[token] else { return }
    write(follower)
    if follower.skipped > 0 { pending = true }
  }

  private func write(_ follower: Follower) {
    switch follower.writeOut() {
    case .failed:
      drop(follower)  // the client went away
      return
    case .wouldBlock:
      if !follower.watching {
        follower.watching = true
        do {
          try loop.add(follower.fd.raw, events: Epoll.output, token: follower.token)
        } catch {
          drop(follower)
        }
      }
      return
    case .done:
      break
    }
    if follower.watching {
      follower.watching = false
      loop.remove(follower.fd.raw)
    }
    if follower.closeWhenDrained { drop(follower) }
  }

  private func drop(_ follower: Follower) {
    if follower.watching { loop.remove(follower.fd.raw) }
    follower.fd.close()
    followers[follower.token] = nil
    lineFollowers.removeAll { $0 === follower }
    eventFollowers.removeAll { $0 === follower }
  }

  /// forge is exiting: what is buffered is written, waiting at most two seconds in all for
  /// clients that read slowly (a client that does not read may see its last line cut).
  func closeAll() {
    let until = Clock.now() &+ 2_000_000_000
    for follower in followers.values {
      // Lines lost while it was behind are told, also at the very end.
      if follower.skipped > 0 { tellSkipped(follower) }
      writing: while follower.unwritten > 0 {
        switch follower.writeOut() {
        case .failed:
          break writing  // the client has gone
        case .done:
          break
        case .wouldBlock:
          guard Clock.now() < until else { break writing }
          _ = follower.fd.waitWritable(milliseconds: 100)
        }
      }
      drop(follower)
    }
  }
}
