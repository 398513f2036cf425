/// One client of `forge logs` or `forge events`: what it wants, and the bytes on their way to
/// it. They go through the control socket, or, for a `forge logs -f` that asked for it,
/// through a pipe of its own that is given forge's memory by reference (`SpliceRing`).
final class LogFollower {
  /// The socket, or the write end of the client's pipe.
  let fd: FileDescriptor
  let token: UInt64
  let accepts: (String) -> Bool
  let rendering: LogRendering
  /// Live lines (`forge logs -f`), or events (`forge events`).
  let kind: Kind
  /// Through the socket: the unwritten bytes. Twice the bound: a follower that is behind
  /// keeps up to the bound unwritten, and with room for as much again behind it, the
  /// unwritten bytes are moved to the front at most once per bound's worth of appends (at a
  /// capacity equal to the bound, they were moved after nearly every partial write: four
  /// times the data, measured). Pages never written are not resident, so a follower that
  /// keeps up uses only the front. Through a pipe: where lines are rendered before they go
  /// into the ring.
  let buffer: OutputBuffer
  /// Through a pipe: the unwritten bytes and those the pipe holds.
  let ring: SpliceRing?
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

  init(
    fd: FileDescriptor, ring: SpliceRing?, token: UInt64, accepts: @escaping (String) -> Bool,
    rendering: LogRendering, kind: Kind
  ) {
    self.fd = fd
    self.ring = ring
    self.token = token
    self.accepts = accepts
    self.rendering = rendering
    self.kind = kind
    buffer = OutputBuffer(capacity: ring == nil ? 2 * LogFollowers.bufferLimit : 64 * 1024)
  }

  /// Whether it follows `name`; the answer and the lead are kept for the next line, which
  /// is most often of the same process.
  @inline(__always)
  func takes(_ name: String) -> Bool {
    if lastName != name {
      lastName = name
      lastAccepted = accepts(name)
      lastLead = rendering.lead(for: name)
    }
    return lastAccepted
  }

  /// Whether its lines of the current name are rendered exactly as forge's stdout renders
  /// them under `prefix` (asked once per run of lines).
  func leadIs(_ prefix: [UInt8]) -> Bool {
    !rendering.json && !rendering.timestamps && lastLead == prefix
  }

  /// Bytes given to it and not yet written (what the pipe or socket holds is not counted).
  var unwritten: Int { buffer.count + (ring?.unsent ?? 0) }

  /// How many more bytes fit, with `reserve` left over, within `limit` unwritten bytes (and,
  /// through a pipe, within the ring beside what the pipe still holds).
  func space(limit: Int, reserve: Int) -> Int {
    let unwrittenSpace = limit - reserve - unwritten
    guard let ring else { return unwrittenSpace }
    return min(unwrittenSpace, ring.room - buffer.count - reserve)
  }

  /// Rendered bytes, as they are: one copy. Through a pipe, straight into the ring when
  /// nothing waits before them and they fit (the `… N lines skipped` marker may come when the
  /// ring is full of what the pipe holds: it waits in `buffer` then).
  func append(_ bytes: UnsafeRawBufferPointer) {
    if let ring, buffer.count == 0, bytes.count <= ring.room {
      ring.append(bytes)
    } else {
      buffer.append(bytes)
    }
  }

  func append(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { append($0) }
  }

  /// Through a pipe, what was rendered into `buffer` moves on into the ring.
  private func settle() {
    guard let ring, buffer.count > 0 else { return }
    let moving = min(buffer.count, ring.room)
    ring.append(UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<moving]))
    buffer.consume(moving)
  }

  /// Writes what it can without blocking.
  func writeOut() -> NonBlockingWrite {
    guard let ring else { return fd.writeWithoutBlocking(buffer) }
    do {
      while true {
        settle()
        guard try ring.handOver(to: fd) else { return .wouldBlock }
        if buffer.count == 0 { return .done }
        // The pipe took everything, so it holds at most its size, half the ring's: asked
        // again, the client's progress leaves room for the next settle.
      }
    } catch {
      return .failed  // the client went away (EPIPE)
    }
  }
}
