/// `forge attach` after its request: both ways, frames of `[kind][length, 2 bytes big-endian]
/// [payload]`, so keystrokes, window sizes and the end of the process can share one stream.
enum AttachFrame: Equatable {
  /// Keystrokes to the process, or its output to the caller.
  case data([UInt8])
  /// The caller's terminal size (rows, columns).
  case windowSize(rows: Int, columns: Int)
  /// The process exited with this status; the connection ends.
  case exit(Int32)
  /// Why the connection ends otherwise ("taken over by pid 42", "forge is stopping").
  case notice(String)

  static let maximumPayload = 65535

  var encoded: [UInt8] {
    let (kind, payload): (UInt8, [UInt8])
    switch self {
    case .data(let bytes): (kind, payload) = (0, bytes)
    case .windowSize(let rows, let columns):
      (kind, payload) = (
        1, [UInt8(rows >> 8 & 0xFF), UInt8(rows & 0xFF), UInt8(columns >> 8 & 0xFF), UInt8(columns & 0xFF)]
      )
    case .exit(let status): (kind, payload) = (2, [UInt8(truncatingIfNeeded: status)])
    case .notice(let text): (kind, payload) = (3, Array(text.utf8.prefix(Self.maximumPayload)))
    }
    var out: [UInt8] = []
    var offset = 0
    repeat {
      let piece = payload[offset..<min(payload.count, offset + Self.maximumPayload)]
      out += [kind, UInt8(piece.count >> 8), UInt8(piece.count & 0xFF)] + piece
      offset += Self.maximumPayload
    } while offset < payload.count
    return out
  }

  /// Takes every whole frame from the front of `buffer`.
  static func decode(_ buffer: inout [UInt8]) -> [AttachFrame] {
    var frames: [AttachFrame] = []
    var offset = 0
    while buffer.count - offset >= 3 {
      let length = Int(buffer[offset + 1]) << 8 | Int(buffer[offset + 2])
      guard buffer.count - offset - 3 >= length else { break }
      let payload = Array(buffer[(offset + 3)..<(offset + 3 + length)])
      switch buffer[offset] {
      case 0: frames.append(.data(payload))
      case 1 where payload.count == 4:
        frames.append(
          .windowSize(
            rows: Int(payload[0]) << 8 | Int(payload[1]), columns: Int(payload[2]) << 8 | Int(payload[3])))
      case 2 where payload.count == 1: frames.append(.exit(Int32(payload[0])))
      case 3: frames.append(.notice(String(decoding: payload, as: UTF8.self)))
      default: break  // unknown kinds are skipped
      }
      offset += 3 + length
    }
    buffer.removeFirst(offset)
    return frames
  }
}
