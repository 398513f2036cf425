/// Renders one line for stdout into the output buffer, in text or JSON form.
///
/// Text: `<colour>[HH:MM:SS ]web.1  | <reset>line\n`.
/// JSON: `{"time":"2026-11-22T10:00:00.123Z","process":"web.1","line":"…"}\n`.
struct LineFormatter {
  let format: LogFormat
  let timestamps: Bool
  private var clockSecond = -1
  private var clockMillisecond = -1
  /// "HH:MM:SS " (local time) or `"time":"…",` for JSON: rendered once per second or
  /// millisecond, not per line.
  private var stamp: [UInt8] = []

  init(format: LogFormat, timestamps: Bool) {
    self.format = format
    self.timestamps = timestamps
  }

  /// The longest a rendered line can be beyond its prefix: for reserving room.
  var worstCaseExpansion: Int { format == .json ? 6 : 1 }

  /// Reads the clock; called once per batch of lines rather than per line.
  mutating func updateClock() {
    updateClock(to: Clock.wall())
  }

  /// The time lines get from now on: the pump gives the ring the same reading (`forge logs`
  /// shows a line with the time stdout showed it with).
  mutating func updateClock(to now: (seconds: Int, milliseconds: Int)) {
    guard timestamps || format == .json else { return }
    switch format {
    case .text:
      if now.seconds != clockSecond {
        clockSecond = now.seconds
        stamp = Array(WallTime.localTimeOfDay(now.seconds).utf8) + [0x20]
      }
    case .json:
      if now.seconds != clockSecond || now.milliseconds != clockMillisecond {
        clockSecond = now.seconds
        clockMillisecond = now.milliseconds
        stamp = Array("{\"time\":\"\(WallTime.rfc3339(now.seconds, now.milliseconds))\",".utf8)
      }
    }
  }

  func append(_ line: UnsafeRawBufferPointer, from source: LogSource, to out: OutputBuffer) {
    switch format {
    case .text where !timestamps:
      out.append(line: line, after: source.prefix)
    case .text:
      out.reserve(source.lead.count + stamp.count + source.tail.count + line.count + 1)
      out.append(source.lead)
      if timestamps { out.append(stamp) }
      out.append(source.tail)
      out.append(line)
      out.append(0x0A)
    case .json:
      out.append(stamp)
      out.append(source.jsonField)
      out.append(Self.lineKey)
      JSONText.appendEscaped(line, to: out)
      out.append(Self.closing)
    }
  }

  func append(message: String, from source: LogSource, to out: OutputBuffer) {
    var text = message
    text.withUTF8 { append(UnsafeRawBufferPointer($0), from: source, to: out) }
  }

  private static let lineKey: [UInt8] = Array("\"line\":\"".utf8)
  private static let closing: [UInt8] = Array("\"}\n".utf8)
}
