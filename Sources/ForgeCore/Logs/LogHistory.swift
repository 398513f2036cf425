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

/// How `forge logs` and its followers print a line: the live stream's format, without colour,
/// with the time the line arrived.
struct LogRendering {
  let json: Bool
  let timestamps: Bool
  let width: Int
  /// "web.1  | " per name, rendered once.
  private let prefixes = PrefixCache()

  init(json: Bool, timestamps: Bool, width: Int) {
    self.json = json
    self.timestamps = timestamps
    self.width = width
  }

  func render(name: String, millis: Int64, line: UnsafeRawBufferPointer, to out: OutputBuffer) {
    let seconds = Int(millis / 1000)
    if json {
      out.append(Array("{\"time\":\"\(WallTime.rfc3339(seconds, Int(millis % 1000)))\",\"process\":".utf8))
      out.append(JSONText.escaped(name))
      out.append(Array(",\"line\":\"".utf8))
      JSONText.appendEscaped(line, to: out)
      out.append(Array("\"}\n".utf8))
      return
    }
    if timestamps { out.append(Array((WallTime.localTimeOfDay(seconds) + " ").utf8)) }
    out.append(prefixes.prefix(for: name, width: width))
    out.append(line)
    out.append(0x0A)
  }
}

/// Rendered prefixes by name, so a follower's line costs a copy, not a string to build.
final class PrefixCache {
  private var rendered: [String: [UInt8]] = [:]

  func prefix(for name: String, width: Int) -> [UInt8] {
    if let known = rendered[name] { return known }
    let bytes = Array(name.utf8) + [UInt8](repeating: 0x20, count: max(0, width - name.utf8.count)) + Array(" | ".utf8)
    rendered[name] = bytes
    return bytes
  }
}
