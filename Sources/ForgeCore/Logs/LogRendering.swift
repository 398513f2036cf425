/// How `forge logs` and its followers print a line: the live stream's format, without colour,
/// with the time the line arrived. What repeats is rendered once: the lead of each name, and
/// the time stamp once per second (text) or millisecond (JSON), so a line costs copies.
final class LogRendering {
  let json: Bool
  let timestamps: Bool
  let width: Int
  /// "web.1  | " (text) or `"process":"web.1","line":"` (JSON), by name.
  private var leads: [String: [UInt8]] = [:]
  private var stampMillis: Int64 = -1
  private var stamp: [UInt8] = []

  init(json: Bool, timestamps: Bool, width: Int) {
    self.json = json
    self.timestamps = timestamps
    self.width = width
  }

  /// What a line of `name` starts with after its time stamp.
  func lead(for name: String) -> [UInt8] {
    if let known = leads[name] { return known }
    let bytes: [UInt8]
    if json {
      bytes = Array("\"process\":".utf8) + JSONText.escaped(name) + Array(",\"line\":\"".utf8)
    } else {
      let padding = [UInt8](repeating: 0x20, count: max(0, width - name.utf8.count))
      bytes = Array(name.utf8) + padding + Array(" | ".utf8)
    }
    leads[name] = bytes
    return bytes
  }

  func render(name: String, millis: Int64, line: UnsafeRawBufferPointer, to out: OutputBuffer) {
    render(lead: lead(for: name), millis: millis, line: line, to: out)
  }

  @inline(__always)
  func render(lead: [UInt8], millis: Int64, line: UnsafeRawBufferPointer, to out: OutputBuffer) {
    if json {
      out.append(stamp(millis))
      out.append(lead)
      JSONText.appendEscaped(line, to: out)
      out.append(Self.jsonClosing)
      return
    }
    if timestamps { out.append(stamp(millis)) }
    out.reserve(lead.count + line.count + 1)
    out.append(lead)
    out.append(line)
    out.append(0x0A)
  }

  private static let jsonClosing: [UInt8] = Array("\"}\n".utf8)

  /// `HH:MM:SS ` or `{"time":"…",`, rendered again only when the second (or millisecond) moves.
  private func stamp(_ millis: Int64) -> [UInt8] {
    let key = json ? millis : millis / 1000
    guard key != stampMillis else { return stamp }
    stampMillis = key
    let seconds = Int(millis / 1000)
    stamp =
      json
      ? Array("{\"time\":\"\(WallTime.rfc3339(seconds, Int(millis % 1000)))\",".utf8)
      : Array((WallTime.localTimeOfDay(seconds) + " ").utf8)
    return stamp
  }
}
