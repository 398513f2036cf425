/// The recent lines of one instance, for `forge logs`: at most `maximumLines` lines and
/// `maximumBytes` bytes, the oldest dropped first. Bytes live in one ring of manual storage
/// that grows as needed up to the bound, so a line costs a copy, not an allocation.
final class LineRing {
  struct Record {
    /// Arrival order across every ring (merged output sorts by it).
    let sequence: UInt64
    /// Wall-clock milliseconds since the epoch when it arrived.
    let millis: Int64
    /// One of forge's own lines about the instance ("started with pid 42"), not its output.
    let byForge: Bool
    fileprivate let start: Int
    fileprivate let length: Int
  }

  let maximumLines: Int
  let maximumBytes: Int
  private var storage: UnsafeMutableRawPointer?
  private var capacity = 0
  /// Absolute byte positions: where the oldest kept line starts and where the next goes.
  private var firstByte = 0
  private var nextByte = 0
  /// A ring of line records: `kept` of them from `head` on (modulo `maximumLines`).
  private var slots: [Record] = []
  private var head = 0
  private var kept = 0

  init(maximumLines: Int, maximumBytes: Int) {
    self.maximumLines = max(1, maximumLines)
    self.maximumBytes = max(4096, maximumBytes)
  }

  deinit { storage?.deallocate() }

  var count: Int { kept }

  func append(_ line: UnsafeRawBufferPointer, sequence: UInt64, millis: Int64, byForge: Bool = false) {
    let length = min(line.count, maximumBytes)
    while kept >= maximumLines || (kept > 0 && nextByte + length - firstByte > maximumBytes) {
      dropOldest()
    }
    if nextByte + length - firstByte > capacity { grow(to: nextByte + length - firstByte) }
    if let source = line.baseAddress, let base = storage, length > 0 {
      let offset = nextByte % capacity
      let first = min(length, capacity - offset)
      Memory.copy(base + offset, source, first)
      if first < length { Memory.copy(base, source + first, length - first) }
    }
    let record = Record(sequence: sequence, millis: millis, byForge: byForge, start: nextByte, length: length)
    var index = head + kept
    if index >= maximumLines { index -= maximumLines }  // no division per line
    if index == slots.count {
      slots.append(record)
    } else {
      slots.withUnsafeMutableBufferPointer { $0[index] = record }
    }
    kept += 1
    nextByte += length
  }

  private func dropOldest() {
    guard kept > 0 else { return }
    head = head + 1 == maximumLines ? 0 : head + 1
    kept -= 1
    firstByte = kept == 0 ? nextByte : slots[head].start
  }

  private func grow(to needed: Int) {
    var size = max(capacity * 2, 16 * 1024)
    while size < needed { size *= 2 }
    size = min(max(size, needed), maximumBytes)
    let bigger = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
    if let base = storage {
      // Re-lay the kept bytes at their absolute positions modulo the new size.
      var position = firstByte
      while position < nextByte {
        let from = position % capacity
        let to = position % size
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
    guard let base = storage else {
      for record in ordered() { body(record, UnsafeRawBufferPointer(start: nil, count: 0)) }
      return
    }
    var scratch: [UInt8] = []
    for record in ordered() {
      let offset = record.start % capacity
      if offset + record.length <= capacity {
        body(record, UnsafeRawBufferPointer(start: base + offset, count: record.length))
      } else {
        let first = capacity - offset
        scratch = Array(UnsafeRawBufferPointer(start: base + offset, count: first))
        scratch += UnsafeRawBufferPointer(start: base, count: record.length - first)
        scratch.withUnsafeBytes { body(record, $0) }
      }
    }
  }

  private func ordered() -> [Record] {
    (0..<kept).map { slots[(head + $0) % maximumLines] }
  }
}
