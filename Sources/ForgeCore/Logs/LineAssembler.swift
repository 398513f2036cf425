/// Turns the byte stream of one process into lines without copying them: a fixed buffer is
/// read into, and complete lines are handed out as slices of it. Memory per process is bounded
/// by `capacity`; a line longer than `maximumLine` is handed out in pieces of that size.
final class LineAssembler {
  static let maximumLine = 64 * 1024
  /// Room for a partial line of `maximumLine` bytes plus a large read (≥ 64 KiB).
  static let capacity = 256 * 1024

  private var storage: UnsafeMutableRawPointer?
  private var start = 0
  private var end = 0
  /// For pseudo-terminal output: a terminal turns "\n" into "\r\n", which is undone here.
  let stripsCarriageReturn: Bool
  /// Whether the last `nextLine()` was a piece of an over-long line (its rest comes next).
  private(set) var lastWasPiece = false

  init(stripsCarriageReturn: Bool = false) {
    self.stripsCarriageReturn = stripsCarriageReturn
  }

  deinit { storage?.deallocate() }

  /// Bytes received but not yet handed out.
  var bufferedCount: Int { end - start }

  /// Free space to read into; always at least `capacity - maximumLine - 1` bytes, because a
  /// buffered partial line never exceeds `maximumLine` (plus a CR awaiting its LF) once lines
  /// have been taken.
  func writableSpace() -> UnsafeMutableRawBufferPointer {
    let base = storage ?? allocate()
    if start > 0 {
      Memory.move(base, base + start, end - start)
      end -= start
      start = 0
    }
    return UnsafeMutableRawBufferPointer(start: base + end, count: Self.capacity - end)
  }

  private func allocate() -> UnsafeMutableRawPointer {
    let base = UnsafeMutableRawPointer.allocate(byteCount: Self.capacity, alignment: 64)
    storage = base
    return base
  }

  /// Records that `count` bytes were written into the space from `writableSpace()`.
  func commit(_ count: Int) {
    precondition(count >= 0 && end + count <= Self.capacity)
    end += count
  }

  /// The next complete line without its "\n" (valid until the next call), or a piece of
  /// `maximumLine` bytes of a longer one; nil when no whole line is buffered.
  func nextLine() -> UnsafeRawBufferPointer? {
    guard let base = storage, end > start else { return nil }
    let available = end - start
    let line = base + start
    // A terminal's CR before the LF is not part of the line: a line of `maximumLine` bytes
    // ending in CRLF is still one line, so the search (and the wait for the LF) reaches one further.
    let terminator = stripsCarriageReturn ? 2 : 1
    if let newline = Memory.find(0x0A, in: line, count: min(available, Self.maximumLine + terminator)) {
      var length = newline
      if stripsCarriageReturn && length > 0 && line.load(fromByteOffset: length - 1, as: UInt8.self) == 0x0D {
        length -= 1
      }
      if length <= Self.maximumLine {
        start += newline + 1
        lastWasPiece = false
        return UnsafeRawBufferPointer(start: line, count: length)
      }
    }
    let awaitsLF =
      stripsCarriageReturn && available == Self.maximumLine + 1
      && line.load(fromByteOffset: Self.maximumLine, as: UInt8.self) == 0x0D
    guard available > Self.maximumLine, !awaitsLF else { return nil }
    lastWasPiece = true
    start += Self.maximumLine
    return UnsafeRawBufferPointer(start: line, count: Self.maximumLine)
  }

  /// The bytes received and not yet handed out, for the log path's bulk step; `advance`
  /// then takes the whole lines it used.
  var unread: UnsafeRawBufferPointer {
    guard let base = storage else { return UnsafeRawBufferPointer(start: nil, count: 0) }
    return UnsafeRawBufferPointer(start: base + start, count: end - start)
  }

  func advance(by count: Int) {
    precondition(count >= 0 && start + count <= end)
    start += count
    lastWasPiece = false
  }

  /// At end of input: whatever is left, as a final line without "\n".
  func takeRemainder() -> UnsafeRawBufferPointer? {
    guard let base = storage, end > start else { return nil }
    let rest = UnsafeRawBufferPointer(start: base + start, count: end - start)
    start = end
    return rest
  }

  /// The partial line waiting for its end (a prompt), without taking it.
  func peekRemainder() -> [UInt8] {
    guard let base = storage, end > start else { return [] }
    return Array(UnsafeRawBufferPointer(start: base + start, count: end - start))
  }

  /// Copies `bytes` in (for tests and fuzzing); returns how many fitted.
  @discardableResult
  func feed(_ bytes: some Collection<UInt8>) -> Int {
    let space = writableSpace()
    let count = min(space.count, bytes.count)
    _ = space.initializeMemory(as: UInt8.self, from: bytes.prefix(count))
    commit(count)
    return count
  }
}

/// Consecutive whole lines still in an assembler's buffer, each followed there by its "\n":
/// recorded in the ring with one copy. Valid until the assembler is read into again.
struct LineRun {
  /// A run is recorded at this size, so the ring's storage stays near its bound.
  static let limit = 16 * 1024
  private var start: UnsafeRawPointer?
  private var end: UnsafeRawPointer?
  private(set) var lines = 0
  /// How many bytes the output buffer held before the run's first line was rendered into it:
  /// the run's rendered form is what it holds from there (nothing is written out mid-run).
  private(set) var renderedFrom = 0

  var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: start, count: lines == 0 ? 0 : end! - start!) }

  /// Takes `line` if it is whole, ends in "\n" in the buffer and continues the run; false if
  /// the run must be recorded first (or the line cannot be part of one).
  @inline(__always)
  mutating func extend(with line: UnsafeRawBufferPointer, whole: Bool, renderedFrom pending: Int) -> Bool {
    guard whole, let base = line.baseAddress, base.load(fromByteOffset: line.count, as: UInt8.self) == 0x0A else {
      return false
    }
    if lines == 0 {
      start = base
      renderedFrom = pending
    } else if base != end || base + line.count + 1 - start! > Self.limit {
      return false
    }
    end = base + line.count + 1
    lines += 1
    return true
  }
}
