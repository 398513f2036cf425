/// The recent lines of every instance (and forge's own), for `forge logs`: a ring per name,
/// every line numbered in arrival order so rings can be merged.
final class LogHistory {
  static let defaultLines = 1000
  static let bytesPerRing = 256 * 1024

  let maximumLines: Int
  private var rings: [String: LineRing] = [:]
  private var sequence: UInt64 = 0
  /// Wall-clock milliseconds, read once per pass of the event loop.
  var millis: Int64 = 0

  init(maximumLines: Int = LogHistory.defaultLines) {
    self.maximumLines = maximumLines
  }

  /// The ring of one name; a name that comes back (scaled up again) reuses its ring.
  func ring(for name: String) -> LineRing {
    if let ring = rings[name] { return ring }
    let ring = LineRing(maximumLines: maximumLines, maximumBytes: Self.bytesPerRing)
    rings[name] = ring
    return ring
  }

  func record(_ line: UnsafeRawBufferPointer, in ring: LineRing, byForge: Bool = false) {
    sequence &+= 1
    ring.append(line, sequence: sequence, millis: millis, byForge: byForge)
  }

  /// Consecutive lines of one process, each ending in "\n": one copy for them all.
  func record(run bytes: UnsafeRawBufferPointer, lines: Int, in ring: LineRing) {
    ring.append(run: bytes, lines: lines, firstSequence: sequence &+ 1, millis: millis)
    sequence &+= UInt64(lines)
  }

  var names: [String] { rings.keys.sorted() }

  /// The last `count` lines of the names `matching` accepts, oldest first, rendered.
  func last(_ count: Int, matching: (String) -> Bool, render: (String, LineRing.Record, UnsafeRawBufferPointer) -> Void)
  {
    var chosen: [(name: String, record: LineRing.Record)] = []
    for (name, ring) in rings where matching(name) {
      ring.visit { record, _ in chosen.append((name, record)) }
    }
    chosen.sort { $0.record.sequence < $1.record.sequence }
    let wanted = Set(chosen.suffix(max(0, count)).map(\.record.sequence))
    guard !wanted.isEmpty else { return }
    var lines: [(UInt64, String, LineRing.Record, [UInt8])] = []
    for (name, ring) in rings where matching(name) {
      ring.visit { record, bytes in
        if wanted.contains(record.sequence) { lines.append((record.sequence, name, record, Array(bytes))) }
      }
    }
    lines.sort { $0.0 < $1.0 }
    for (_, name, record, bytes) in lines { bytes.withUnsafeBytes { render(name, record, $0) } }
  }
}
