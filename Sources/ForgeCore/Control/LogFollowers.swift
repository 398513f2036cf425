/// Control clients that receive a stream after their reply: `forge logs` (its history, then
/// live lines with `-f`) and `forge events`. Each has a bounded buffer of its own, written
/// without blocking: a client that cannot keep up loses lines (and is told how many), and
/// never slows the formation; only forge's own stdout applies back-pressure.
final class LogFollowers {
  static let bufferLimit = 1 << 20

  final class Follower {
    let fd: FileDescriptor
    let token: UInt64
    let accepts: (String) -> Bool
    let rendering: LogRendering
    /// Live lines (`forge logs -f`), or events (`forge events`).
    let kind: Kind
    let buffer = OutputBuffer(capacity: 64 * 1024)
    var skipped = 0
    var watching = false
    /// Close once the buffer is written (`forge logs` without -f).
    var closeWhenDrained = false
    /// The name of the last line offered, whether it was taken and its rendered lead: lines
    /// come in runs from one process, so the filter and the lead are looked up once a run.
    var lastName = ""
    var lastAccepted = false
    var lastLead: [UInt8] = []

    enum Kind {
      case lines
      case events(json: Bool)
    }

    init(fd: FileDescriptor, token: UInt64, accepts: @escaping (String) -> Bool, rendering: LogRendering, kind: Kind) {
      self.fd = fd
      self.token = token
      self.accepts = accepts
      self.rendering = rendering
      self.kind = kind
    }
  }

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

  /// Takes over a client's connection, with what it is sent first.
  @discardableResult
  func add(
    _ fd: FileDescriptor, first: [UInt8], accepts: @escaping (String) -> Bool, rendering: LogRendering,
    kind: Follower.Kind, follow: Bool
  ) -> Follower {
    let follower = Follower(fd: fd, token: nextToken, accepts: accepts, rendering: rendering, kind: kind)
    nextToken += 1
    follower.buffer.append(first)
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

  /// A new line of `name` (an instance, or forge).
  func deliver(_ line: UnsafeRawBufferPointer, of name: String, millis: Int64) {
    for follower in lineFollowers {
      if follower.lastName != name {
        follower.lastName = name
        follower.lastAccepted = follower.accepts(name)
        follower.lastLead = follower.rendering.lead(for: name)
      }
      guard follower.lastAccepted else { continue }
      guard follower.buffer.count + line.count + 256 <= Self.bufferLimit else {
        follower.skipped += 1
        continue
      }
      if follower.skipped > 0 { tellSkipped(follower) }
      follower.rendering.render(lead: follower.lastLead, millis: millis, line: line, to: follower.buffer)
      pending = true  // written once per pass of the loop (`flush`), not once per line
    }
  }

  /// Whether lines wait to be written.
  private var pending = false

  /// After each pass of the event loop: what followers were given, in few writes.
  func flush() {
    guard pending else { return }
    pending = false
    for follower in lineFollowers where !follower.watching {
      // Lines lost while it was behind are told as soon as there is room, not with the next line.
      if follower.skipped > 0 && follower.buffer.count + 64 <= Self.bufferLimit { tellSkipped(follower) }
      if follower.buffer.count > 0 { write(follower) }
    }
    if lineFollowers.contains(where: { $0.skipped > 0 }) { pending = true }
  }

  /// An event, already rendered in both forms.
  func deliver(event text: [UInt8], json: [UInt8], of name: String) {
    for follower in eventFollowers where follower.accepts(name) {
      guard case .events(let wantsJSON) = follower.kind else { continue }
      let bytes = wantsJSON ? json : text
      guard follower.buffer.count + bytes.count <= Self.bufferLimit else {
        follower.skipped += 1
        continue
      }
      if follower.skipped > 0 { tellSkipped(follower) }
      follower.buffer.append(bytes)
      if !follower.watching { write(follower) }
    }
  }

  private func tellSkipped(_ follower: Follower) {
    let text = Array("… \(follower.skipped) lines skipped\n".utf8)
    follower.skipped = 0
    follower.buffer.append(text)
  }

  func writable(_ token: UInt64) {
    guard let follower = followers[token] else { return }
    write(follower)
    if follower.skipped > 0 { pending = true }
  }

  private func write(_ follower: Follower) {
    while follower.buffer.count > 0 {
      let result: Int?
      do {
        result = try follower.fd.write(follower.buffer.bytes)
      } catch {
        drop(follower)  // the client went away
        return
      }
      guard let n = result else {
        if !follower.watching {
          follower.watching = true
          do {
            try loop.add(follower.fd.raw, events: Epoll.output, token: follower.token)
          } catch {
            drop(follower)
          }
        }
        return
      }
      follower.buffer.consume(n)
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
      while follower.buffer.count > 0 {
        let written: Int?
        do {
          written = try follower.fd.write(follower.buffer.bytes)
        } catch {
          break  // the client has gone
        }
        if let n = written {
          follower.buffer.consume(n)
        } else {
          guard Clock.now() < until else { break }
          _ = follower.fd.waitWritable(milliseconds: 100)
        }
      }
      drop(follower)
    }
  }
}
