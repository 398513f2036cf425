import Glibc

/// What `forge logs` and `forge events` print: the stream as it comes, but only whole lines.
/// forge may stop while this client is behind, and what it had handed over then ends
/// mid-line; that piece is never printed: a line that says the rest was lost takes its place.
/// A stdout that fails ends the client: a closed pipe (`forge logs -f | head`) the way it
/// ends `cat`, by SIGPIPE; any other error with a message and status 1.
final class StreamOutput {
  /// The start of a line whose end has not come yet.
  private var partial: [UInt8] = []
  /// Lines are at most a 64 KiB piece, escaped, behind a prefix; past this a "line" is
  /// passed on as it is rather than held.
  private static let longestHeld = 1 << 20
  private(set) var failure: SystemError?

  /// Prints the whole lines of `bytes` (after what was held); false once stdout failed.
  func print(_ bytes: UnsafeRawBufferPointer) -> Bool {
    guard failure == nil, let base = bytes.baseAddress, bytes.count > 0 else { return failure == nil }
    guard let lastNewline = bytes.lastIndex(of: 0x0A) else {
      partial.append(contentsOf: bytes)
      if partial.count > Self.longestHeld { return flushPartial() }
      return true
    }
    if !flushPartial() { return false }
    let whole = lastNewline + 1
    if !write(UnsafeRawBufferPointer(start: base, count: whole)) { return false }
    partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[whole...]))
    return true
  }

  /// The stream has ended: a line it cut is replaced by `cutNotice`, a line of the stream's
  /// own format, which it is told (whether the cut line was a JSON object).
  func finish(cutNotice: (_ json: Bool) -> String) {
    guard failure == nil, let first = partial.first else { return }
    partial = []
    _ = Array(cutNotice(first == UInt8(ascii: "{")).utf8).withUnsafeBytes { write($0) }
  }

  private func flushPartial() -> Bool {
    guard !partial.isEmpty else { return true }
    defer { partial = [] }
    return partial.withUnsafeBytes { write($0) }
  }

  private func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
    let code = writeAll(1, buffer: bytes)
    if code == 0 { return true }
    if code == EPIPE { Signal.dieOfBrokenPipe() }
    failure = SystemError(operation: "write to stdout", errno: code)
    return false
  }
}
