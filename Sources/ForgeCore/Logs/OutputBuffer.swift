/// A growable byte buffer with manual storage: appending is a bounds check and a memcpy, and
/// nothing is allocated per line. Pages not yet written are not resident, so a large
/// capacity costs memory only when used. Written-out bytes are dropped by moving a head
/// offset, not the rest of the buffer: with stdout a 64 KiB pipe, a memmove after each
/// partial write would copy the buffer over and over.
final class OutputBuffer {
  private var base: UnsafeMutableRawPointer
  private(set) var capacity: Int
  /// Where the unwritten bytes start, and how many there are.
  private var head = 0
  private(set) var count = 0

  init(capacity: Int) {
    self.capacity = capacity
    base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
  }

  deinit { base.deallocate() }

  /// The end of the unwritten bytes, where appends go.
  private var tail: Int { head + count }

  @inline(__always)
  func reserve(_ extra: Int) {
    if tail + extra > capacity { makeRoom(count + extra) }
  }

  /// Moves the unwritten bytes to the front (once per wrap, not per write), growing only when
  /// they do not fit even there.
  private func makeRoom(_ needed: Int) {
    if needed <= capacity {
      Memory.move(base, base + head, count)
      head = 0
      return
    }
    var size = capacity * 2
    while size < needed { size *= 2 }
    let bigger = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    Memory.copy(bigger, base + head, count)
    base.deallocate()
    base = bigger
    capacity = size
    head = 0
  }

  @inline(__always)
  func append(_ bytes: UnsafeRawBufferPointer) {
    reserve(bytes.count)
    if let source = bytes.baseAddress { Memory.copy(base + tail, source, bytes.count) }
    count += bytes.count
  }

  @inline(__always)
  func append(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { append($0) }
  }

  @inline(__always)
  func append(_ byte: UInt8) {
    reserve(1)
    base.storeBytes(of: byte, toByteOffset: tail, as: UInt8.self)
    count += 1
  }

  /// `prefix`, `line` and "\n", with one bounds check.
  @inline(__always)
  func append(line: UnsafeRawBufferPointer, after prefix: [UInt8]) {
    reserve(prefix.count + line.count + 1)
    var at = base + tail
    prefix.withUnsafeBytes { if let bytes = $0.baseAddress { Memory.copy(at, bytes, $0.count) } }
    at += prefix.count
    if let source = line.baseAddress { Memory.copy(at, source, line.count) }
    at.storeBytes(of: 0x0A, toByteOffset: line.count, as: UInt8.self)
    count += prefix.count + line.count + 1
  }

  /// Renders whole lines of `bytes` (each ending in "\n", of at most `longest` bytes) as
  /// `prefix`, line and "\n", until the buffer would pass `limit` bytes, at least `budget`
  /// bytes of input are taken, or no whole line is left: the log path's bulk step, one tight
  /// loop for a read's worth of lines. A prefix of up to 32 bytes is copied as a fixed-size
  /// block (two vector moves, no call). Returns the input bytes and the lines taken.
  func appendLines(
    _ bytes: UnsafeRawBufferPointer, prefix: [UInt8], longest: Int, limit: Int, budget: Int
  ) -> (taken: Int, lines: Int) {
    guard let source = bytes.baseAddress, prefix.count <= 32 else { return (0, 0) }
    return withUnsafeTemporaryAllocation(byteCount: 32, alignment: 16) { padded in
      let lead = padded.baseAddress!
      lead.initializeMemory(as: UInt8.self, repeating: 0, count: 32)
      prefix.withUnsafeBytes { if let from = $0.baseAddress { Memory.copy(lead, from, $0.count) } }
      let leadCount = prefix.count
      var taken = 0
      var lines = 0
      while taken < budget {
        guard let length = Memory.find(0x0A, in: source + taken, count: min(bytes.count - taken, longest + 1)) else {
          break
        }
        let size = leadCount + length + 1
        guard count + size <= limit else { break }
        reserve(size + 32)
        let at = base + tail
        at.copyMemory(from: lead, byteCount: 32)
        Memory.copy(at + leadCount, source + taken, length)
        at.storeBytes(of: 0x0A, toByteOffset: leadCount + length, as: UInt8.self)
        count += size
        taken += length + 1
        lines += 1
      }
      return (taken, lines)
    }
  }

  /// Drops the first `n` bytes (written out).
  func consume(_ n: Int) {
    precondition(n <= count)
    count -= n
    head = count == 0 ? 0 : head + n
  }

  var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base + head, count: count) }
}
