/// The recent lines of one instance, for `forge logs`: the newest lines, at most
/// `maximumLines` of them and `maximumBytes` bytes (newlines not counted).
///
/// Lines are kept in runs: the consecutive lines one read brought are copied in with one
/// `memcpy`, each followed by its "\n", under one record (the sequence number of its first
/// line, the time it arrived). So the log path pays a copy per read, not per line; lines are
/// told apart again only when someone reads the ring. A run is dropped once the newer runs
/// alone hold the bound, so storage stays within the bound plus one run, and reading picks
/// exactly the newest lines that fit.
final class LineRing {
  struct Record {
    /// Arrival order across every ring (merged output sorts by it).
    let sequence: UInt64
    /// Wall-clock milliseconds since the epoch when it arrived.
    let millis: Int64
    /// One of forge's own lines about the instance ("started with pid 42"), not its output.
    let byForge: Bool
  }

  private struct Run {
    let firstSequence: UInt64
    let millis: Int64
    let byForge: Bool
    /// Absolute byte position of its first line, and its size with the newlines.
    let start: Int
    let bytes: Int
    let lines: Int
  }

  let maximumLines: Int
  let maximumBytes: Int
  private var storage: UnsafeMutableRawPointer?
  /// A power of two: positions wrap with a mask.
  private var capacity = 0
  /// Absolute byte positions: where the oldest kept run starts and where the next goes.
  private var firstByte = 0
  private var nextByte = 0
  /// The kept runs are `runs[firstRun...]`; the array is compacted now and then.
  private var runs: [Run] = []
  private var firstRun = 0
  private var keptLines = 0
  private var keptTextBytes = 0

  /// The bytes allocated for the kept runs (for tests: storage must stay near the bound).
  var storageBytes: Int { capacity }

  init(maximumLines: Int, maximumBytes: Int) {
    self.maximumLines = max(1, maximumLines)
    self.maximumBytes = max(4096, maximumBytes)
  }

  deinit { storage?.deallocate() }

  /// One line (forge's own, or one that was redacted, a piece of a long line…).
  func append(_ line: UnsafeRawBufferPointer, sequence: UInt64, millis: Int64, byForge: Bool = false) {
    let length = min(line.count, maximumBytes)
    add(Run(firstSequence: sequence, millis: millis, byForge: byForge, start: nextByte, bytes: length + 1, lines: 1))
    copyIn(UnsafeRawBufferPointer(rebasing: line[0..<length]))
    var newline: UInt8 = 0x0A
    withUnsafeBytes(of: &newline) { copyIn($0) }
  }

  /// `lines` consecutive lines, each ending in "\n", numbered from `firstSequence`.
  func append(run bytes: UnsafeRawBufferPointer, lines: Int, firstSequence: UInt64, millis: Int64) {
    add(
      Run(
        firstSequence: firstSequence, millis: millis, byForge: false, start: nextByte, bytes: bytes.count, lines: lines)
    )
    copyIn(bytes)
  }

  /// Counts the run in, drops the runs the bound no longer needs, and makes room for its bytes.
  private func add(_ run: Run) {
    runs.append(run)
    keptLines += run.lines
    keptTextBytes += run.bytes - run.lines
    while runs.count - firstRun > 1 {
      let oldest = runs[firstRun]
      let newerLines = keptLines - oldest.lines
      let newerTextBytes = keptTextBytes - (oldest.bytes - oldest.lines)
      guard newerLines >= maximumLines || newerTextBytes > maximumBytes else { break }
      keptLines = newerLines
      keptTextBytes = newerTextBytes
      firstRun += 1
      firstByte = runs[firstRun].start
    }
    if firstRun >= 64 && firstRun * 2 >= runs.count {
      runs.removeFirst(firstRun)
      firstRun = 0
    }
    let needed = nextByte + run.bytes - firstByte
    if needed > capacity { grow(to: needed) }
  }

  private func copyIn(_ bytes: UnsafeRawBufferPointer) {
    guard let source = bytes.baseAddress, let base = storage, bytes.count > 0 else { return }
    let offset = nextByte & (capacity - 1)
    let first = min(bytes.count, capacity - offset)
    Memory.copy(base + offset, source, first)
    if first < bytes.count { Memory.copy(base, source + first, bytes.count - first) }
    nextByte += bytes.count
  }

  private func grow(to needed: Int) {
    var size = max(capacity * 2, 16 * 1024)
    while size < needed { size *= 2 }
    let bigger = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
    if let base = storage {
      // Re-lay the kept bytes at their absolute positions modulo the new size.
      var position = firstByte
      while position < nextByte {
        let from = position & (capacity - 1)
        let to = position & (size - 1)
        let run = min(nextByte - position, capacity - from, size - to)
        Memory.copy(bigger + to, base + from, run)
        position += run
      }
      base.deallocate()
    }
    storage = bigger
    capacity = size
  }

  /// The kept lines, oldest first, each as contiguous bytes (valid during the call).
  func visit(_ body: (Record, UnsafeRawBufferPointer) -> Void) {
    var lines: [(record: Record, bytes: ArraySlice<UInt8>)] = []
    for run in runs[firstRun...] {
      let bytes = contiguous(start: run.start, count: run.bytes)
      var from = 0
      for index in 0..<run.lines {
        let end = bytes[from...].firstIndex(of: 0x0A) ?? bytes.count
        let record = Record(sequence: run.firstSequence &+ UInt64(index), millis: run.millis, byForge: run.byForge)
        lines.append((record, bytes[from..<end]))
        from = min(end + 1, bytes.count)
      }
    }
    // The newest lines within both bounds (the newest one always).
    var first = lines.count
    var textBytes = 0
    while first > 0 && lines.count - first < maximumLines {
      let size = lines[first - 1].bytes.count
      if first < lines.count && textBytes + size > maximumBytes { break }
      textBytes += size
      first -= 1
    }
    for (record, bytes) in lines[first...] {
      bytes.withUnsafeBytes { body(record, $0) }
    }
  }

  private func contiguous(start: Int, count: Int) -> [UInt8] {
    guard let base = storage, count > 0 else { return [] }
    let offset = start & (capacity - 1)
    let first = min(count, capacity - offset)
    var bytes = Array(UnsafeRawBufferPointer(start: base + offset, count: first))
    if first < count { bytes += UnsafeRawBufferPointer(start: base, count: count - first) }
    return bytes
  }
}
