/// A growable byte buffer with manual storage: appending is a bounds check and a memcpy, and
/// nothing is allocated per line. Pages not yet written are not resident, so a large
/// capacity costs memory only when used.
final class OutputBuffer {
  private(set) var base: UnsafeMutableRawPointer
  private(set) var capacity: Int
  private(set) var count = 0

  init(capacity: Int) {
    self.capacity = capacity
    base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
  }

  deinit { base.deallocate() }

  @inline(__always)
  func reserve(_ extra: Int) {
    if count + extra > capacity { grow(count + extra) }
  }

  private func grow(_ needed: Int) {
    var size = capacity * 2
    while size < needed { size *= 2 }
    let bigger = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    Memory.copy(bigger, base, count)
    base.deallocate()
    base = bigger
    capacity = size
  }

  @inline(__always)
  func append(_ bytes: UnsafeRawBufferPointer) {
    reserve(bytes.count)
    if let source = bytes.baseAddress { Memory.copy(base + count, source, bytes.count) }
    count += bytes.count
  }

  @inline(__always)
  func append(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { append($0) }
  }

  @inline(__always)
  func append(_ byte: UInt8) {
    reserve(1)
    base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
    count += 1
  }

  /// Drops the first `n` bytes (written out).
  func consume(_ n: Int) {
    precondition(n <= count)
    if n == count {
      count = 0
    } else {
      Memory.move(base, base + n, count - n)
      count -= n
    }
  }

  var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}
